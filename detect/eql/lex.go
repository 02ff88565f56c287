package eql

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// tokKind is the kind of a token.
type tokKind uint8

const (
	tEOF         tokKind = iota
	tError               // a lexical error; tok.err holds it
	tIdent               // identifier or keyword: text holds it
	tTildeIdent          // identifier immediately followed by `~` (in~, like~, regex~, startsWith~ ...): text without the ~
	tQuotedIdent         // `backquoted`: text holds the unquoted name
	tString              // text holds the decoded value
	tInt                 // num holds the value
	tFloat               // flt holds the value
	tEq                  // ==
	tAssign              // =
	tNeq                 // !=
	tLt                  // <
	tLte                 // <=
	tGt                  // >
	tGte                 // >=
	tColon               // :
	tPlus                // +
	tMinus               // -
	tStar                // *
	tSlash               // /
	tPercent             // %
	tDot                 // .
	tComma               // ,
	tLBrack              // [
	tRBrack              // ]
	tLParen              // (
	tRParen              // )
	tPipe                // |
	tQuestion            // ?
	tMissing             // ![
)

var tokNames = [...]string{
	tEOF: "end of query", tError: "error", tIdent: "identifier", tTildeIdent: "identifier~",
	tQuotedIdent: "quoted identifier", tString: "string", tInt: "integer", tFloat: "number",
	tEq: `"=="`, tAssign: `"="`, tNeq: `"!="`, tLt: `"<"`, tLte: `"<="`, tGt: `">"`, tGte: `">="`,
	tColon: `":"`, tPlus: `"+"`, tMinus: `"-"`, tStar: `"*"`, tSlash: `"/"`, tPercent: `"%"`,
	tDot: `"."`, tComma: `","`, tLBrack: `"["`, tRBrack: `"]"`, tLParen: `"("`, tRParen: `")"`,
	tPipe: `"|"`, tQuestion: `"?"`, tMissing: `"!["`,
}

// token is one lexical token.
type token struct {
	kind tokKind
	pos  Pos
	text string // identifier name or decoded string value
	src  string // the token's source text, for messages
	num  int64
	flt  float64
	err  *Error
}

// describe renders the token for an "expected X, found Y" message.
func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of query"
	case tIdent:
		if keywords[t.text] {
			return "keyword " + strconv.Quote(t.text)
		}
		return "identifier " + strconv.Quote(t.text)
	case tTildeIdent:
		return strconv.Quote(t.text + "~")
	case tQuotedIdent:
		return "identifier `" + t.text + "`"
	case tString:
		return "string " + strconv.Quote(clip(t.text, 40))
	case tInt, tFloat:
		return "number " + t.src
	}
	return tokNames[t.kind]
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// keywords are the reserved words of the grammar (EqlBase.g4). They are
// case-sensitive, as in Elasticsearch's lexer.
var keywords = map[string]bool{
	"and": true, "any": true, "by": true, "false": true, "in": true, "join": true,
	"like": true, "maxspan": true, "not": true, "null": true, "of": true, "or": true,
	"regex": true, "sample": true, "sequence": true, "true": true, "until": true,
	"where": true, "with": true,
}

// lexer splits a query into tokens. Errors become a final tError token so
// that the parser reports an earlier syntax error first.
type lexer struct {
	src       string
	off       int
	line      int
	lineStart int
}

// tokenize returns the tokens of src, ending with tEOF or tError.
func tokenize(src string) []token {
	lx := &lexer{src: src, line: 1}
	var toks []token
	for {
		t := lx.next()
		toks = append(toks, t)
		if t.kind == tEOF || t.kind == tError {
			return toks
		}
	}
}

func (lx *lexer) pos() Pos { return Pos{Line: lx.line, Col: lx.off - lx.lineStart + 1} }

func (lx *lexer) errTok(p Pos, format string, args ...any) token {
	return token{kind: tError, pos: p, err: errorf(p, format, args...)}
}

// advance moves past n bytes, keeping line and column.
func (lx *lexer) advance(n int) {
	for i := 0; i < n && lx.off < len(lx.src); i++ {
		if lx.src[lx.off] == '\n' {
			lx.line++
			lx.lineStart = lx.off + 1
		}
		lx.off++
	}
}

// skip passes whitespace and comments.
func (lx *lexer) skip() *token {
	for lx.off < len(lx.src) {
		c := lx.src[lx.off]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			lx.advance(1)
		case strings.HasPrefix(lx.src[lx.off:], "//"):
			for lx.off < len(lx.src) && lx.src[lx.off] != '\n' {
				lx.off++
			}
		case strings.HasPrefix(lx.src[lx.off:], "/*"):
			// Bracketed comments nest, as BRACKETED_COMMENT in EqlBase.g4.
			p := lx.pos()
			depth := 0
			for {
				if lx.off >= len(lx.src) {
					t := lx.errTok(p, "unterminated comment")
					return &t
				}
				if strings.HasPrefix(lx.src[lx.off:], "/*") {
					depth++
					lx.advance(2)
				} else if strings.HasPrefix(lx.src[lx.off:], "*/") {
					depth--
					lx.advance(2)
					if depth == 0 {
						break
					}
				} else {
					lx.advance(1)
				}
			}
		default:
			return nil
		}
	}
	return nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

func (lx *lexer) next() token {
	if t := lx.skip(); t != nil {
		return *t
	}
	p := lx.pos()
	if lx.off >= len(lx.src) {
		return token{kind: tEOF, pos: p}
	}
	s := lx.src[lx.off:]
	c := s[0]
	simple := func(k tokKind, n int) token {
		lx.advance(n)
		return token{kind: k, pos: p, src: s[:n]}
	}
	switch {
	case isLetter(c) || c == '_' || c == '@':
		n := 1
		for n < len(s) && (isLetter(s[n]) || isDigit(s[n]) || s[n] == '_') {
			n++
		}
		name := s[:n]
		if n < len(s) && s[n] == '~' {
			lx.advance(n + 1)
			return token{kind: tTildeIdent, pos: p, text: name, src: s[:n+1]}
		}
		lx.advance(n)
		return token{kind: tIdent, pos: p, text: name, src: name}
	case isDigit(c) || c == '.' && len(s) > 1 && isDigit(s[1]):
		return lx.number(p)
	case c == '`':
		return lx.quotedIdent(p)
	case c == '"':
		return lx.str(p, 0)
	case c == '?' && len(s) > 1 && s[1] == '"':
		return lx.str(p, 1)
	case c == '\'':
		return lx.errTok(p, `use double quotes ["] to define string literals, not single quotes [']`)
	}
	switch c {
	case '=':
		if strings.HasPrefix(s, "==") {
			return simple(tEq, 2)
		}
		return simple(tAssign, 1)
	case '!':
		if strings.HasPrefix(s, "!=") {
			return simple(tNeq, 2)
		}
		if strings.HasPrefix(s, "![") {
			return simple(tMissing, 2)
		}
		if strings.HasPrefix(s, "!:") {
			return lx.errTok(p, `unknown operator "!:"; use "not field : value"`)
		}
		return lx.errTok(p, `unexpected character "!"; use "not" or "!="`)
	case '<':
		if strings.HasPrefix(s, "<=") {
			return simple(tLte, 2)
		}
		return simple(tLt, 1)
	case '>':
		if strings.HasPrefix(s, ">=") {
			return simple(tGte, 2)
		}
		return simple(tGt, 1)
	case ':':
		return simple(tColon, 1)
	case '+':
		return simple(tPlus, 1)
	case '-':
		return simple(tMinus, 1)
	case '*':
		return simple(tStar, 1)
	case '/':
		return simple(tSlash, 1)
	case '%':
		return simple(tPercent, 1)
	case '.':
		return simple(tDot, 1)
	case ',':
		return simple(tComma, 1)
	case '[':
		return simple(tLBrack, 1)
	case ']':
		return simple(tRBrack, 1)
	case '(':
		return simple(tLParen, 1)
	case ')':
		return simple(tRParen, 1)
	case '|':
		return simple(tPipe, 1)
	case '?':
		return simple(tQuestion, 1)
	}
	r, _ := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && len(s) > 0 && s[0] >= 0x80 {
		return lx.errTok(p, "invalid UTF-8 byte 0x%02x", s[0])
	}
	return lx.errTok(p, "unexpected character %q", r)
}

// number lexes INTEGER_VALUE or DECIMAL_VALUE. An exponent is taken only
// when digits follow the e, so `30s` and `1e` stay a number and a unit.
func (lx *lexer) number(p Pos) token {
	s := lx.src[lx.off:]
	n := 0
	for n < len(s) && isDigit(s[n]) {
		n++
	}
	isFloat := false
	if n < len(s) && s[n] == '.' && !(n+1 < len(s) && (isLetter(s[n+1]) || s[n+1] == '_')) {
		isFloat = true
		n++
		for n < len(s) && isDigit(s[n]) {
			n++
		}
	}
	if n < len(s) && (s[n] == 'e' || s[n] == 'E') {
		m := n + 1
		if m < len(s) && (s[m] == '+' || s[m] == '-') {
			m++
		}
		if m < len(s) && isDigit(s[m]) {
			for m < len(s) && isDigit(s[m]) {
				m++
			}
			n = m
			isFloat = true
		}
	}
	text := s[:n]
	lx.advance(n)
	if isFloat {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return lx.errTok(p, "invalid number %s", text)
		}
		return token{kind: tFloat, pos: p, flt: f, src: text}
	}
	i, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return lx.errTok(p, "number %s is too large", text)
	}
	return token{kind: tInt, pos: p, num: i, src: text}
}

// quotedIdent lexes `name`; a doubled backquote stands for one.
func (lx *lexer) quotedIdent(p Pos) token {
	s := lx.src[lx.off:]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '`':
			if i+1 < len(s) && s[i+1] == '`' {
				b.WriteByte('`')
				i++
				continue
			}
			lx.advance(i + 1)
			if b.Len() == 0 {
				return lx.errTok(p, "empty quoted identifier")
			}
			return token{kind: tQuotedIdent, pos: p, text: b.String(), src: s[:i+1]}
		case '\n', '\r':
			return lx.errTok(p, "unterminated quoted identifier")
		default:
			b.WriteByte(s[i])
		}
	}
	return lx.errTok(p, "unterminated quoted identifier")
}

// str lexes a string starting at the current offset; skip is 1 for the ?
// of ?"..." raw strings.
//
// Forms (STRING in EqlBase.g4):
//   - "..."  with escapes \n \r \t \b \f \" \' \\ and \u{X..X} (2-8 hex
//     digits); an unknown escape such as \w is kept as is, backslash
//     included, like Elasticsearch's unquoteString.
//   - """...""" raw: no escapes, no line breaks; up to two extra quotes
//     before the end belong to the value (`"""a""""` is `a"`).
//   - ?"..." and ?"""...""" raw strings (Endgame EQL syntax; current
//     Elasticsearch rejects the ? forms, macsensor accepts them).
//
// Strings never span lines.
func (lx *lexer) str(p Pos, skip int) token {
	s := lx.src[lx.off+skip:]
	if strings.HasPrefix(s, `"""`) {
		for i := 3; i+3 <= len(s); i++ {
			if s[i] == '\n' || s[i] == '\r' {
				break
			}
			if strings.HasPrefix(s[i:], `"""`) {
				end := i + 3
				for k := 0; k < 2 && end < len(s) && s[end] == '"'; k++ {
					end++
				}
				lx.advance(skip + end)
				return token{kind: tString, pos: p, text: s[3 : end-3], src: s[:end]}
			}
		}
		return lx.errTok(p, "unterminated string")
	}
	if skip == 1 {
		// ?"...": raw; \" does not end the string and is kept verbatim.
		for i := 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				if i+1 < len(s) && s[i+1] == '"' {
					i++
				}
			case '"':
				lx.advance(skip + i + 1)
				return token{kind: tString, pos: p, text: s[1:i], src: s[:i+1]}
			case '\n', '\r':
				return lx.errTok(p, "unterminated string")
			}
		}
		return lx.errTok(p, "unterminated string")
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			lx.advance(i + 1)
			return token{kind: tString, pos: p, text: b.String(), src: s[:i+1]}
		case '\n', '\r':
			return lx.errTok(p, "unterminated string")
		case '\\':
			if i+1 >= len(s) {
				return lx.errTok(p, "unterminated string")
			}
			i++
			switch e := s[i]; e {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case '"', '\'', '\\':
				b.WriteByte(e)
			case 'u':
				ep := Pos{Line: p.Line, Col: p.Col + skip + i - 1}
				if i+1 >= len(s) || s[i+1] != '{' {
					return lx.errTok(ep, `invalid unicode escape; use \u{XXXX} with 2-8 hex digits`)
				}
				end := strings.IndexByte(s[i+2:], '}')
				if end < 0 {
					return lx.errTok(ep, `invalid unicode escape; use \u{XXXX} with 2-8 hex digits`)
				}
				hex := s[i+2 : i+2+end]
				if len(hex) < 2 || len(hex) > 8 {
					return lx.errTok(ep, "unicode sequence should use [2-8] hex digits, [\\u{%s}] has [%d]", clip(hex, 16), len(hex))
				}
				v, err := strconv.ParseUint(hex, 16, 32)
				if err != nil {
					return lx.errTok(ep, "invalid unicode character code [%s]", hex)
				}
				if v >= 0xD800 && v <= 0xDFFF {
					return lx.errTok(ep, "invalid unicode character code, [%s] is a surrogate code", hex)
				}
				if v > utf8.MaxRune {
					return lx.errTok(ep, "invalid unicode character code [%s]", hex)
				}
				b.WriteRune(rune(v))
				i += 2 + end
			default:
				b.WriteByte('\\')
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return lx.errTok(p, "unterminated string")
}
