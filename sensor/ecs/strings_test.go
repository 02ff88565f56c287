package ecs

import (
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestStopMask compares stopMask with the byte table on words built from
// the interesting bytes (stops, their neighbours, borrow triggers).
func TestStopMask(t *testing.T) {
	pool := []byte{0, 1, 0x1f, 0x20, 0x21, '"', 0x23, '[', '\\', ']', 'a', 0x7e, 0x7f, 0x80, 0x81, 0x9f, 0xa0, 0xdb, 0xdc, 0xfe, 0xff}
	rng := rand.New(rand.NewPCG(1, 2))
	var w [8]byte
	for n := 0; n < 1_000_000; n++ {
		for i := range w {
			if rng.IntN(3) == 0 {
				w[i] = byte(rng.IntN(256))
			} else {
				w[i] = pool[rng.IntN(len(pool))]
			}
		}
		want := 8
		for i, c := range w {
			if strStop[c] {
				want = i
				break
			}
		}
		got := 8
		if m := stopMask(binary.LittleEndian.Uint64(w[:])); m != 0 {
			got = bits.TrailingZeros64(m) / 8
		}
		if got != want {
			t.Fatalf("stopMask(% x): first stop %d, want %d", w, got, want)
		}
	}
}

// escapeInvalid is the reference for invalid UTF-8: each bad byte
// becomes the text \xNN.
func escapeInvalid(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(`\x` + string(hexDigits[s[i]>>4]) + string(hexDigits[s[i]&0xf]))
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func randomString(rng *rand.Rand) string {
	pieces := []string{"a", "Z", "/", " ", "\"", "\\", "\n", "\t", "\x00", "\x1f", "\x7f", "é", "€", "😀", "\u2028", "\ufffd",
		"\x80", "\xff", "\xe2\x82", "\xed\xa0\x80", "\xf0\x9f\x98", "0123456789abcdef"}
	var b strings.Builder
	for n := rng.IntN(40); n > 0; n-- {
		b.WriteString(pieces[rng.IntN(len(pieces))])
	}
	return b.String()
}

// TestStringsAgainstEncodingJSON checks appendString and the decoder's
// string reading against encoding/json on random strings, invalid UTF-8
// included.
func TestStringsAgainstEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 0; n < 20_000; n++ {
		s := randomString(rng)
		want := escapeInvalid(s)
		enc := AppendString(nil, s)
		if !utf8.Valid(enc) {
			t.Fatalf("AppendString(%q) is not valid UTF-8: %q", s, enc)
		}
		var std string
		if err := json.Unmarshal(enc, &std); err != nil || std != want {
			t.Fatalf("AppendString(%q) = %s: encoding/json reads %q (%v), want %q", s, enc, std, err, want)
		}
		// Decode reads what encoding/json writes, and raw invalid bytes.
		stdEnc, _ := json.Marshal(want)
		for _, line := range [][]byte{
			[]byte(`{"k":` + string(stdEnc) + `}`),
			[]byte(`{"k":"` + strings.NewReplacer(`"`, `\"`, `\`, `\\`, "\n", `\n`, "\t", `\t`, "\x00", `\u0000`, "\x1f", `\u001f`).Replace(s) + `"}`),
		} {
			var e Event
			if err := Decode(line, &e); err != nil {
				t.Fatalf("Decode(%q): %v", line, err)
			}
			if got := e.Fields.Get("k").Str; got != want {
				t.Fatalf("Decode(%q) = %q, want %q", line, got, want)
			}
		}
	}
}
