package capture

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// resp builds a DNS response from answers, with ResolvedIPs filled in as
// the decoder would.
func resp(question string, answers ...Answer) *DNS {
	d := &DNS{Question: question, QType: "A", RCode: "NOERROR", Answers: answers}
	for _, a := range answers {
		if (a.Type == "A" || a.Type == "AAAA") && a.Class == "IN" {
			d.ResolvedIPs = append(d.ResolvedIPs, ip(a.Data))
		}
	}
	return d
}

func a(name, addr string, ttl uint32) Answer {
	typ := "A"
	if ip(addr).Is6() {
		typ = "AAAA"
	}
	return Answer{Name: name, Type: typ, Class: "IN", Data: addr, TTL: ttl}
}

func cname(name, target string, ttl uint32) Answer {
	return Answer{Name: name, Type: "CNAME", Class: "IN", Data: target, TTL: ttl}
}

func wantLookup(t *testing.T, c *Cache, addr string, now time.Time, wantName string, wantOK bool) {
	t.Helper()
	name, ok := c.Lookup(ip(addr), now)
	if name != wantName || ok != wantOK {
		t.Errorf("Lookup(%s, t0+%v) = %q, %v; want %q, %v", addr, now.Sub(t0), name, ok, wantName, wantOK)
	}
}

func TestCacheTTL(t *testing.T) {
	c := NewCache(100, time.Minute, time.Hour)
	c.Add(resp("a.example", a("a.example", "192.0.2.1", 300)), t0)
	c.Add(resp("zero.example", a("zero.example", "192.0.2.2", 0)), t0)
	c.Add(resp("week.example", a("week.example", "192.0.2.3", 7*86400)), t0)
	wantLookup(t, c, "192.0.2.1", t0.Add(299*time.Second), "a.example", true)
	wantLookup(t, c, "192.0.2.1", t0.Add(300*time.Second), "", false) // expires at t0+TTL
	wantLookup(t, c, "192.0.2.2", t0.Add(59*time.Second), "zero.example", true)
	wantLookup(t, c, "192.0.2.2", t0.Add(60*time.Second), "", false) // MinTTL
	wantLookup(t, c, "192.0.2.3", t0.Add(time.Hour-time.Nanosecond), "week.example", true)
	wantLookup(t, c, "192.0.2.3", t0.Add(time.Hour), "", false) // MaxTTL
	// Expired entries were dropped by Lookup.
	if s := c.Stats(); s.Entries != 0 || s.Expired != 3 || s.Hits != 3 || s.Misses != 3 || s.Added != 3 {
		t.Errorf("stats %+v", s)
	}
}

func TestCacheClampArguments(t *testing.T) {
	c := NewCache(0, 2*time.Hour, time.Hour) // min above max: lowered to max
	c.Add(resp("x.example", a("x.example", "192.0.2.9", 1)), t0)
	wantLookup(t, c, "192.0.2.9", t0.Add(time.Hour-1), "x.example", true)
	wantLookup(t, c, "192.0.2.9", t0.Add(time.Hour), "", false)
	if len(c.ents)-1 != DefaultCacheSize {
		t.Errorf("size %d, want the default %d", len(c.ents)-1, DefaultCacheSize)
	}
	u := NewCache(1, -time.Second, 0) // no max: the TTL alone
	u.Add(resp("y.example", a("y.example", "192.0.2.8", 30*86400)), t0)
	wantLookup(t, u, "192.0.2.8", t0.Add(30*24*time.Hour-1), "y.example", true)
}

func TestCacheCNAMEChain(t *testing.T) {
	c := NewCache(100, 0, 0)
	// The question's case differs from the records' (0x20): the decoder
	// lower-cases both, here the cache compares without case anyway.
	d := resp("www.example.com",
		cname("www.example.com", "www.example.com.cdn.net", 3600),
		cname("www.example.com.cdn.net", "edge7.cdn.net", 300),
		a("edge7.cdn.net", "93.184.216.34", 20),
		a("edge7.cdn.net", "2606:2800:220:1::34", 600),
	)
	c.Add(d, t0)
	wantLookup(t, c, "93.184.216.34", t0.Add(19*time.Second), "www.example.com", true)
	wantLookup(t, c, "93.184.216.34", t0.Add(20*time.Second), "", false)
	// The chain lives its shortest TTL: the AAAA's 600 s is cut to the
	// second CNAME's 300 s.
	wantLookup(t, c, "2606:2800:220:1::34", t0.Add(299*time.Second), "www.example.com", true)
	wantLookup(t, c, "2606:2800:220:1::34", t0.Add(300*time.Second), "", false)
	if s := c.Stats(); s.Unchained != 0 {
		t.Errorf("unchained %d", s.Unchained)
	}
}

func TestCacheUnchainedAndLoops(t *testing.T) {
	c := NewCache(100, 0, 0)
	c.Add(resp("asked.example",
		cname("asked.example", "b.example", 60),
		a("other.example", "192.0.2.20", 60), // not on the question's chain
		cname("loop1.example", "loop2.example", 60),
		cname("loop2.example", "loop1.example", 60),
		a("loop1.example", "192.0.2.21", 60), // on a CNAME loop: must terminate
	), t0)
	wantLookup(t, c, "192.0.2.20", t0, "other.example", true)
	name, ok := c.Lookup(ip("192.0.2.21"), t0)
	if !ok || (name != "loop1.example" && name != "loop2.example") {
		t.Errorf("loop: %q, %v", name, ok)
	}
	if s := c.Stats(); s.Unchained != 2 {
		t.Errorf("unchained %d, want 2", s.Unchained)
	}
	// No A/AAAA answers: nothing cached. Class CH: ignored.
	c.Add(resp("nx.example"), t0)
	c.Add(&DNS{Question: "ch.example", Answers: []Answer{{Name: "ch.example", Type: "A", Class: "CH", Data: "192.0.2.22", TTL: 60}},
		ResolvedIPs: []netip.Addr{ip("192.0.2.99")}}, t0)
	wantLookup(t, c, "192.0.2.22", t0, "", false)
	c.Add(nil, t0)
}

func TestCacheLRU(t *testing.T) {
	c := NewCache(3, 0, 0)
	for i := 1; i <= 3; i++ {
		c.Add(resp(fmt.Sprintf("h%d.example", i), a(fmt.Sprintf("h%d.example", i), fmt.Sprintf("192.0.2.%d", i), 600)), t0)
	}
	wantLookup(t, c, "192.0.2.1", t0, "h1.example", true) // 1 is now the most recent; 2 the least
	c.Add(resp("h4.example", a("h4.example", "192.0.2.4", 600)), t0)
	wantLookup(t, c, "192.0.2.2", t0, "", false)
	for _, i := range []int{1, 3, 4} {
		wantLookup(t, c, fmt.Sprintf("192.0.2.%d", i), t0, fmt.Sprintf("h%d.example", i), true)
	}
	if s := c.Stats(); s.Entries != 3 || s.Evicted != 1 {
		t.Errorf("stats %+v", s)
	}
	// A refreshed address takes the new name and expiry, no new slot.
	c.Add(resp("new.example", a("new.example", "192.0.2.3", 10)), t0.Add(time.Minute))
	wantLookup(t, c, "192.0.2.3", t0.Add(time.Minute+9*time.Second), "new.example", true)
	wantLookup(t, c, "192.0.2.3", t0.Add(time.Minute+10*time.Second), "", false) // expired: slot freed
	// The freed slot is used before anything live is evicted.
	c.Add(resp("h5.example", a("h5.example", "192.0.2.5", 600)), t0.Add(time.Minute))
	if s := c.Stats(); s.Entries != 3 || s.Evicted != 1 {
		t.Errorf("after reuse: stats %+v", s)
	}
	for _, i := range []int{1, 4, 5} {
		wantLookup(t, c, fmt.Sprintf("192.0.2.%d", i), t0.Add(time.Minute), fmt.Sprintf("h%d.example", i), true)
	}
}

func TestCacheMappedAddresses(t *testing.T) {
	c := NewCache(10, 0, 0)
	c.Add(resp("v4.example", a("v4.example", "192.0.2.7", 60)), t0)
	wantLookup(t, c, "::ffff:192.0.2.7", t0, "v4.example", true)
}

// Lookups and adds from several goroutines (run with -race).
func TestCacheConcurrent(t *testing.T) {
	c := NewCache(64, 0, 0)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				addr := fmt.Sprintf("10.%d.%d.%d", g, i/256, i%256)
				c.Add(resp("c.example", a("c.example", addr, 60)), t0)
				c.Lookup(ip(addr), t0)
			}
		}()
	}
	wg.Wait()
	s := c.Stats()
	if s.Entries != 64 || s.Added != 8000 || s.Evicted != 8000-64 {
		t.Errorf("stats %+v", s)
	}
	// The LRU list and the index agree: walking the list finds every
	// indexed entry exactly once.
	seen := 0
	for i := c.ents[0].next; i != 0; i = c.ents[i].next {
		if j, ok := c.index[c.ents[i].addr]; !ok || j != i {
			t.Fatalf("list entry %d (%v) not indexed", i, c.ents[i].addr)
		}
		seen++
	}
	if seen != len(c.index) {
		t.Errorf("list holds %d entries, index %d", seen, len(c.index))
	}
}
