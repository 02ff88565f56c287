package eql

import (
	"fmt"
	"regexp"
	"strings"
)

// Elasticsearch runs `regex` as a Lucene regexp query (RegexpQueryBuilder,
// default flags ALL), whose syntax differs from Go's RE2:
//
//   - The pattern always matches the whole value: there are no anchors, and
//     ^ and $ are ordinary characters.
//   - `\c` makes any character c literal (so `\n` is the letter n, not a
//     newline: a newline is written as an EQL string escape before the
//     regex sees it), except the shorthand classes \d \D \s \S \w \W.
//   - "..." is a literal string, @ matches any string, # matches nothing.
//   - `.` matches any character, newlines included.
//   - A quantifier applies to everything before it: `a+?` is `(a+)?`, not a
//     lazy `a+` (the languages differ: "" matches the former only).
//   - & (intersection), ~ (complement) and <n-m> (numeric interval) have no
//     RE2 equivalent: patterns using them are rejected at compile time.
//
// translateRegex turns a Lucene pattern into an anchored RE2 pattern with
// the same language for everything else. regex~ adds (?i), RE2's Unicode
// simple folding, where Lucene's case_insensitive flag folds similarly.
func translateRegex(pat string, fold bool) (*regexp.Regexp, error) {
	t := &luceneRegex{src: pat}
	body, err := t.translate()
	if err != nil {
		return nil, err
	}
	flags := "(?s)"
	if fold {
		flags = "(?is)"
	}
	re, err := regexp.Compile(flags + "^(?:" + body + ")$")
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression %q: %w", pat, err)
	}
	return re, nil
}

type luceneRegex struct {
	src string
	i   int
}

type regexErr struct{ msg string }

func (t *luceneRegex) fail(format string, args ...any) {
	panic(regexErr{fmt.Sprintf(format, args...)})
}

func (t *luceneRegex) translate() (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			re, ok := r.(regexErr)
			if !ok {
				panic(r)
			}
			out, err = "", fmt.Errorf("invalid regular expression %q: %s", t.src, re.msg)
		}
	}()
	out = t.union(0)
	if t.i < len(t.src) {
		t.fail("unexpected %q at offset %d", t.src[t.i], t.i)
	}
	return out, nil
}

func (t *luceneRegex) more() bool { return t.i < len(t.src) }

// union: concat ('|' concat)*
func (t *luceneRegex) union(depth int) string {
	if depth > 100 {
		t.fail("groups nested too deeply")
	}
	var parts []string
	for {
		parts = append(parts, t.concat(depth))
		if t.more() && t.src[t.i] == '|' {
			t.i++
			continue
		}
		return strings.Join(parts, "|")
	}
}

// concat: repeat*
func (t *luceneRegex) concat(depth int) string {
	var b strings.Builder
	for t.more() {
		c := t.src[t.i]
		if c == '|' || c == ')' {
			break
		}
		if c == '&' {
			t.fail("intersection (&) is not supported")
		}
		b.WriteString(t.repeat(depth))
	}
	return b.String()
}

// repeat: atom (? | * | + | {n} | {n,} | {n,m})*
func (t *luceneRegex) repeat(depth int) string {
	if t.src[t.i] == '~' {
		t.fail("complement (~) is not supported")
	}
	atom := t.atom(depth)
	quantified := false
	for t.more() {
		c := t.src[t.i]
		var q string
		switch c {
		case '?', '*', '+':
			q = string(c)
			t.i++
		case '{':
			end := strings.IndexByte(t.src[t.i:], '}')
			if end < 0 {
				t.fail("unterminated repetition {")
			}
			q = t.src[t.i : t.i+end+1]
			if !validRepeat(q[1 : len(q)-1]) {
				t.fail("invalid repetition %s", q)
			}
			t.i += end + 1
		default:
			return atom
		}
		if quantified {
			atom = "(?:" + atom + ")"
		}
		atom += q
		quantified = true
	}
	return atom
}

func validRepeat(s string) bool {
	lo, hi, comma := s, "", false
	if k := strings.IndexByte(s, ','); k >= 0 {
		lo, hi, comma = s[:k], s[k+1:], true
	}
	digits := func(x string) bool {
		for i := 0; i < len(x); i++ {
			if !isDigit(x[i]) {
				return false
			}
		}
		return true
	}
	return lo != "" && digits(lo) && digits(hi) && (comma || hi == "")
}

// atom: literal | \c | . | [class] | "string" | ( union ) | @ | #
func (t *luceneRegex) atom(depth int) string {
	c := t.src[t.i]
	switch c {
	case '(':
		t.i++
		inner := t.union(depth + 1)
		if !t.more() || t.src[t.i] != ')' {
			t.fail("missing )")
		}
		t.i++
		return "(?:" + inner + ")"
	case '[':
		return t.class()
	case '.':
		t.i++
		return "."
	case '@':
		t.i++
		return "(?:.*)"
	case '#':
		t.i++
		return `[^\x00-\x{10FFFF}]`
	case '"':
		end := strings.IndexByte(t.src[t.i+1:], '"')
		if end < 0 {
			t.fail("unterminated quoted string")
		}
		lit := t.src[t.i+1 : t.i+1+end]
		t.i += end + 2
		return "(?:" + regexp.QuoteMeta(lit) + ")"
	case '<':
		t.fail("numeric interval (<n-m>) is not supported")
	case '\\':
		t.i++
		if !t.more() {
			t.fail("trailing backslash")
		}
		return t.escaped()
	case '?', '*', '+', '{':
		t.fail("nothing to repeat before %q", c)
	case ']', '}':
		t.i++
		return `\` + string(c)
	}
	r, n := decodeRune(t.src, t.i)
	if r < 0 {
		t.fail("invalid UTF-8 byte 0x%02x", t.src[t.i])
	}
	t.i += n
	return regexp.QuoteMeta(string(r))
}

// escaped renders the character after a backslash.
func (t *luceneRegex) escaped() string {
	c := t.src[t.i]
	switch c {
	case 'd', 'D', 's', 'S', 'w', 'W':
		t.i++
		return `\` + string(c)
	}
	r, n := decodeRune(t.src, t.i)
	if r < 0 {
		t.fail("invalid UTF-8 byte 0x%02x", c)
	}
	t.i += n
	return regexp.QuoteMeta(string(r))
}

// class translates [...] / [^...].
func (t *luceneRegex) class() string {
	t.i++ // [
	var b strings.Builder
	b.WriteByte('[')
	if t.more() && t.src[t.i] == '^' {
		b.WriteByte('^')
		t.i++
	}
	n := 0
	for {
		if !t.more() {
			t.fail("missing ]")
		}
		c := t.src[t.i]
		if c == ']' && n > 0 {
			t.i++
			break
		}
		n++
		switch {
		case c == '\\':
			t.i++
			if !t.more() {
				t.fail("trailing backslash")
			}
			e := t.src[t.i]
			if strings.IndexByte("dDsSwW", e) >= 0 {
				b.WriteByte('\\')
				b.WriteByte(e)
				t.i++
				continue
			}
			r, sz := decodeRune(t.src, t.i)
			if r < 0 {
				t.fail("invalid UTF-8 byte 0x%02x", e)
			}
			t.i += sz
			writeClassRune(&b, r)
		case c == '-' && n > 1 && t.i+1 < len(t.src) && t.src[t.i+1] != ']':
			b.WriteByte('-')
			t.i++
		default:
			r, sz := decodeRune(t.src, t.i)
			if r < 0 {
				t.fail("invalid UTF-8 byte 0x%02x", c)
			}
			t.i += sz
			writeClassRune(&b, r)
		}
	}
	b.WriteByte(']')
	return b.String()
}

// writeClassRune writes r as a literal inside an RE2 character class.
func writeClassRune(b *strings.Builder, r rune) {
	if r > ' ' && r < 0x7f && !isLetter(byte(r)) && !isDigit(byte(r)) {
		b.WriteByte('\\')
	}
	b.WriteRune(r)
}
