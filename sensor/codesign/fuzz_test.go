package codesign

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/macsensor/macsensor/sensor/codesign/fixture"
)

// The fuzz targets read hostile bytes the way the root daemon would: no
// panic, allocations bounded by the input, time linear in it. Seed corpora
// are in testdata/fuzz/<target>/ (cut from the real fixtures by
// TestWriteFuzzSeeds) plus the synthetic ones added here.

func FuzzSuperBlob(f *testing.F) {
	good := synth{codeLen: 5000, ident: "x", flags: FlagAdhoc}.build()
	f.Add(good[5000:])
	f.Fuzz(func(t *testing.T, b []byte) {
		sb, err := parseSuperBlob(b)
		if err != nil {
			return
		}
		var cds []*codeDirectory
		for _, raw := range sb.CDs {
			cd, err := parseCodeDirectory(raw)
			if err != nil {
				return
			}
			cds = append(cds, cd)
		}
		cd := bestCD(cds)
		_ = checkSpecialSlots(cd, sb)
		for i := range cd.NCode {
			_ = cd.codeSlot(i)
		}
		_ = cd.cdHash()
	})
}

func FuzzCodeDirectory(f *testing.F) {
	good := synth{codeLen: 5000, ident: "x", team: "T", flags: FlagAdhoc}.build()
	_, sb, _ := sigOfBytes(good)
	f.Add(sb.CDs[0])
	f.Fuzz(func(t *testing.T, b []byte) {
		cd, err := parseCodeDirectory(b)
		if err != nil {
			return
		}
		for i := uint32(1); i <= cd.NSpecial; i++ {
			_ = cd.specialSlot(i)
		}
		for i := range cd.NCode {
			_ = cd.codeSlot(i)
		}
	})
}

func FuzzCMS(f *testing.F) {
	f.Add([]byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0, 0})
	roots, _ := appleRoots()
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseCMS(b)
		if err != nil {
			return
		}
		_ = c.verifySignature(b[:min(len(b), 64)])
		_ = c.verifyCDHashes(nil)
		_, _, _, _ = verifyChain(c, roots, testNow, false)
	})
}

func FuzzBER(f *testing.F) {
	f.Add([]byte{0x30, 0x80, 0x04, 0x01, 0x41, 0, 0})
	f.Add([]byte{0x24, 0x80, 0x04, 0x01, 0x41, 0x04, 0x01, 0x42, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := berToDER(b)
		if err == nil && len(out) > 2*len(b)+16 {
			t.Fatalf("%d bytes of DER from %d of BER", len(out), len(b))
		}
	})
}

func FuzzVerify(f *testing.F) {
	f.Add(synth{codeLen: 5000, ident: "x", flags: FlagAdhoc}.build())
	f.Add(synth{codeLen: 3000, ident: "y", flags: FlagAdhoc, fat: true}.build())
	// A CMS-signed one, so that mutations reach the CMS and chain code.
	pki := newPKI(f, "TEAM123456", true)
	f.Add(synth{codeLen: 3000, ident: "z", team: "TEAM123456", flags: FlagRuntime, cms: func(cd []byte) []byte { return pki.sign(f, cd) }}.build())
	f.Fuzz(func(t *testing.T, b []byte) {
		Verify(bytes.NewReader(b), int64(len(b)), Options{Arch: "arm64", Now: testNow})
	})
}

func sigOfBytes(b []byte) (slice, *superBlob, error) {
	ss, err := slices(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return slice{}, nil, err
	}
	sl, _ := pick(ss, cpuArm64)
	sb, err := parseSuperBlob(b[sl.Offset+sl.SigOff : sl.Offset+sl.SigOff+sl.SigLen])
	return sl, sb, err
}

// TestWriteFuzzSeeds cuts seed inputs from the real gofmt fixture into
// testdata/fuzz when CODESIGN_WRITE_SEEDS=1 (they are committed).
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("CODESIGN_WRITE_SEEDS") != "1" {
		t.Skip("set CODESIGN_WRITE_SEEDS=1 to rewrite the committed seed corpora")
	}
	b := readFixture(t, fixture.Gofmt(t))
	sl, sb, err := sigOfBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	sig := b[sl.Offset+sl.SigOff : sl.Offset+sl.SigOff+sl.SigLen]
	write := func(target, name string, data []byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("FuzzSuperBlob", "gofmt", sig)
	write("FuzzCodeDirectory", "gofmt", sb.CDs[0])
	write("FuzzCMS", "gofmt", sb.CMS)
	write("FuzzBER", "gofmt", sb.CMS)
	sentry := readFixture(t, fixture.SentryCLI(t))
	_, ssb, err := sigOfBytes(sentry)
	if err != nil {
		t.Fatal(err)
	}
	write("FuzzCMS", "sentry", ssb.CMS)
}
