package eql

import (
	"strings"
	"testing"
)

func TestTranslateRegex(t *testing.T) {
	tests := []struct {
		lucene  string
		fold    bool
		match   []string
		nomatch []string
	}{
		{`abc`, false, []string{"abc"}, []string{"ab", "abcd", "ABC"}},
		{`abc`, true, []string{"abc", "ABC", "aBc"}, []string{"abd"}},
		{`a.c`, false, []string{"abc", "a\nc"}, []string{"ac"}},
		{`.*net1\s+localgroup.*`, false, []string{"net1  localgroup admins"}, []string{"net localgroup"}},
		{`[0-9]{1,3}\.[0-9]{1,3}`, false, []string{"1.22", "123.4"}, []string{"1234.5", "1x2"}},
		{`https?:\/\/x`, false, []string{"http://x", "https://x"}, []string{"ftp://x"}},
		{`/[a-z0-9\s_\-\\./]+\s`, true, []string{"/Tmp/a-b\\c ", "/x "}, []string{"/x"}},
		{`[^a]b`, false, []string{"xb"}, []string{"ab"}},
		{`[]a]`, false, []string{"]", "a"}, []string{"b"}},
		{`[a-]`, false, []string{"a", "-"}, []string{"b"}},
		{`^a$`, false, []string{"^a$"}, []string{"a"}},
		{`\n`, false, []string{"n"}, []string{"\n"}},
		{`\d+`, false, []string{"123"}, []string{"12a"}},
		{`"a.b"c`, false, []string{"a.bc"}, []string{"axbc"}},
		{`a@`, false, []string{"a", "abc\nd"}, []string{"b"}},
		{`a#|b`, false, []string{"b"}, []string{"a", ""}},
		{`a+?`, false, []string{"", "a", "aa"}, []string{"b"}},    // (a+)? in Lucene
		{`(ab){2}?`, false, []string{"", "abab"}, []string{"ab"}}, // ((ab){2})?
		{`.*?x`, false, []string{"x", "yyx"}, []string{"xy"}},
		{`a|b|`, false, []string{"a", "b", ""}, []string{"c"}},
		{`()`, false, []string{""}, []string{"a"}},
		{`ä+`, true, []string{"ÄÄ", "ä"}, []string{"a"}},
		{`[24][0-9]{3}`, false, []string{"2755", "4000"}, []string{"755", "3000"}},
		{`{}`, false, nil, nil}, // invalid: checked below
	}
	for _, tt := range tests {
		re, err := translateRegex(tt.lucene, tt.fold)
		if tt.match == nil {
			if err == nil {
				t.Errorf("translateRegex(%q): no error", tt.lucene)
			}
			continue
		}
		if err != nil {
			t.Errorf("translateRegex(%q): %v", tt.lucene, err)
			continue
		}
		for _, s := range tt.match {
			if !re.MatchString(s) {
				t.Errorf("%q (RE2 %s) does not match %q", tt.lucene, re, s)
			}
		}
		for _, s := range tt.nomatch {
			if re.MatchString(s) {
				t.Errorf("%q (RE2 %s) matches %q", tt.lucene, re, s)
			}
		}
	}
}

func TestTranslateRegexErrors(t *testing.T) {
	for _, tt := range []struct{ lucene, want string }{
		{`a&b`, "intersection (&) is not supported"},
		{`~a`, "complement (~) is not supported"},
		{`<1-10>`, "numeric interval (<n-m>) is not supported"},
		{`(a`, "missing )"},
		{`a)`, `unexpected ')'`},
		{`[a`, "missing ]"},
		{`a\`, "trailing backslash"},
		{`*a`, "nothing to repeat"},
		{`"abc`, "unterminated quoted string"},
		{`a{1,x}`, "invalid repetition {1,x}"},
		{`a{2`, "unterminated repetition {"},
		{`a{1001}`, "invalid repeat count"},
	} {
		_, err := translateRegex(tt.lucene, false)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("translateRegex(%q) = %v, want an error containing %q", tt.lucene, err, tt.want)
		}
	}
}
