package codesign

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
)

// Blob magics and slot numbers of the embedded signature. Source:
// apple-oss-distributions/Security OSX/libsecurity_codesigning/lib/CSCommonPriv.h
// and codedirectory.h; xnu osfmk/kern/cs_blobs.h (CSMAGIC_*, CSSLOT_*).
// All integers in a signature are big-endian, unlike the Mach-O around it.
const (
	magicEmbeddedSignature = 0xfade0cc0 // CSMAGIC_EMBEDDED_SIGNATURE (SuperBlob)
	magicCodeDirectory     = 0xfade0c02 // CSMAGIC_CODEDIRECTORY
	magicRequirements      = 0xfade0c01 // CSMAGIC_REQUIREMENTS
	magicBlobWrapper       = 0xfade0b01 // CSMAGIC_BLOBWRAPPER (the CMS signature)

	slotCodeDirectory  = 0       // CSSLOT_CODEDIRECTORY
	slotInfo           = 1       // CSSLOT_INFOSLOT (hash of the bundle's Info.plist)
	slotRequirements   = 2       // CSSLOT_REQUIREMENTS
	slotResourceDir    = 3       // CSSLOT_RESOURCEDIR (bundle's _CodeSignature/CodeResources)
	slotApplication    = 4       // CSSLOT_APPLICATION
	slotEntitlements   = 5       // CSSLOT_ENTITLEMENTS
	slotDEREntitlement = 7       // CSSLOT_DER_ENTITLEMENTS
	slotAlternateCD    = 0x1000  // CSSLOT_ALTERNATE_CODEDIRECTORIES
	slotAlternateMax   = 0x1005  // CSSLOT_ALTERNATE_CODEDIRECTORY_LIMIT
	slotSignature      = 0x10000 // CSSLOT_SIGNATURESLOT (CMS in a blob wrapper)

	// maxSignature bounds the signature blob read from a file: real ones
	// are 10-200 KiB (a CodeDirectory holds one hash per 4 KiB page: 100 MB
	// of code is 25,600 SHA-256 slots, 800 KiB). Larger is refused.
	maxSignature = 4 << 20
	maxBlobs     = 64 // index entries in a SuperBlob; real ones have 3-8
)

// Hash types of a CodeDirectory (cs_blobs.h CS_HASHTYPE_*).
const (
	hashSHA1            = 1
	hashSHA256          = 2
	hashSHA256Truncated = 3
	hashSHA384          = 4
)

// CodeDirectory flags (cs_blobs.h CS_*), the ones reported.
const (
	FlagAdhoc        = 0x00000002 // CS_ADHOC: no CMS signer
	FlagHard         = 0x00000100
	FlagKill         = 0x00000200
	FlagRuntime      = 0x00010000 // hardened runtime
	FlagLinkerSigned = 0x00020000 // CS_LINKER_SIGNED: written by ld, not codesign
)

var (
	errNotMachO    = errors.New("codesign: not a Mach-O file")
	errMalformed   = errors.New("codesign: malformed signature")
	errTruncated   = errors.New("codesign: truncated signature")
	errUnsupported = errors.New("codesign: unsupported signature")
)

// superBlob is the decoded embedded signature of one slice. Every []byte
// aliases the buffer it was parsed from.
type superBlob struct {
	CDs          [][]byte // CodeDirectory blobs, slot 0 first, then alternates
	Requirements []byte   // whole blob, header included (hashed into special slot 2)
	Entitle      []byte   // slot 5 blob
	DEREntitle   []byte   // slot 7 blob
	Special      map[uint32][]byte
	CMS          []byte // payload of the blob wrapper (DER ContentInfo); nil when absent or empty
	HasCMSSlot   bool
}

// parseSuperBlob decodes an embedded signature. It checks every count,
// offset and length against the buffer; it allocates only the index.
func parseSuperBlob(b []byte) (*superBlob, error) {
	if len(b) < 12 {
		return nil, fmt.Errorf("%w: superblob of %d bytes", errTruncated, len(b))
	}
	if m := binary.BigEndian.Uint32(b); m != magicEmbeddedSignature {
		return nil, fmt.Errorf("%w: superblob magic %#x", errMalformed, m)
	}
	length := binary.BigEndian.Uint32(b[4:])
	if length < 12 || int64(length) > int64(len(b)) {
		return nil, fmt.Errorf("%w: superblob says %d bytes, %d present", errTruncated, length, len(b))
	}
	b = b[:length]
	count := binary.BigEndian.Uint32(b[8:])
	if count > maxBlobs || 12+8*int64(count) > int64(length) {
		return nil, fmt.Errorf("%w: superblob index of %d entries in %d bytes", errMalformed, count, length)
	}
	sb := &superBlob{Special: map[uint32][]byte{}}
	var alt [slotAlternateMax - slotAlternateCD][]byte
	for i := range count {
		e := b[12+8*i:]
		typ := binary.BigEndian.Uint32(e)
		off := binary.BigEndian.Uint32(e[4:])
		if int64(off) < 12+8*int64(count) || int64(off)+8 > int64(length) {
			return nil, fmt.Errorf("%w: blob %d (type %#x) at offset %d outside the superblob", errMalformed, i, typ, off)
		}
		blen := binary.BigEndian.Uint32(b[off+4:])
		if blen < 8 || int64(off)+int64(blen) > int64(length) {
			return nil, fmt.Errorf("%w: blob %d (type %#x) of %d bytes at offset %d overruns the superblob (%d bytes)", errMalformed, i, typ, blen, off, length)
		}
		blob := b[off : off+blen]
		magic := binary.BigEndian.Uint32(blob)
		switch {
		case typ == slotCodeDirectory:
			if magic != magicCodeDirectory {
				return nil, fmt.Errorf("%w: slot 0 magic %#x is not a CodeDirectory", errMalformed, magic)
			}
			if sb.CDs != nil {
				return nil, fmt.Errorf("%w: two CodeDirectories in slot 0", errMalformed)
			}
			sb.CDs = [][]byte{blob}
		case typ >= slotAlternateCD && typ < slotAlternateMax:
			if magic != magicCodeDirectory {
				return nil, fmt.Errorf("%w: slot %#x magic %#x is not a CodeDirectory", errMalformed, typ, magic)
			}
			alt[typ-slotAlternateCD] = blob
		case typ == slotSignature:
			if magic != magicBlobWrapper {
				return nil, fmt.Errorf("%w: signature slot magic %#x", errMalformed, magic)
			}
			sb.HasCMSSlot = true
			if blen > 8 {
				sb.CMS = blob[8:]
			}
		default:
			if typ < slotAlternateCD {
				if _, dup := sb.Special[typ]; dup {
					return nil, fmt.Errorf("%w: slot %d twice", errMalformed, typ)
				}
				sb.Special[typ] = blob
			}
			switch typ {
			case slotRequirements:
				sb.Requirements = blob
			case slotEntitlements:
				sb.Entitle = blob
			case slotDEREntitlement:
				sb.DEREntitle = blob
			}
		}
	}
	if sb.CDs == nil {
		return nil, fmt.Errorf("%w: no CodeDirectory", errMalformed)
	}
	for _, a := range alt {
		if a != nil {
			sb.CDs = append(sb.CDs, a)
		}
	}
	return sb, nil
}

// codeDirectory is the decoded CodeDirectory (cs_blobs.h CS_CodeDirectory).
type codeDirectory struct {
	Raw          []byte // the whole blob: its hash is the CDHash
	Version      uint32
	Flags        uint32
	HashType     uint8
	HashSize     uint8
	Platform     uint8
	PageShift    uint8 // log2 of the page size; 0 means one page for all
	Ident        string
	TeamID       string
	NSpecial     uint32
	NCode        uint32
	CodeLimit    int64
	ExecSegBase  uint64
	ExecSegLimit uint64
	ExecSegFlags uint64
	Runtime      uint32
	hashOff      uint32
}

// CodeDirectory field offsets (cs_blobs.h struct CS_CodeDirectory).
const (
	cdOffVersion     = 8
	cdOffFlags       = 12
	cdOffHashOffset  = 16
	cdOffIdentOffset = 20
	cdOffNSpecial    = 24
	cdOffNCode       = 28
	cdOffCodeLimit   = 32
	cdOffHashSize    = 36
	cdOffHashType    = 37
	cdOffPlatform    = 38
	cdOffPageSize    = 39
	cdOffScatter     = 44 // version >= 0x20100
	cdOffTeam        = 48 // version >= 0x20200
	cdOffCodeLimit64 = 56 // version >= 0x20300
	cdOffExecSegBase = 64 // version >= 0x20400
	cdOffExecSegLim  = 72
	cdOffExecSegFlag = 80
	cdOffRuntime     = 88 // version >= 0x20500

	cdEarliestVersion = 0x20001 // CS_SUPPORTSNONE... earliest codesign accepts
	cdCompatLimit     = 0x2F000 // Security codedirectory.h compatibilityLimit
)

// cdHeaderLen is the fixed header length a CodeDirectory of this version has.
func cdHeaderLen(v uint32) int {
	switch {
	case v >= 0x20500:
		return 96
	case v >= 0x20400:
		return 88
	case v >= 0x20300:
		return 64
	case v >= 0x20200:
		return 52
	case v >= 0x20100:
		return 48
	}
	return 44
}

// hashLen is the digest size of a CodeDirectory hash type, 0 if unknown.
func hashLen(t uint8) int {
	switch t {
	case hashSHA1, hashSHA256Truncated:
		return 20
	case hashSHA256:
		return 32
	case hashSHA384:
		return 48
	}
	return 0
}

// newHash returns the hash function of a CodeDirectory hash type (the
// truncated SHA-256 is cut by the caller to HashSize).
func newHash(t uint8) hash.Hash {
	switch t {
	case hashSHA1:
		return sha1.New()
	case hashSHA256, hashSHA256Truncated:
		return sha256.New()
	case hashSHA384:
		return sha512.New384()
	}
	return nil
}

// hashName is the name codesign -dv prints for a hash type.
func hashName(t uint8) string {
	switch t {
	case hashSHA1:
		return "sha1"
	case hashSHA256:
		return "sha256"
	case hashSHA256Truncated:
		return "sha256-truncated"
	case hashSHA384:
		return "sha384"
	}
	return fmt.Sprintf("hash-type-%d", t)
}

// parseCodeDirectory decodes and bounds-checks a CodeDirectory blob.
func parseCodeDirectory(b []byte) (*codeDirectory, error) {
	if len(b) < 44 {
		return nil, fmt.Errorf("%w: CodeDirectory of %d bytes", errTruncated, len(b))
	}
	be := binary.BigEndian
	if be.Uint32(b) != magicCodeDirectory {
		return nil, fmt.Errorf("%w: CodeDirectory magic %#x", errMalformed, be.Uint32(b))
	}
	if int64(be.Uint32(b[4:])) != int64(len(b)) {
		return nil, fmt.Errorf("%w: CodeDirectory length %d in a %d-byte blob", errMalformed, be.Uint32(b[4:]), len(b))
	}
	cd := &codeDirectory{
		Raw:       b,
		Version:   be.Uint32(b[cdOffVersion:]),
		Flags:     be.Uint32(b[cdOffFlags:]),
		hashOff:   be.Uint32(b[cdOffHashOffset:]),
		NSpecial:  be.Uint32(b[cdOffNSpecial:]),
		NCode:     be.Uint32(b[cdOffNCode:]),
		CodeLimit: int64(be.Uint32(b[cdOffCodeLimit:])),
		HashSize:  b[cdOffHashSize],
		HashType:  b[cdOffHashType],
		Platform:  b[cdOffPlatform],
		PageShift: b[cdOffPageSize],
	}
	if cd.Version < cdEarliestVersion || cd.Version >= cdCompatLimit {
		return nil, fmt.Errorf("%w: CodeDirectory version %#x", errUnsupported, cd.Version)
	}
	if len(b) < cdHeaderLen(cd.Version) {
		return nil, fmt.Errorf("%w: CodeDirectory version %#x needs %d header bytes, has %d", errTruncated, cd.Version, cdHeaderLen(cd.Version), len(b))
	}
	if hl := hashLen(cd.HashType); hl == 0 {
		return nil, fmt.Errorf("%w: hash type %d", errUnsupported, cd.HashType)
	} else if int(cd.HashSize) != hl {
		return nil, fmt.Errorf("%w: hash type %d with hash size %d", errMalformed, cd.HashType, cd.HashSize)
	}
	if cd.PageShift != 0 && (cd.PageShift < 9 || cd.PageShift > 24) {
		return nil, fmt.Errorf("%w: page size 2^%d", errUnsupported, cd.PageShift)
	}
	if cd.Version >= 0x20100 && be.Uint32(b[cdOffScatter:]) != 0 {
		// Scatter vectors were used by pre-10.6 kernel extensions only.
		return nil, fmt.Errorf("%w: scatter vector", errUnsupported)
	}
	if cd.Version >= 0x20300 {
		if l64 := be.Uint64(b[cdOffCodeLimit64:]); l64 != 0 {
			if l64 > 1<<40 {
				return nil, fmt.Errorf("%w: codeLimit64 %d", errMalformed, l64)
			}
			cd.CodeLimit = int64(l64)
		}
	}
	if cd.Version >= 0x20400 {
		cd.ExecSegBase = be.Uint64(b[cdOffExecSegBase:])
		cd.ExecSegLimit = be.Uint64(b[cdOffExecSegLim:])
		cd.ExecSegFlags = be.Uint64(b[cdOffExecSegFlag:])
	}
	if cd.Version >= 0x20500 {
		cd.Runtime = be.Uint32(b[cdOffRuntime:])
	}
	// Hash slots: special slots lie before hashOffset, code slots after.
	hs := int64(cd.HashSize)
	if int64(cd.hashOff) < int64(cdHeaderLen(cd.Version)) ||
		int64(cd.NSpecial)*hs > int64(cd.hashOff) ||
		int64(cd.hashOff)+int64(cd.NCode)*hs > int64(len(b)) {
		return nil, fmt.Errorf("%w: hash slots (offset %d, %d special, %d code, %d bytes each) outside the %d-byte CodeDirectory", errMalformed, cd.hashOff, cd.NSpecial, cd.NCode, hs, len(b))
	}
	want := int64(0)
	if cd.CodeLimit > 0 {
		want = 1
		if cd.PageShift != 0 {
			want = (cd.CodeLimit + 1<<cd.PageShift - 1) >> cd.PageShift
		}
	}
	if int64(cd.NCode) != want {
		return nil, fmt.Errorf("%w: %d code slots for codeLimit %d and page size 2^%d (want %d)", errMalformed, cd.NCode, cd.CodeLimit, cd.PageShift, want)
	}
	var err error
	if cd.Ident, err = cstring(b, be.Uint32(b[cdOffIdentOffset:])); err != nil {
		return nil, fmt.Errorf("%w: identifier: %w", errMalformed, err)
	}
	if cd.Version >= 0x20200 {
		if to := be.Uint32(b[cdOffTeam:]); to != 0 {
			if cd.TeamID, err = cstring(b, to); err != nil {
				return nil, fmt.Errorf("%w: team id: %w", errMalformed, err)
			}
		}
	}
	return cd, nil
}

// cstring reads a NUL-terminated string at off in b.
func cstring(b []byte, off uint32) (string, error) {
	if int64(off) >= int64(len(b)) {
		return "", fmt.Errorf("offset %d outside %d bytes", off, len(b))
	}
	for i := int(off); i < len(b); i++ {
		if b[i] == 0 {
			return string(b[off:i]), nil
		}
	}
	return "", fmt.Errorf("no NUL after offset %d", off)
}

// codeSlot returns the stored hash of page i.
func (cd *codeDirectory) codeSlot(i uint32) []byte {
	o := cd.hashOff + i*uint32(cd.HashSize)
	return cd.Raw[o : o+uint32(cd.HashSize)]
}

// specialSlot returns the stored hash of special slot n (1-based), or nil
// when the CodeDirectory has fewer special slots.
func (cd *codeDirectory) specialSlot(n uint32) []byte {
	if n == 0 || n > cd.NSpecial {
		return nil
	}
	o := cd.hashOff - n*uint32(cd.HashSize)
	return cd.Raw[o : o+uint32(cd.HashSize)]
}

// digest hashes b with the CodeDirectory's hash type, cut to its hash size.
func (cd *codeDirectory) digest(b []byte) []byte {
	h := newHash(cd.HashType)
	h.Write(b)
	return h.Sum(nil)[:cd.HashSize]
}

// cdHash is the CodeDirectory's own hash (the CDHash), full length.
func (cd *codeDirectory) cdHash() []byte {
	h := newHash(cd.HashType)
	h.Write(cd.Raw)
	return h.Sum(nil)
}

// bestCD picks the CodeDirectory Apple's verifier uses: the one with the
// strongest hash type it knows (Security CodeDirectory::bestHashOf prefers
// SHA-384 over SHA-256 over truncated SHA-256 over SHA-1).
func bestCD(cds []*codeDirectory) *codeDirectory {
	rank := func(t uint8) int {
		switch t {
		case hashSHA384:
			return 4
		case hashSHA256:
			return 3
		case hashSHA256Truncated:
			return 2
		case hashSHA1:
			return 1
		}
		return 0
	}
	var best *codeDirectory
	for _, cd := range cds {
		if best == nil || rank(cd.HashType) > rank(best.HashType) {
			best = cd
		}
	}
	return best
}
