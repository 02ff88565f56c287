package eql

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// cidrReference is cidrSet.contains as a test of each block in turn, in
// Lucene's form (IPv4 as IPv4-mapped IPv6): the definition the ranges
// must agree with.
func cidrReference(blocks []string, s string) bool {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	a = netip.AddrFrom16(a.WithZone("").As16())
	for _, b := range blocks {
		p, err := netip.ParsePrefix(b)
		if err != nil {
			x := netip.MustParseAddr(b)
			p = netip.PrefixFrom(x, x.BitLen())
		}
		bits := p.Bits()
		if p.Addr().Is4() {
			bits += 96
		}
		if netip.PrefixFrom(netip.AddrFrom16(p.Addr().WithZone("").As16()), bits).Masked().Contains(a) {
			return true
		}
	}
	return false
}

// elasticBlocks is the longest cidrmatch list of Elastic's macOS rules
// (GenAI Process Performing Encoding/Chunking Prior to Network Activity).
var elasticBlocks = []string{"10.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24", "192.0.0.0/29",
	"192.0.0.8/32", "192.0.0.9/32", "192.0.0.10/32", "192.0.0.170/32", "192.0.0.171/32", "192.0.2.0/24",
	"192.31.196.0/24", "192.52.193.0/24", "192.168.0.0/16", "192.88.99.0/24", "224.0.0.0/4", "100.64.0.0/10",
	"192.175.48.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "::1", "FE80::/10",
	"FF00::/8"}

// TestCIDRRanges compares the merged ranges with a test of each block on
// the blocks of Elastic's rules, on blocks at the edges of the address
// space and on random blocks, for addresses at and around every block's
// first and last address and random ones.
func TestCIDRRanges(t *testing.T) {
	elastic := elasticBlocks
	sets := [][]string{
		elastic,
		{"0.0.0.0/0"}, {"::/0"}, {"::/1", "8000::/1"}, {"255.255.255.255/32", "::"},
		{"::ffff:0:0/96"}, {"10.0.0.0/9", "10.128.0.0/9"}, {"10.0.0.0/8", "10.1.2.3"},
		{"2001:db8::/32", "2001:db8::/64", "2001:db9::/32"}, {"1.2.3.4/31", "1.2.3.6/31"},
		{"0.0.0.0/32"}, {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}, {"::/64", "0:0:0:1::/64"},
	}
	rng := rand.New(rand.NewPCG(3, 5))
	randAddr := func() netip.Addr {
		if rng.IntN(2) == 0 {
			return netip.AddrFrom4([4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())})
		}
		var b [16]byte
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if rng.IntN(4) == 0 {
			copy(b[:12], []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff})
		}
		return netip.AddrFrom16(b)
	}
	for range 300 {
		var set []string
		for range 1 + rng.IntN(12) {
			a := randAddr()
			set = append(set, netip.PrefixFrom(a, rng.IntN(a.BitLen()+1)).Masked().String())
		}
		sets = append(sets, set)
	}
	checked := 0
	for _, blocks := range sets {
		vals := make([]ecs.Value, len(blocks))
		for i, b := range blocks {
			vals[i] = ecs.String(b)
		}
		set, msg := parseCIDRs(vals)
		if msg != "" {
			t.Fatalf("%v: %s", blocks, msg)
		}
		var probes []string
		for _, r := range set {
			for _, x := range []u128{r.lo, r.hi, r.lo.prev(), r.hi.next()} {
				var b [16]byte
				for i := range 8 {
					b[i] = byte(x.hi >> (56 - 8*i))
					b[8+i] = byte(x.lo >> (56 - 8*i))
				}
				a := netip.AddrFrom16(b)
				probes = append(probes, a.String(), a.Unmap().String())
			}
		}
		for range 200 {
			probes = append(probes, randAddr().String())
		}
		probes = append(probes, "", "not an ip", "fe80::1%en0", "10.0.0.1%x", "::ffff:10.0.0.1", "010.0.0.1")
		for _, s := range probes {
			if got, want := set.contains(s), cidrReference(blocks, s); got != want {
				t.Fatalf("cidrMatch(%q, %q): ranges %v, blocks %v (ranges %v)", s, blocks, got, want, set)
			}
			checked++
		}
	}
	if checked < 50000 {
		t.Fatalf("only %d comparisons", checked)
	}
	// The rule's 26 blocks make 19 ranges: 192.0.0.0/24 holds the /29
	// and the five /32s after it, and 224.0.0.0/4 ends where 240.0.0.0/4
	// starts.
	vals := make([]ecs.Value, len(elastic))
	for i, b := range elastic {
		vals[i] = ecs.String(b)
	}
	if set, _ := parseCIDRs(vals); len(set) != 19 {
		t.Errorf("Elastic's 26 blocks: %d ranges, want 19: %v", len(set), set)
	}
}

func (a u128) next() u128 {
	if a.lo < ^uint64(0) {
		return u128{a.hi, a.lo + 1}
	}
	if a.hi < ^uint64(0) {
		return u128{a.hi + 1, 0}
	}
	return a
}

func BenchmarkCIDRMatch26(b *testing.B) {
	blocks := elasticBlocks
	vals := make([]ecs.Value, len(blocks))
	for i, s := range blocks {
		vals[i] = ecs.String(s)
	}
	set, _ := parseCIDRs(vals)
	b.ReportAllocs()
	for b.Loop() {
		set.contains("17.253.144.10")
	}
}
