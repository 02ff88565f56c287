package eql

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestWildcard(t *testing.T) {
	tests := []struct {
		pat, s string
		fold   bool
		want   bool
	}{
		{"", "", false, true},
		{"", "a", false, false},
		{"*", "", false, true},
		{"*", "anything", false, true},
		{"**", "x", false, true},
		{"?", "", false, false},
		{"?", "é", false, true}, // one character, two bytes
		{"??", "é", false, false},
		{"a*", "abc", false, true},
		{"*c", "abc", false, true},
		{"a*c", "ac", false, true},
		{"a*c", "ab", false, false},
		{"a*b*c", "aXbYc", false, true},
		{"a*b*c", "aXcYb", false, false},
		{"*ab*ab*", "abab", false, true},
		{"*ab*ab*", "aba", false, false},
		{"a?c", "abc", false, true},
		{"a?c", "abbc", false, false},
		{"*%*", "50%", false, true},
		{`C:\*`, `C:\Windows`, false, true}, // no escape character
		{"ABC", "abc", false, false},
		{"ABC", "abc", true, true},
		{"a*C", "AxxC", true, true},
		{"*kelvin*", "KELVIN", true, true},
		{"k", "\u212a", true, true}, // KELVIN SIGN folds to k
		{"*K*", "x\u212ay", true, true},
		{"s", "ſ", true, true},
		{"ß", "ẞ", true, true},
		{"ß", "ss", true, false},
		{"?", "\u212a", true, true},
		{"é?", "Éx", true, true},
		{"*.EXE", "cmd.exe", true, true},
		{"*.EXE", "cmd.ex", true, false},
		{"x", "\xff", false, false},
		{"?", "\xff", false, true},
		{"*\xff", "a\xff", true, true},
	}
	for _, tt := range tests {
		w := compileWildcard(tt.pat, tt.fold)
		if got := w.match(tt.s); got != tt.want {
			t.Errorf("match(%q, %q, fold=%v) = %v, want %v", tt.pat, tt.s, tt.fold, got, tt.want)
		}
	}
}

// wildcardRegexp is the reference for wildcard matching: the same pattern
// as an anchored RE2 expression (RE2's (?i) is Unicode simple folding).
func wildcardRegexp(pat string, fold bool) *regexp.Regexp {
	var re strings.Builder
	re.WriteString("(?s)")
	if fold {
		re.WriteString("(?i)")
	}
	re.WriteString("^")
	for _, c := range pat {
		switch c {
		case '*':
			re.WriteString(".*")
		case '?':
			re.WriteString(".")
		default:
			re.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	re.WriteString("$")
	return regexp.MustCompile(re.String())
}

// FuzzWildcard compares the wildcard matcher with the regexp reference on
// valid UTF-8 (RE2 reads invalid bytes as U+FFFD, the matcher as
// themselves).
func FuzzWildcard(f *testing.F) {
	f.Add("*curl*", "/usr/bin/CURL -o x")
	f.Add("a?c*k", "ABC\u212a")
	f.Add("*ab*ab*", "xxabyab")
	f.Add("?:\\users\\*", "C:\\Users\\bob")
	f.Fuzz(func(t *testing.T, pat, s string) {
		if !utf8.ValidString(pat) || !utf8.ValidString(s) || len(pat) > 64 || len(s) > 256 {
			return
		}
		for _, fold := range []bool{false, true} {
			want := wildcardRegexp(pat, fold).MatchString(s)
			if got := compileWildcard(pat, fold).match(s); got != want {
				t.Fatalf("match(%q, %q, fold=%v) = %v, regexp says %v", pat, s, fold, got, want)
			}
		}
	})
}

// TestWildcardReference compares the matcher with a regexp built from the
// same pattern over random patterns and texts.
func TestWildcardReference(t *testing.T) {
	patAlpha := []string{"a", "b", "A", "*", "?", "é", "É", "k", "ſ", "."}
	textAlpha := []string{"a", "b", "A", "B", "é", "É", "k", "K", "\u212a", "s", "S", "ſ", ".", "ab", "AB", "aaaaaaaa", "BaBaBaBa"}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		var pb, sb strings.Builder
		for n := r.IntN(7); n > 0; n-- {
			pb.WriteString(patAlpha[r.IntN(len(patAlpha))])
		}
		for n := r.IntN(9); n > 0; n-- {
			sb.WriteString(textAlpha[r.IntN(len(textAlpha))])
		}
		pat, s := pb.String(), sb.String()
		for _, fold := range []bool{false, true} {
			want := wildcardRegexp(pat, fold).MatchString(s)
			if got := compileWildcard(pat, fold).match(s); got != want {
				t.Fatalf("match(%q, %q, fold=%v) = %v, regexp says %v", pat, s, fold, got, want)
			}
		}
	}
}

func TestEqualCanon(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"", "", true},
		{"abc", "ABC", true},
		{"abc", "ABD", false},
		{"Straße", "STRAẞE", true},
		{"\u212a", "k", true},
		{"ab", "abc", false},
		{"ÄRGER", "ärger", true},
	} {
		if got := len(tt.a) >= len(canonString(tt.b)) && equalCanon(tt.a, canonString(tt.b)); got != tt.want {
			t.Errorf("equalCanon(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestUpper8(t *testing.T) {
	for c := 0; c < 0x80; c++ {
		for pos := 0; pos < 8; pos++ {
			var b [8]byte
			for k := range b {
				b[k] = byte('a' + k)
			}
			b[pos] = byte(c)
			got := upper8(load64(string(b[:]), 0))
			for k := 0; k < 8; k++ {
				if w := asciiCanon[b[k]]; byte(got>>(8*k)) != w {
					t.Fatalf("upper8(%q) byte %d = %q, want %q", b, k, byte(got>>(8*k)), w)
				}
			}
		}
	}
}
