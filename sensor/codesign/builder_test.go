package codesign

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"testing"
)

// synth builds a thin arm64 Mach-O of about codeLen bytes with an ad-hoc
// signature (one SHA-256 CodeDirectory, 4 KiB pages, a requirements blob
// in special slot 2), the way ld writes one. Tests corrupt its fields.
type synth struct {
	codeLen   int
	ident     string
	team      string
	flags     uint32
	fat       bool // wrap in a universal header with an x86_64 slice first
	noReqBlob bool
	// cms, when set, returns the CMS signature of the CodeDirectory.
	cms func(cd []byte) []byte
}

func (s synth) build() []byte {
	const hdr = 32
	code := make([]byte, s.codeLen)
	for i := range code {
		code[i] = byte(i * 7)
	}
	// mach_header_64 + one LC_CODE_SIGNATURE (16 bytes).
	le := binary.LittleEndian
	le.PutUint32(code[0:], magic64)
	le.PutUint32(code[4:], cpuArm64)
	le.PutUint32(code[12:], 2) // MH_EXECUTE
	le.PutUint32(code[16:], 1) // ncmds
	le.PutUint32(code[20:], 16)
	le.PutUint32(code[hdr:], lcCodeSignature)
	le.PutUint32(code[hdr+4:], 16)
	sigOff := len(code)
	sig := s.signature(code, sigOff)
	le.PutUint32(code[hdr+8:], uint32(sigOff))
	le.PutUint32(code[hdr+12:], uint32(len(sig)))
	// The load command changed the code: sign again with the final bytes.
	sig = s.signature(code, sigOff)
	thin := append(code, sig...)
	if !s.fat {
		return thin
	}
	// Universal: x86_64 junk slice at 0x1000, the arm64 slice at 0x2000.
	other := make([]byte, 0x1000)
	le.PutUint32(other[0:], magic64)
	le.PutUint32(other[4:], cpuX86_64)
	out := make([]byte, 0x2000)
	be := binary.BigEndian
	be.PutUint32(out[0:], magicFat)
	be.PutUint32(out[4:], 2)
	be.PutUint32(out[8:], cpuX86_64)
	be.PutUint32(out[16:], 0x1000)
	be.PutUint32(out[20:], uint32(len(other)))
	be.PutUint32(out[28:], cpuArm64)
	be.PutUint32(out[36:], 0x2000)
	be.PutUint32(out[40:], uint32(len(thin)))
	copy(out[0x1000:], other)
	return append(out, thin...)
}

func (s synth) signature(code []byte, codeLimit int) []byte {
	be := binary.BigEndian
	// Requirements blob: an empty requirement set.
	req := make([]byte, 12)
	be.PutUint32(req[0:], magicRequirements)
	be.PutUint32(req[4:], 12)
	const nSpecial = 2
	nCode := (codeLimit + 4095) / 4096
	identOff := 96
	teamOff := 0
	tail := []byte(s.ident + "\x00")
	if s.team != "" {
		teamOff = identOff + len(tail)
		tail = append(tail, s.team+"\x00"...)
	}
	hashOff := identOff + len(tail) + nSpecial*32
	cd := make([]byte, hashOff+nCode*32)
	be.PutUint32(cd[0:], magicCodeDirectory)
	be.PutUint32(cd[4:], uint32(len(cd)))
	be.PutUint32(cd[8:], 0x20500)
	be.PutUint32(cd[12:], s.flags)
	be.PutUint32(cd[16:], uint32(hashOff))
	be.PutUint32(cd[20:], uint32(identOff))
	be.PutUint32(cd[24:], nSpecial)
	be.PutUint32(cd[28:], uint32(nCode))
	be.PutUint32(cd[32:], uint32(codeLimit))
	cd[36], cd[37], cd[39] = 32, hashSHA256, 12
	be.PutUint32(cd[48:], uint32(teamOff))
	copy(cd[identOff:], tail)
	if !s.noReqBlob {
		h := sha256.Sum256(req)
		copy(cd[hashOff-2*32:], h[:])
	}
	for i := range nCode {
		h := sha256.Sum256(code[i*4096 : min((i+1)*4096, codeLimit)])
		copy(cd[hashOff+i*32:], h[:])
	}
	blobs := [][2]any{{uint32(slotCodeDirectory), cd}}
	if !s.noReqBlob {
		blobs = append(blobs, [2]any{uint32(slotRequirements), req})
	}
	if s.cms != nil {
		der := s.cms(cd)
		w := make([]byte, 8+len(der))
		be.PutUint32(w[0:], magicBlobWrapper)
		be.PutUint32(w[4:], uint32(len(w)))
		copy(w[8:], der)
		blobs = append(blobs, [2]any{uint32(slotSignature), w})
	}
	var buf bytes.Buffer
	n := len(blobs)
	head := make([]byte, 12+8*n)
	be.PutUint32(head[0:], magicEmbeddedSignature)
	be.PutUint32(head[8:], uint32(n))
	off := len(head)
	for i, b := range blobs {
		be.PutUint32(head[12+8*i:], b[0].(uint32))
		be.PutUint32(head[16+8*i:], uint32(off))
		off += len(b[1].([]byte))
	}
	be.PutUint32(head[4:], uint32(off))
	buf.Write(head)
	for _, b := range blobs {
		buf.Write(b[1].([]byte))
	}
	return buf.Bytes()
}

func TestSynthAdhoc(t *testing.T) {
	for _, fat := range []bool{false, true} {
		b := synth{codeLen: 10000, ident: "com.example.tool", flags: FlagAdhoc, fat: fat}.build()
		got := verifyBytes(b, "arm64")
		if !got.Checked || !got.Exists || got.Trusted || got.Status != StatusUntrusted || got.SigningID != "com.example.tool" || !got.AdHoc || got.Arch != "arm64" {
			t.Errorf("fat=%v: %+v", fat, got)
		}
	}
}

// Every hostile mutation of a valid signature is refused with the status
// and detail named here, never a panic.
func TestSynthHostile(t *testing.T) {
	good := synth{codeLen: 10000, ident: "x", flags: FlagAdhoc}.build()
	sl, _, _ := sigOf(t, good, "arm64")
	sig := sl.SigOff
	be := binary.BigEndian
	cases := []struct {
		name   string
		mutate func(b []byte) []byte
		status string
		detail string
	}{
		{"superblob magic", func(b []byte) []byte { b[sig] ^= 1; return b }, StatusInvalid, "superblob magic"},
		{"superblob count huge", func(b []byte) []byte { be.PutUint32(b[sig+8:], 1<<31); return b }, StatusInvalid, "index of"},
		{"blob offset inside index", func(b []byte) []byte { be.PutUint32(b[sig+16:], 4); return b }, StatusInvalid, "outside the superblob"},
		{"cd length zero", func(b []byte) []byte {
			off := be.Uint32(b[sig+16:])
			be.PutUint32(b[sig+int64(off)+4:], 0)
			return b
		}, StatusInvalid, "of 0 bytes"},
		{"cd version old", func(b []byte) []byte {
			off := int64(be.Uint32(b[sig+16:]))
			be.PutUint32(b[sig+off+8:], 0x100)
			return b
		}, StatusUnsupported, "version 0x100"},
		{"cd hash type unknown", func(b []byte) []byte {
			off := int64(be.Uint32(b[sig+16:]))
			b[sig+off+37] = 9
			return b
		}, StatusUnsupported, "hash type 9"},
		{"cd nCode lies", func(b []byte) []byte {
			off := int64(be.Uint32(b[sig+16:]))
			be.PutUint32(b[sig+off+28:], 0xffffffff)
			return b
		}, StatusInvalid, "hash slots"},
		{"cd ident unterminated", func(b []byte) []byte {
			off := int64(be.Uint32(b[sig+16:]))
			be.PutUint32(b[sig+off+20:], 0xfffffff0)
			return b
		}, StatusInvalid, "identifier"},
		{"requirements modified", func(b []byte) []byte {
			off := int64(be.Uint32(b[sig+24:]))
			b[sig+off+11] ^= 1
			return b
		}, StatusModified, "special slot 2 (requirements)"},
		{"code modified", func(b []byte) []byte { b[9000] ^= 1; return b }, StatusModified, "page 2 (bytes 8192-9999"},
		{"sig past eof", func(b []byte) []byte { return b[:len(b)-1] }, StatusInvalid, "outside the slice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := verifyBytes(tc.mutate(bytes.Clone(good)), "arm64")
			if got.Status != tc.status || got.Trusted || !got.Checked || !bytes.Contains([]byte(got.Detail), []byte(tc.detail)) {
				t.Errorf("got %q / %q, want %q / %q", got.Status, got.Detail, tc.status, tc.detail)
			}
		})
	}
}

func TestNotMachO(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("#!/bin/sh\necho hi\n"), {0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 61}} {
		got := verifyBytes(b, "arm64")
		if got.Status != StatusBadFormat || got.Exists || got.Trusted || !got.Checked {
			t.Errorf("%q: %+v", b, got)
		}
	}
	// A universal file without the host's slice.
	b := synth{codeLen: 5000, ident: "x", flags: FlagAdhoc, fat: true}.build()
	be := binary.BigEndian
	be.PutUint32(b[28:], uint32(7)) // the arm64 entry now says i386
	if got := verifyBytes(b, "arm64"); got.Status != StatusBadFormat {
		t.Errorf("%+v", got)
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func contains(s, sub string) bool { return bytes.Contains([]byte(s), []byte(sub)) }
