package codesign

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"
	"time"
)

// Info is what the package reports about one executable: the fields of
// Elastic Defend's process.code_signature and process.hash.sha256, plus
// what an analyst needs to see why.
//
// Mapping to ECS (prefix p = "process." or "process.parent."):
//
//	p+"code_signature.exists"       = Exists       when Checked
//	p+"code_signature.trusted"      = Trusted      when Checked
//	p+"code_signature.status"       = Status       when Status != "" and Status != StatusPending
//	p+"code_signature.signing_id"   = SigningID    when != ""
//	p+"code_signature.team_id"      = TeamID       when != ""
//	p+"code_signature.subject_name" = SubjectName  when != ""
//	p+"hash.sha256"                 = SHA256       when != ""
//
// The other fields are not ECS; the codesign command prints them.
type Info struct {
	// Checked is true when the verifier reached a verdict: Exists and
	// Trusted mean something. False for files it did not judge (pending,
	// too large, changed while read, unreadable): then only Status is set.
	Checked bool
	// MachO is true when the file is a Mach-O (thin or universal): what
	// code_signature describes. False for anything else (an ELF
	// executable on Linux, a script) and for files not read.
	MachO   bool
	Exists  bool // a code signature is present (ad-hoc included)
	Trusted bool // every check in the package doc passed
	Status  string

	SigningID   string // the CodeDirectory identifier
	TeamID      string // the CodeDirectory team identifier
	SubjectName string // the signer certificate's common name

	AdHoc        bool   // CS_ADHOC: signed without a certificate
	LinkerSigned bool   // CS_LINKER_SIGNED: ad-hoc signature written by the linker
	Runtime      bool   // CS_RUNTIME: hardened runtime
	Flags        uint32 // CodeDirectory flags
	Policy       string // PolicyApple, PolicyDeveloperID, PolicyMacAppStore when trusted
	Authority    []string
	Arch         string // the slice judged ("arm64", "x86_64")
	CDHash       string // hex, full length, of the CodeDirectory judged
	HashType     string // its hash type ("sha256")
	SigningTime  time.Time

	SHA256 string // hex SHA-256 of the whole file, "" when not hashed
	Size   int64

	// Detail says which check failed and where (not ECS).
	Detail string
}

// Options tunes Verify.
type Options struct {
	// Arch is the host architecture (GOARCH or Apple's name) that selects
	// the slice of a universal binary; "" means HostArch().
	Arch string
	// Now is the time certificates must be valid at; zero means time.Now().
	Now time.Time
	// ConsiderExpiration makes an expired signer chain untrusted
	// (StatusExpired), as kSecCSConsiderExpiration does; by default an
	// expired chain is judged at signing time, as Apple's default does.
	ConsiderExpiration bool

	roots *x509.CertPool // tests only: replaces the pinned roots
}

func (o Options) cpu() uint32 {
	a := o.Arch
	if a == "" {
		a = hostArch()
	}
	return cpuOf(a)
}

// HostArch is the architecture whose slice a universal binary runs on this
// host: on macOS arm64 on Apple silicon (even for an x86_64 sensor under
// Rosetta) and x86_64 on Intel; elsewhere the sensor's GOARCH.
func HostArch() string { return hostArch() }

// VerifyFile opens path (following symlinks: it is the command-line entry)
// and verifies it. The daemon uses Cache, which opens with O_NOFOLLOW and
// keys by file identity.
func VerifyFile(path string, opt Options) Info {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Info{Status: StatusNotFound, Detail: err.Error()}
		}
		return Info{Status: StatusUnreadable, Detail: err.Error()}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Info{Status: StatusUnreadable, Detail: err.Error()}
	}
	if !st.Mode().IsRegular() {
		return Info{Status: StatusNotFile, Detail: st.Mode().String()}
	}
	return Verify(f, st.Size(), opt)
}

// Verify judges the Mach-O file r of size bytes: it hashes the whole file
// once (SHA-256) and, in the same pass, every page of the slice the host
// runs, and verifies the signature. It never panics on hostile input and
// allocates at most the signature (bounded by maxSignature) and a fixed
// read buffer.
func Verify(r io.ReaderAt, size int64, opt Options) Info {
	info := Info{Size: size}
	fail := func(status string, err error) Info {
		info.Checked = true
		info.Trusted = false
		info.Status = status
		if err != nil {
			info.Detail = err.Error()
		}
		return info
	}
	ss, err := slices(r, size)
	info.MachO = err == nil || !errors.Is(err, errNotMachO) && (errors.Is(err, errMalformed) || errors.Is(err, errTruncated))
	if err != nil {
		if errors.Is(err, errTruncated) {
			// LC_CODE_SIGNATURE names bytes the file does not have.
			info.Exists = true
			info.SHA256, _ = hashWhole(r, size)
			return fail(StatusInvalid, err)
		}
		if errors.Is(err, errNotMachO) || errors.Is(err, errMalformed) {
			info.SHA256, _ = hashWhole(r, size)
			return fail(StatusBadFormat, err)
		}
		info.Status, info.Detail = StatusUnreadable, err.Error()
		return info
	}
	sl, ok := pick(ss, opt.cpu())
	if !ok {
		info.SHA256, _ = hashWhole(r, size)
		names := ""
		for i, s := range ss {
			if i > 0 {
				names += ", "
			}
			names += ArchName(s.CPU)
		}
		return fail(StatusBadFormat, fmt.Errorf("codesign: no slice for the host (%s) among %s", ArchName(opt.cpu()), names))
	}
	info.Arch = ArchName(sl.CPU)
	if sl.SigOff == 0 {
		var err error
		if info.SHA256, err = hashWhole(r, size); err != nil {
			info.Status, info.Detail = StatusUnreadable, err.Error()
			return info
		}
		return fail(StatusUnsigned, nil)
	}
	if sl.SigLen > maxSignature {
		info.SHA256, _ = hashWhole(r, size)
		info.Exists = true
		return fail(StatusInvalid, fmt.Errorf("%w: signature of %d bytes (limit %d)", errMalformed, sl.SigLen, maxSignature))
	}
	sig := make([]byte, sl.SigLen)
	if _, err := r.ReadAt(sig, sl.Offset+sl.SigOff); err != nil {
		info.Status, info.Detail = StatusUnreadable, fmt.Sprintf("codesign: read signature: %v", err)
		return info
	}
	info.Exists = true
	sb, err := parseSuperBlob(sig)
	if err != nil {
		info.SHA256, _ = hashWhole(r, size)
		return fail(statusOf(err), err)
	}
	cds := make([]*codeDirectory, 0, len(sb.CDs))
	for i, raw := range sb.CDs {
		cd, err := parseCodeDirectory(raw)
		if err != nil {
			info.SHA256, _ = hashWhole(r, size)
			return fail(statusOf(err), fmt.Errorf("codesign: CodeDirectory %d: %w", i, err))
		}
		cds = append(cds, cd)
	}
	cd := bestCD(cds)
	info.SigningID = cd.Ident
	info.TeamID = cd.TeamID
	info.Flags = cd.Flags
	info.AdHoc = cd.Flags&FlagAdhoc != 0
	info.LinkerSigned = cd.Flags&FlagLinkerSigned != 0
	info.Runtime = cd.Flags&FlagRuntime != 0
	info.HashType = hashName(cd.HashType)
	info.CDHash = hex.EncodeToString(cd.cdHash())
	for _, o := range cds {
		if o.Ident != cd.Ident || o.TeamID != cd.TeamID {
			info.SHA256, _ = hashWhole(r, size)
			return fail(StatusModified, fmt.Errorf("%w: CodeDirectories disagree on identifier or team", errMalformed))
		}
	}
	// The code covered must end where the signature starts: codesign
	// hashes everything before the signature (CodeDirectory codeLimit ==
	// LC_CODE_SIGNATURE dataoff).
	if cd.CodeLimit != sl.SigOff {
		info.SHA256, _ = hashWhole(r, size)
		return fail(StatusModified, fmt.Errorf("%w: codeLimit %d, signature at %d: the bytes between are not covered", errMalformed, cd.CodeLimit, sl.SigOff))
	}
	if err := checkSpecialSlots(cd, sb); err != nil {
		info.SHA256, _ = hashWhole(r, size)
		return fail(StatusModified, err)
	}
	sum, bad, err := hashPass(r, size, sl.Offset, cd)
	if err != nil {
		info.Status, info.Detail = StatusUnreadable, err.Error()
		return info
	}
	info.SHA256 = sum
	if bad >= 0 {
		return fail(StatusModified, fmt.Errorf("codesign: page %d (bytes %d-%d of the %s slice) does not match its hash in the CodeDirectory",
			bad, int64(bad)<<cd.PageShift, min(int64(bad+1)<<cd.PageShift, cd.CodeLimit)-1, info.Arch))
	}
	if info.AdHoc {
		return fail(StatusUntrusted, errors.New("codesign: ad-hoc signature: no signer to trust"))
	}
	if sb.CMS == nil {
		return fail(StatusModified, fmt.Errorf("%w: no CMS signature and not ad-hoc", errTruncated))
	}
	c, err := parseCMS(sb.CMS)
	if err != nil {
		return fail(StatusInvalid, err)
	}
	info.SubjectName = c.Signer.Subject.CommonName
	info.SigningTime = c.SigningTime
	if err := c.verifySignature(cds[0].Raw); err != nil {
		return fail(statusOf(err), err)
	}
	if err := c.verifyCDHashes(cds); err != nil {
		return fail(StatusModified, err)
	}
	roots := opt.roots
	if roots == nil {
		if roots, err = appleRoots(); err != nil {
			return fail(StatusUntrusted, err)
		}
	}
	now := opt.Now
	if now.IsZero() {
		now = time.Now()
	}
	chain, policy, expired, err := verifyChain(c, roots, now, opt.roots != nil)
	for _, ct := range chain {
		info.Authority = append(info.Authority, ct.Subject.CommonName)
	}
	if err != nil {
		if errors.Is(err, errExpired) {
			return fail(StatusExpired, err)
		}
		return fail(StatusUntrusted, err)
	}
	if expired {
		if opt.ConsiderExpiration {
			return fail(StatusExpired, fmt.Errorf("%w: valid at %s, not at %s", errExpired, validAt(c).UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)))
		}
		info.Detail = "certificate expired or not yet valid; tolerated as Apple's default validation does (signature judged at " + validAt(c).UTC().Format(time.RFC3339) + ")"
	}
	// Security SecStaticCode::validateDirectory: a signature by a
	// non-Apple certificate must carry the leaf's team (subject OU) as the
	// CodeDirectory's team identifier.
	if policy != PolicyApple {
		ou := c.Signer.Subject.OrganizationalUnit
		if len(ou) != 1 || ou[0] != cd.TeamID {
			return fail(StatusBadTeamID, fmt.Errorf("codesign: CodeDirectory team %q, certificate team %q", cd.TeamID, ou))
		}
	}
	info.Policy = policy
	info.Checked, info.Trusted, info.Status = true, true, StatusTrusted
	return info
}

// statusOf maps a parse or verification error to a status.
func statusOf(err error) string {
	switch {
	case errors.Is(err, errUnsupported):
		return StatusUnsupported
	case errors.Is(err, errCMSDigest), errors.Is(err, errCMSSignature):
		return StatusModified
	case errors.Is(err, errMalformed), errors.Is(err, errTruncated), errors.Is(err, errCMSMalformed):
		return StatusInvalid
	}
	return StatusInvalid
}

// checkSpecialSlots compares the hashes of the blobs the signature carries
// (requirements, entitlements) with the CodeDirectory's special slots. The
// Info.plist (slot 1) and CodeResources (slot 3) slots name files of an app
// bundle: they are not checked (a bare executable has none).
func checkSpecialSlots(cd *codeDirectory, sb *superBlob) error {
	for _, n := range []uint32{slotRequirements, slotEntitlements, slotDEREntitlement, slotApplication} {
		want := cd.specialSlot(n)
		blob := sb.Special[n]
		if want == nil {
			if blob != nil {
				return fmt.Errorf("%w: blob in slot %d not covered by the CodeDirectory", errMalformed, n)
			}
			continue
		}
		if blob == nil {
			if !allZero(want) {
				return fmt.Errorf("%w: slot %d is hashed but its blob is missing", errMalformed, n)
			}
			continue
		}
		if !bytes.Equal(cd.digest(blob), want) {
			return fmt.Errorf("codesign: special slot %d (%s) does not match its hash in the CodeDirectory", n, slotName(n))
		}
	}
	return nil
}

func slotName(n uint32) string {
	switch n {
	case slotInfo:
		return "Info.plist"
	case slotRequirements:
		return "requirements"
	case slotResourceDir:
		return "resources"
	case slotApplication:
		return "application"
	case slotEntitlements:
		return "entitlements"
	case slotDEREntitlement:
		return "DER entitlements"
	}
	return "unknown"
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

const readChunk = 256 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, readChunk); return &b }}

// hashWhole returns the hex SHA-256 of the whole file.
func hashWhole(r io.ReaderAt, size int64) (string, error) {
	s, _, err := hashPass(r, size, 0, nil)
	return s, err
}

// hashPass reads the file once, in fixed chunks: it hashes all of it with
// SHA-256 and, when cd is not nil, each page of [base, base+codeLimit) with
// the CodeDirectory's hash, comparing as it goes. It returns the first
// page whose hash differs, or -1.
func hashPass(r io.ReaderAt, size, base int64, cd *codeDirectory) (string, int, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	whole := sha256.New()
	var (
		ph       hash.Hash
		page     uint32
		pageFill int64
		pageSize int64
		end      = base
		bad      = -1
		sum      = make([]byte, 0, 64)
	)
	if cd != nil {
		ph = newHash(cd.HashType)
		end = base + cd.CodeLimit
		pageSize = cd.CodeLimit
		if cd.PageShift != 0 {
			pageSize = 1 << cd.PageShift
		}
	}
	flush := func() {
		sum = ph.Sum(sum[:0])
		if bad < 0 && !bytes.Equal(sum[:cd.HashSize], cd.codeSlot(page)) {
			bad = int(page)
		}
		ph.Reset()
		page++
		pageFill = 0
	}
	for pos := int64(0); pos < size; {
		n := int64(len(buf))
		if size-pos < n {
			n = size - pos
		}
		got, err := r.ReadAt(buf[:n], pos)
		if int64(got) != n {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return "", -1, fmt.Errorf("codesign: read at %d: %w", pos, err)
		}
		chunk := buf[:n]
		whole.Write(chunk)
		if ph != nil && pos+n > base && pos < end {
			lo := max(base, pos) - pos
			hi := min(end, pos+n) - pos
			for lo < hi {
				take := min(hi-lo, pageSize-pageFill)
				ph.Write(chunk[lo : lo+take])
				pageFill += take
				lo += take
				if pageFill == pageSize {
					flush()
				}
			}
		}
		pos += n
	}
	if ph != nil {
		if pageFill > 0 {
			flush()
		}
		if page != cd.NCode && bad < 0 {
			// The file ended before codeLimit.
			bad = int(page)
		}
	}
	return hex.EncodeToString(whole.Sum(nil)), bad, nil
}
