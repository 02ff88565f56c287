package codesign

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/macsensor/macsensor/sensor/codesign/fixture"
)

// testNow is the time certificates are judged at in the fixture tests, so
// that they do not change verdict when a certificate expires.
var testNow = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// want lists the fields asserted exactly; Detail is matched by substring.
type want struct {
	Checked, Exists, Trusted bool
	Status                   string
	SigningID, TeamID        string
	SubjectName              string
	AdHoc, LinkerSigned      bool
	Runtime                  bool
	Flags                    uint32
	Policy                   string
	Authority                []string
	Arch                     string
	CDHash                   string
	HashType                 string
	SHA256                   string
	Detail                   string
}

func check(t *testing.T, got Info, w want) {
	t.Helper()
	g := want{
		Checked: got.Checked, Exists: got.Exists, Trusted: got.Trusted, Status: got.Status,
		SigningID: got.SigningID, TeamID: got.TeamID, SubjectName: got.SubjectName,
		AdHoc: got.AdHoc, LinkerSigned: got.LinkerSigned, Runtime: got.Runtime, Flags: got.Flags,
		Policy: got.Policy, Authority: got.Authority, Arch: got.Arch, CDHash: got.CDHash,
		HashType: got.HashType, SHA256: got.SHA256, Detail: w.Detail,
	}
	if w.Detail != "" && !strings.Contains(got.Detail, w.Detail) {
		t.Errorf("Detail = %q, want it to contain %q", got.Detail, w.Detail)
	}
	if w.CDHash == "*" {
		g.CDHash = "*"
	}
	if w.SHA256 == "*" {
		g.SHA256 = "*"
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("got  %+v\nwant %+v\n(detail %q)", g, w, got.Detail)
	}
}

var devIDAuthority = func(subject string) []string {
	return []string{subject, "Developer ID Certification Authority", "Apple Root CA"}
}

func TestSentryCLIUniversal(t *testing.T) {
	p := fixture.SentryCLI(t)
	const sum = "2c26914636c47ab9bf9e710484ad7b44d371cbec8bd29cafb36b3cf877bf4285"
	subj := "Developer ID Application: GetSentry LLC (97JCY7859U)"
	check(t, VerifyFile(p, Options{Arch: "arm64", Now: testNow}), want{
		Checked: true, Exists: true, Trusted: true, Status: StatusTrusted,
		SigningID: "sentry_cli-ed605fe0983d3ac0", TeamID: "97JCY7859U", SubjectName: subj,
		Runtime: true, Flags: FlagRuntime, Policy: PolicyDeveloperID, Authority: devIDAuthority(subj),
		Arch: "arm64", CDHash: "0b061c70be64938c3cefa26bb236f2ef5d6c9425d28d26a2bef3093cec1e7705",
		HashType: "sha256", SHA256: sum,
	})
	// The Intel slice carries another identifier: the slice judged is the
	// host's, not the first one.
	check(t, VerifyFile(p, Options{Arch: "amd64", Now: testNow}), want{
		Checked: true, Exists: true, Trusted: true, Status: StatusTrusted,
		SigningID: "sentry-cli-Darwin-universal", TeamID: "97JCY7859U", SubjectName: subj,
		Runtime: true, Flags: FlagRuntime, Policy: PolicyDeveloperID, Authority: devIDAuthority(subj),
		Arch: "x86_64", CDHash: "fcd45ae42c5190bdde8c0709168c2286074aadeb7bed502819d422855c963b37",
		HashType: "sha256", SHA256: sum,
	})
}

func TestGofmtToolchain(t *testing.T) {
	p := fixture.Gofmt(t)
	subj := "Developer ID Application: Google LLC (EQHXZ8M8AV)"
	check(t, VerifyFile(p, Options{Arch: "arm64", Now: testNow}), want{
		Checked: true, Exists: true, Trusted: true, Status: StatusTrusted,
		SigningID: "org.golang.gofmt", TeamID: "EQHXZ8M8AV", SubjectName: subj,
		Runtime: true, Flags: FlagRuntime, Policy: PolicyDeveloperID, Authority: devIDAuthority(subj),
		Arch: "arm64", CDHash: "a107c2efef0352a786a9456daf343dae5cdead9de4d7d6510994b68e3abd38e4",
		HashType: "sha256", SHA256: "294f85636c7dee3ce2b4fefce74002a1cb53ee930a6e55dd06d8c5a3434ad447",
	})
}

func fileSHA(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestGoLinkerOutput(t *testing.T) {
	arm := fixture.BuildGo(t, "arm64", "hello-arm64")
	check(t, VerifyFile(arm, Options{Arch: "arm64", Now: testNow}), want{
		Checked: true, Exists: true, Trusted: false, Status: StatusUntrusted,
		SigningID: "a.out", AdHoc: true, LinkerSigned: true, Flags: FlagAdhoc | FlagLinkerSigned,
		Arch: "arm64", CDHash: "*", HashType: "sha256", SHA256: fileSHA(t, arm),
		Detail: "ad-hoc signature",
	})
	amd := fixture.BuildGo(t, "amd64", "hello-amd64")
	check(t, VerifyFile(amd, Options{Arch: "amd64", Now: testNow}), want{
		Checked: true, Exists: false, Trusted: false, Status: StatusUnsigned,
		Arch: "x86_64", SHA256: fileSHA(t, amd),
	})
}

// readFixture loads a fixture into memory for tampering.
func readFixture(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sigOf locates the signature of the host's slice in b.
func sigOf(t *testing.T, b []byte, arch string) (slice, *superBlob, []*codeDirectory) {
	t.Helper()
	ss, err := slices(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	sl, ok := pick(ss, cpuOf(arch))
	if !ok {
		t.Fatal("no slice")
	}
	sig := b[sl.Offset+sl.SigOff : sl.Offset+sl.SigOff+sl.SigLen]
	sb, err := parseSuperBlob(sig)
	if err != nil {
		t.Fatal(err)
	}
	var cds []*codeDirectory
	for _, raw := range sb.CDs {
		cd, err := parseCodeDirectory(raw)
		if err != nil {
			t.Fatal(err)
		}
		cds = append(cds, cd)
	}
	return sl, sb, cds
}

func offsetIn(t *testing.T, b, part []byte) int64 {
	t.Helper()
	i := bytes.Index(b, part)
	if i < 0 || bytes.Contains(b[i+1:], part) {
		t.Fatalf("part not found once")
	}
	return int64(i)
}

func verifyBytes(b []byte, arch string) Info {
	return Verify(bytes.NewReader(b), int64(len(b)), Options{Arch: arch, Now: testNow})
}

func TestTamperedSentryCLI(t *testing.T) {
	orig := readFixture(t, fixture.SentryCLI(t))
	sl, sb, cds := sigOf(t, orig, "arm64")
	sigStart := sl.Offset + sl.SigOff
	base := want{
		Checked: true, Exists: true, Trusted: false,
		SigningID: "sentry_cli-ed605fe0983d3ac0", TeamID: "97JCY7859U",
		Runtime: true, Flags: FlagRuntime, Arch: "arm64", CDHash: "*", HashType: "sha256", SHA256: "*",
	}
	subj := "Developer ID Application: GetSentry LLC (97JCY7859U)"

	t.Run("text byte", func(t *testing.T) {
		b := bytes.Clone(orig)
		b[sl.Offset+5*4096+17] ^= 0x01 // in page 5 of __TEXT (4 KiB pages)
		w := base
		w.Status = StatusModified
		w.Detail = "page 5 (bytes 20480-24575 of the arm64 slice) does not match"
		check(t, verifyBytes(b, "arm64"), w)
		// The other slice is untouched and still trusted.
		if got := verifyBytes(b, "amd64"); !got.Trusted {
			t.Errorf("x86_64 slice: %+v", got)
		}
	})
	t.Run("cms signature byte", func(t *testing.T) {
		c, err := parseCMS(sb.CMS)
		if err != nil {
			t.Fatal(err)
		}
		b := bytes.Clone(orig)
		b[offsetIn(t, b[sigStart:], c.Signature)+sigStart+10] ^= 0x80
		w := base
		w.Status, w.SubjectName = StatusModified, subj
		w.Detail = "CMS signature does not verify"
		check(t, verifyBytes(b, "arm64"), w)
	})
	t.Run("codedirectory byte", func(t *testing.T) {
		b := bytes.Clone(orig)
		off := offsetIn(t, b[sigStart:], cds[0].Raw) + sigStart
		b[off+cdOffPlatform] ^= 0x01 // a field no other check reads
		w := base
		w.Status, w.SubjectName = StatusModified, subj
		w.Detail = "message digest does not match the CodeDirectory"
		check(t, verifyBytes(b, "arm64"), w)
	})
	t.Run("truncated signature", func(t *testing.T) {
		b := bytes.Clone(orig)
		// LC_CODE_SIGNATURE datasize cut to 64 bytes: the SuperBlob says more.
		setSigLen(t, b, sl, 64)
		w := base
		w.Status = StatusInvalid
		w.SigningID, w.TeamID, w.Runtime, w.Flags, w.CDHash, w.HashType = "", "", false, 0, "", ""
		w.Detail = "truncated signature: superblob says"
		check(t, verifyBytes(b, "arm64"), w)
	})
	t.Run("superblob length lies", func(t *testing.T) {
		b := bytes.Clone(orig)
		// A blob index entry pointing past the SuperBlob's end.
		binary.BigEndian.PutUint32(b[sigStart+12+4:], uint32(sl.SigLen)-4)
		w := base
		w.Status = StatusInvalid
		w.SigningID, w.TeamID, w.Runtime, w.Flags, w.CDHash, w.HashType = "", "", false, 0, "", ""
		w.Detail = "outside the superblob"
		check(t, verifyBytes(b, "arm64"), w)
		// The CodeDirectory's own length lying.
		b = bytes.Clone(orig)
		off := offsetIn(t, b[sigStart:], cds[0].Raw) + sigStart
		binary.BigEndian.PutUint32(b[off+4:], 1<<30)
		w.Detail = "overruns the superblob"
		check(t, verifyBytes(b, "arm64"), w)
	})
}

// setSigLen rewrites LC_CODE_SIGNATURE's datasize of the slice sl in b.
func setSigLen(t *testing.T, b []byte, sl slice, n uint32) {
	t.Helper()
	h := b[sl.Offset:]
	ncmds := binary.LittleEndian.Uint32(h[16:])
	off := int64(32)
	for range ncmds {
		cmd := binary.LittleEndian.Uint32(h[off:])
		if cmd == lcCodeSignature {
			binary.LittleEndian.PutUint32(h[off+12:], n)
			return
		}
		off += int64(binary.LittleEndian.Uint32(h[off+4:]))
	}
	t.Fatal("no LC_CODE_SIGNATURE")
}

func TestTruncatedFile(t *testing.T) {
	orig := readFixture(t, fixture.Gofmt(t))
	sl, _, _ := sigOf(t, orig, "arm64")
	b := orig[:sl.SigOff+100] // the file ends inside the signature
	got := verifyBytes(b, "arm64")
	check(t, got, want{
		Checked: true, Exists: true, Status: StatusInvalid, SHA256: "*",
		Detail: "truncated signature: code signature",
	})
}

// TestPinnedRoots checks the embedded anchors against the SHA-256
// fingerprints Apple publishes on https://www.apple.com/certificateauthority/
// (written here as Apple prints them, independently of roots.go).
func TestPinnedRoots(t *testing.T) {
	published := map[string]string{
		"roots/AppleRootCA.pem":    "B0:B1:73:0E:CB:C7:FF:45:05:14:2C:49:F1:29:5E:6E:DA:6B:CA:ED:7E:2C:68:C5:BE:91:B5:A1:10:01:F0:24",
		"roots/AppleRootCA-G3.pem": "63:34:3A:BF:B8:9A:6A:03:EB:B5:7E:9B:3F:5F:A7:BE:7C:4F:5C:75:6F:30:17:B3:A8:C4:88:C3:65:3E:91:79",
	}
	for file, fp := range published {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			t.Fatalf("%s: no PEM block", file)
		}
		sum := sha256.Sum256(blk.Bytes)
		var parts []string
		for _, c := range sum {
			parts = append(parts, fmt.Sprintf("%02X", c))
		}
		if got := strings.Join(parts, ":"); got != fp {
			t.Errorf("%s: SHA-256 %s, published %s", file, got, fp)
		}
	}
	if _, err := appleRoots(); err != nil {
		t.Fatal(err)
	}
}

// The GetSentry certificate and the Developer ID CA expire on 2027-02-01:
// after that the signature is still trusted by default (Apple tolerates
// expiry) and StatusExpired when expiration is considered.
func TestExpiredChain(t *testing.T) {
	p := fixture.SentryCLI(t)
	later := time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
	got := VerifyFile(p, Options{Arch: "arm64", Now: later})
	if !got.Trusted || got.Status != StatusTrusted || !strings.Contains(got.Detail, "judged at 2026-09-16T14:16:56Z") {
		t.Errorf("default: %+v", got)
	}
	got = VerifyFile(p, Options{Arch: "arm64", Now: later, ConsiderExpiration: true})
	if got.Trusted || got.Status != StatusExpired || !got.Checked || !got.Exists {
		t.Errorf("considering expiration: %+v", got)
	}
	// Before the certificate existed: Apple tolerates "not yet valid" the
	// same way (CSSM_TP_ACTION_ALLOW_EXPIRED "also allows postdated certs").
	got = VerifyFile(p, Options{Arch: "arm64", Now: time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)})
	if !got.Trusted || !strings.Contains(got.Detail, "not yet valid") {
		t.Errorf("2010: %+v", got)
	}
}
