package eql

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// sexpr renders a parsed query as an S-expression for table tests.
func sexpr(q *Query) string {
	var b strings.Builder
	if q.Event != nil {
		writeEvent(&b, q.Event)
	} else {
		s := q.Sequence
		b.WriteString("(sequence")
		if len(s.By) > 0 {
			b.WriteString(" by")
			writeFields(&b, s.By)
		}
		if s.MaxSpan != 0 {
			fmt.Fprintf(&b, " maxspan=%s", s.MaxSpan)
		}
		for _, st := range s.Stages {
			b.WriteByte(' ')
			writeStage(&b, st)
		}
		if s.Until != nil {
			b.WriteString(" until ")
			writeStage(&b, *s.Until)
		}
		b.WriteByte(')')
	}
	for _, p := range q.Pipes {
		fmt.Fprintf(&b, " | %s %d", p.Name, p.N)
	}
	return b.String()
}

func writeStage(b *strings.Builder, st Stage) {
	b.WriteByte('[')
	writeEvent(b, &st.Query)
	if len(st.By) > 0 {
		b.WriteString(" by")
		writeFields(b, st.By)
	}
	if st.Runs != 1 {
		fmt.Fprintf(b, " runs=%d", st.Runs)
	}
	b.WriteByte(']')
}

func writeFields(b *strings.Builder, fs []*Field) {
	for _, f := range fs {
		b.WriteByte(' ')
		writeExpr(b, f)
	}
}

func writeEvent(b *strings.Builder, eq *EventQuery) {
	cat := eq.Category
	if cat == "" {
		cat = "any"
	}
	fmt.Fprintf(b, "(%s ", cat)
	writeExpr(b, eq.Cond)
	b.WriteByte(')')
}

var opStrings = map[Op]string{
	OpEq: "==", OpNeq: "!=", OpLt: "<", OpLte: "<=", OpGt: ">", OpGte: ">=", OpSeq: ":",
	OpLike: "like", OpLikeI: "like~", OpRegex: "regex", OpRegexI: "regex~", OpIn: "in", OpInI: "in~",
}

func writeExpr(b *strings.Builder, x Expr) {
	switch x := x.(type) {
	case *Field:
		if x.Optional {
			b.WriteByte('?')
		}
		b.WriteString(x.Path)
	case *Literal:
		switch x.Value.Kind {
		case ecs.KindString:
			b.WriteString(strconv.Quote(x.Value.Str))
		case ecs.KindInt:
			b.WriteString(strconv.FormatInt(x.Value.Int, 10))
		case ecs.KindFloat:
			b.WriteString(strconv.FormatFloat(x.Value.Float, 'g', -1, 64) + "f")
		case ecs.KindBool:
			b.WriteString(strconv.FormatBool(x.Value.Int != 0))
		case ecs.KindNull:
			b.WriteString("null")
		}
	case *Compare:
		fmt.Fprintf(b, "(%s ", opStrings[x.Op])
		writeExpr(b, x.Left)
		for _, r := range x.Right {
			b.WriteByte(' ')
			writeExpr(b, r)
		}
		b.WriteByte(')')
	case *Not:
		b.WriteString("(not ")
		writeExpr(b, x.X)
		b.WriteByte(')')
	case *And:
		b.WriteString("(and")
		for _, y := range x.X {
			b.WriteByte(' ')
			writeExpr(b, y)
		}
		b.WriteByte(')')
	case *Or:
		b.WriteString("(or")
		for _, y := range x.X {
			b.WriteByte(' ')
			writeExpr(b, y)
		}
		b.WriteByte(')')
	case *Call:
		b.WriteByte('(')
		b.WriteString(x.Name)
		if x.Insensitive {
			b.WriteByte('~')
		}
		for _, a := range x.Args {
			b.WriteByte(' ')
			writeExpr(b, a)
		}
		b.WriteByte(')')
	case *Arith:
		fmt.Fprintf(b, "(%c ", x.Op)
		writeExpr(b, x.X)
		b.WriteByte(' ')
		writeExpr(b, x.Y)
		b.WriteByte(')')
	case *Neg:
		b.WriteString("(neg ")
		writeExpr(b, x.X)
		b.WriteByte(')')
	default:
		fmt.Fprintf(b, "<%T>", x)
	}
}

func TestParseTree(t *testing.T) {
	tests := []struct{ query, want string }{
		{`process where true`, `(process true)`},
		{`any where false`, `(any false)`},
		{`"my-category" where x == 1`, `(my-category (== x 1))`},
		{`process where process.name == "automator"`, `(process (== process.name "automator"))`},
		{`process where a == 1 and b != 2 or c < 3 and d <= 4 or e > 5 or f >= 6`,
			`(process (or (and (== a 1) (!= b 2)) (and (< c 3) (<= d 4)) (> e 5) (>= f 6)))`},
		{`process where not a == 1 and b`, `(process (and (not (== a 1)) b))`},
		{`process where not (a or b)`, `(process (not (or a b)))`},
		{`process where not not a`, `(process (not (not a)))`},
		{`process where a in ("x", "y") and b not in (1, 2) and c in~ ("Z") and d not in~ ("w")`,
			`(process (and (in a "x" "y") (not (in b 1 2)) (in~ c "Z") (not (in~ d "w"))))`},
		{`process where a : "x*" and b : ("y", "z?") and c like "A*" and d like~ ("b", "c") and e regex ".*" and f regex~ ("a", "b")`,
			`(process (and (: a "x*") (: b "y" "z?") (like c "A*") (like~ d "b" "c") (regex e ".*") (regex~ f "a" "b")))`},
		{`process where ?process.code_signature.trusted == false`, `(process (== ?process.code_signature.trusted false))`},
		{"process where `my field`.`sub``tick` == null", "(process (== my field.sub`tick null))"},
		{`process where @timestamp > 0 and event.sequence > 1`, `(process (and (> @timestamp 0) (> event.sequence 1)))`},
		{`process where a == -1 and b > -2.5 and c < .5 and d == 1e3 and e == +4`,
			`(process (and (== a -1) (> b -2.5f) (< c 0.5f) (== d 1000f) (== e 4)))`},
		{`process where -1 < exit_code`, `(process (< -1 exit_code))`},
		{`file where serial_event_id - 1 == 81 and -x + 100 == 18 and a * 2 + b / 3 % 4 == 0`,
			`(file (and (== (- serial_event_id 1) 81) (== (+ (neg x) 100) 18) (== (+ (* a 2) (% (/ b 3) 4)) 0)))`},
		{`network where cidrmatch(source.ip, "10.0.0.0/8", "::1") and startsWith~(process.name, "Py")`,
			`(network (and (cidrmatch source.ip "10.0.0.0/8" "::1") (startsWith~ process.name "Py")))`},
		{`process where length(between(process_name, "g", "e")) > 0`, `(process (> (length (between process_name "g" "e")) 0))`},
		{`process where concat() == null`, `(process (== (concat) null))`},
		{"process where a == \"x\" // comment \"quoted\"\n and b == \"// not a comment\"",
			`(process (and (== a "x") (== b "// not a comment")))`},
		{`process where /* a /* nested */ comment */ a == "/* not a comment */"`, `(process (== a "/* not a comment */"))`},
		{`process where a == "tab\there \"q\" back\\slash \n \r \u{41}\u{0001F600} \w"`,
			`(process (== a "tab\there \"q\" back\\slash \n \r A😀 \\w"))`},
		{`process where a == """raw \n "quoted" \ end"""`, `(process (== a "raw \\n \"quoted\" \\ end"))`},
		{`process where a == """ends with quotes"""""`, `(process (== a "ends with quotes\"\""))`},
		{`process where a == ?"raw \d \" x" and b == ?"""r\"""`, `(process (and (== a "raw \\d \\\" x") (== b "r\\")))`},
		{`process where true | head 5 | tail 2`, `(process true) | head 5 | tail 2`},
		{seedQuery,
			`(sequence by host.id maxspan=30s [(process (and (== host.os.type "macos") (in event.type "start" "process_started") (== process.name "automator")))] [(network (and (== host.os.type "macos") (: process.name "com.apple.automator.runner")))])`},
		{`sequence [process where a] by x, ?y [file where b] by z, w with runs=3 until [process where c] by p, q`,
			`(sequence [(process a) by x ?y] [(file b) by z w runs=3] until [(process c) by p q])`},
		{`sequence by user.name [process where a] with runs = 5`, `(sequence by user.name [(process a) runs=5])`},
		{`sequence with maxspan=500ms [a where true] [b where true] | tail 1`,
			`(sequence maxspan=500ms [(a true)] [(b true)]) | tail 1`},
	}
	for _, tt := range tests {
		q, err := Parse(tt.query)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.query, err)
			continue
		}
		if got := sexpr(q); got != tt.want {
			t.Errorf("Parse(%q)\n got %s\nwant %s", tt.query, got, tt.want)
		}
	}
}

// TestParsePositions checks the AST's positions and sequence fields exactly.
func TestParsePositions(t *testing.T) {
	want := &Sequence{
		Pos:     Pos{1, 1},
		By:      []*Field{{Pos: Pos{1, 13}, Path: "host.id"}},
		MaxSpan: 2 * time.Minute,
		Stages: []Stage{
			{Pos: Pos{2, 3}, Runs: 1, By: []*Field{{Pos: Pos{2, 31}, Path: "b", Optional: true}},
				Query: EventQuery{Pos: Pos{2, 4}, Category: "process", Cond: &Compare{Pos: Pos{2, 20}, Op: OpEq,
					Left: &Field{Pos: Pos{2, 18}, Path: "a"}, Right: []Expr{&Literal{Pos: Pos{2, 23}, Value: ecs.String("x")}}}}},
			{Pos: Pos{3, 3}, Runs: 1, By: []*Field{{Pos: Pos{3, 28}, Path: "f"}},
				Query: EventQuery{Pos: Pos{3, 4}, Category: "network", Cond: &Not{Pos: Pos{3, 18}, X: &Field{Pos: Pos{3, 22}, Path: "c"}}}},
		},
		Until: &Stage{Pos: Pos{4, 7}, Runs: 1, By: []*Field{{Pos: Pos{4, 35}, Path: "e"}},
			Query: EventQuery{Pos: Pos{4, 8}, Category: "process", Cond: &Compare{Pos: Pos{4, 24}, Op: OpIn,
				Left: &Field{Pos: Pos{4, 22}, Path: "d"}, Right: []Expr{&Literal{Pos: Pos{4, 28}, Value: ecs.Int(1)}}}}},
	}
	q, err := Parse("sequence by host.id with maxspan=2m\n  [process where a == \"x\"] by ?b\n  [network where not c] by f\nuntil [process where d in (1)] by e")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(q.Sequence, want) {
		t.Errorf("got  %#v\nwant %#v", q.Sequence, want)
		for i := range want.Stages {
			if !reflect.DeepEqual(q.Sequence.Stages[i], want.Stages[i]) {
				t.Errorf("stage %d: got %+v, want %+v", i, q.Sequence.Stages[i], want.Stages[i])
			}
		}
	}
	if q.Event != nil || len(q.Pipes) != 0 {
		t.Errorf("unexpected event query or pipes: %+v", q)
	}
	q, err = Parse("process where x == 1\n| head 3")
	if err != nil {
		t.Fatal(err)
	}
	if want := []Pipe{{Pos: Pos{2, 3}, Name: "head", N: 3}}; !reflect.DeepEqual(q.Pipes, want) {
		t.Errorf("pipes: got %+v, want %+v", q.Pipes, want)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ query, want string }{
		{`process where process.name == "abc`, `eql: line 1, col 31: unterminated string`},
		{"process where a == \"abc\ndef\"", `eql: line 1, col 20: unterminated string`},
		{`process where a == """abc""`, `eql: line 1, col 20: unterminated string`},
		{`process where process.name == 'abc'`, `eql: line 1, col 31: use double quotes ["] to define string literals, not single quotes [']`},
		{`sequence [process where true] [network where true`, `eql: line 1, col 50: expected "and", "or" or "]", found end of query`},
		{`sequence [process where true] [network where true) [file where true]`, `eql: line 1, col 50: expected "and", "or" or "]", found ")"`},
		{`sequence with maxspan=30x [process where true] [network where true]`, `eql: line 1, col 25: unrecognized time unit [x], please specify one of [ms, s, m, h, d]`},
		{`sequence with maxspan=30 [process where true] [network where true]`, `eql: line 1, col 26: no time unit specified, did you mean [s] as in [30s]?`},
		{`sequence with maxspan=1.5h [a where true] [b where true]`, `eql: line 1, col 23: decimal time interval [1.5] not supported; please use a positive integer`},
		{`sequence with maxspan=0s [a where true] [b where true]`, `eql: line 1, col 23: a positive maxspan value is required; found [0]`},
		{`sequence with maxspan=30s by host.id [process where true] [network where true]`, `eql: line 1, col 27: please specify sequence [by] before [with] not after`},
		{`sequence [process where true]`, `eql: line 1, col 1: a sequence requires a minimum of 2 queries, found [1]`},
		{`sequence by x`, `eql: line 1, col 14: expected "[", found end of query`},
		{`sequence [process where true] by a [network where true]`, `eql: line 1, col 36: inconsistent number of join keys specified; expected [1] but found [0]`},
		{`sequence [a where true] [b where true] until [c where true] by x`, `eql: line 1, col 64: inconsistent number of join keys specified; expected [0] but found [1]`},
		{`sequence [a where true] with runs=101 [b where true]`, `eql: line 1, col 35: runs must be between 1 and 100 (inclusive), found [101]`},
		{`sequence [a where true] [b where true] until [c where true] with runs=2`, `eql: line 1, col 61: until does not support with runs`},
		{`sequence [a where true] ![b where true]`, `eql: line 1, col 25: missing events ![...] are not supported`},
		{`sequence [a where true] [b where true] [`, `eql: line 1, col 41: expected an event category or "any", found end of query`},
		{`process where process.name = "a"`, `eql: line 1, col 28: unknown operator "="; use "==" or ":"`},
		{`process where process.name === "a"`, `eql: line 1, col 30: expected an expression, found "="`},
		{`process where a !: "x"`, `eql: line 1, col 17: unknown operator "!:"; use "not field : value"`},
		{`process where a ! "x"`, `eql: line 1, col 17: unexpected character "!"; use "not" or "!="`},
		{`process where a ~ "x"`, `eql: line 1, col 17: unexpected character '~'`},
		{`process where a < b < c`, `eql: line 1, col 21: comparisons cannot be chained; use "and" between them`},
		{`process where a not like "x"`, `eql: line 1, col 17: "not" goes before the field: not field like ...`},
		{`process where a in "x"`, `eql: line 1, col 20: expected "(" after in, found string "x"`},
		{`process where a : b`, `eql: line 1, col 19: expected a constant after :, found identifier "b"`},
		{`process where`, `eql: line 1, col 14: expected an expression, found end of query`},
		{`process where (a == 1`, `eql: line 1, col 22: expected ")", found end of query`},
		{`process where a == 1 b`, `eql: line 1, col 22: expected "and", "or", "|" or end of query, found identifier "b"`},
		{`process a == 1`, `eql: line 1, col 9: expected "where", found identifier "a"`},
		{`where a == 1`, `eql: line 1, col 1: expected an event category or "any", found keyword "where"`},
		{`process where a and or b`, `eql: line 1, col 21: expected an expression, found keyword "or"`},
		{`process where a == 1 | count`, `eql: line 1, col 24: unsupported pipe [count]; only head and tail are supported`},
		{`process where a == 1 | head`, `eql: line 1, col 24: pipe [head] expects exactly one argument but found [0]`},
		{`process where a == 1 | head x`, `eql: line 1, col 29: pipe [head] expects a positive integer but found identifier "x"`},
		{`process where a[0] == 1`, `eql: line 1, col 16: array indexing [0] is not supported`},
		{`process where a == "\u{1}"`, `eql: line 1, col 21: unicode sequence should use [2-8] hex digits, [\u{1}] has [1]`},
		{`process where a == "\u{D800}"`, `eql: line 1, col 21: invalid unicode character code, [D800] is a surrogate code`},
		{`process where a == "\u{110000}"`, `eql: line 1, col 21: invalid unicode character code [110000]`},
		{`process where a == "\x41"`, ``},
		{`process where a == 99999999999999999999`, `eql: line 1, col 20: number 99999999999999999999 is too large`},
		{`process where a : "x" /* unterminated`, `eql: line 1, col 23: unterminated comment`},
		{"process where `a == 1", "eql: line 1, col 15: unterminated quoted identifier"},
		{`join [a where true] [b where true]`, `eql: line 1, col 1: join is not supported`},
		{`sample by x [a where true] [b where true]`, `eql: line 1, col 1: sample is not supported`},
		{`process where child of [process where true]`, `eql: line 1, col 15: lineage [child of] is not supported`},
		{"process where a == 1\n  and b == \"x", `eql: line 2, col 12: unterminated string`},
		{"process where a == 1\n\tand $b", `eql: line 2, col 6: unexpected character '$'`},
		{`process where a == "` + "\xff" + `"` + " and \xfe", `eql: line 1, col 28: invalid UTF-8 byte 0xfe`},
		{`sequence by x [a where true] by y with maxspan=1s [b where true] by z`, `eql: line 1, col 35: maxspan applies to the whole sequence: sequence [by keys] with maxspan=T`},
		{`sequence by f(x) [a where true] [b where true]`, `eql: line 1, col 13: join keys must be fields`},
	}
	if len(tests) < 15 {
		t.Fatal("need at least 15 bad queries")
	}
	for _, tt := range tests {
		_, err := Parse(tt.query)
		if tt.want == "" {
			if err != nil {
				t.Errorf("Parse(%q): unexpected error %v", tt.query, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("Parse(%q): no error, want %s", tt.query, tt.want)
			continue
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Parse(%q): error %T is not *Error", tt.query, err)
		}
		if err.Error() != tt.want {
			t.Errorf("Parse(%q)\n got %s\nwant %s", tt.query, err, tt.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct{ cond, want string }{
		{`foo(a)`, `eql: line 1, col 15: unknown function [foo]`},
		{`startsWith(a)`, `eql: line 1, col 15: function [startsWith] expects exactly 2 arguments, found 1`},
		{`indexOf(a, "b", 1, 2) == 1`, `eql: line 1, col 15: function [indexOf] expects 2 to 3 arguments, found 4`},
		{`cidrMatch(a)`, `eql: line 1, col 15: function [cidrMatch] expects at least 2 arguments, found 1`},
		{`length~(a) == 1`, `eql: line 1, col 15: function [length] has no case-insensitive variant (length~)`},
		{`startsWith(a, 5)`, `eql: line 1, col 29: function [startsWith]: argument 2 must be a string, found integer 5`},
		{`substring(a, "1") == "x"`, `eql: line 1, col 28: function [substring]: argument 2 must be an integer, found string "1"`},
		{`length(length(a)) == 1`, `eql: line 1, col 22: function [length]: argument 1 must be a string, found an integer`},
		{`cidrMatch(a, "1.2.3/99")`, `eql: line 1, col 15: function [cidrMatch]: invalid CIDR block "1.2.3/99"`},
		{`cidrMatch(concat(a), b)`, `eql: line 1, col 36: function [cidrMatch]: CIDR blocks must be constants`},
		{`length(a)`, `eql: line 1, col 15: function [length] returns an integer, not a condition; compare its result with a value`},
		{`a regex "[a-"`, `eql: line 1, col 23: invalid regular expression "[a-": missing ]`},
		{`a regex "a&b"`, `eql: line 1, col 23: invalid regular expression "a&b": intersection (&) is not supported`},
		{`a regex ("ok", "x{2,1}")`, `eql: line 1, col 30: invalid regular expression "x{2,1}": error parsing regexp: invalid repeat count: ` + "`{2,1}`"},
		{`a == b`, `eql: line 1, col 20: comparisons against fields are not supported; the right side of "==" must be a constant`},
		{`a in ("x", b)`, `eql: line 1, col 26: comparisons against fields are not supported; the right side of "in" must be a constant`},
		{`"x"`, `eql: line 1, col 15: expected a condition, found string "x"`},
		{`a + 1`, `eql: line 1, col 17: expected a condition, found an arithmetic expression; compare it with a value`},
	}
	for _, tt := range tests {
		query := "process where " + tt.cond
		q, err := Parse(query)
		if err != nil {
			t.Errorf("Parse(%q): %v", query, err)
			continue
		}
		_, err = Compile(q.Event)
		if err == nil {
			t.Errorf("Compile(%q): no error, want %s", query, tt.want)
			continue
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Compile(%q): error %T is not *Error", query, err)
		}
		if err.Error() != tt.want {
			t.Errorf("Compile(%q)\n got %s\nwant %s", query, err, tt.want)
		}
	}
}

// TestLexNumbers checks number and unit lexing: 30s is a number and a unit,
// 1e3 a float, 1.e is 1. then e.
func TestLexNumbers(t *testing.T) {
	toks := tokenize(`30s 1e3 2E-2 .5 7. 12ms 1e`)
	var got []string
	for _, tk := range toks {
		switch tk.kind {
		case tInt:
			got = append(got, "i"+strconv.FormatInt(tk.num, 10))
		case tFloat:
			got = append(got, "f"+strconv.FormatFloat(tk.flt, 'g', -1, 64))
		case tIdent:
			got = append(got, tk.text)
		case tEOF:
			got = append(got, "EOF")
		default:
			got = append(got, tokNames[tk.kind])
		}
	}
	want := "i30 s f1000 f0.02 f0.5 f7 i12 ms i1 e EOF"
	if strings.Join(got, " ") != want {
		t.Errorf("got %s, want %s", strings.Join(got, " "), want)
	}
}
