package eql

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// maxDepth bounds the nesting of expressions so that a hostile query cannot
// exhaust the stack.
const maxDepth = 200

// Parse parses one EQL query. Errors are *Error.
//
// The grammar is Elasticsearch's (x-pack/plugin/eql/src/main/antlr/EqlBase.g4):
// event queries, sequences with by/maxspan/until/runs, and the head and tail
// pipes. join, sample, missing events (![...]), lineage (child of ...) and
// other pipes are rejected with a message saying so.
func Parse(src string) (*Query, error) {
	p := &parser{toks: tokenize(src)}
	q, err := p.statement()
	if err != nil {
		return nil, err
	}
	return q, nil
}

type parser struct {
	toks  []token
	i     int
	depth int
}

// bail carries a parse error up through the recursive descent.
type bail struct{ err *Error }

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) peekN(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind == tError {
		panic(bail{t.err})
	}
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) fail(pos Pos, format string, args ...any) {
	panic(bail{errorf(pos, format, args...)})
}

// expected fails with "expected X, found Y" at the current token (or with
// the lexical error found there).
func (p *parser) expected(what string) {
	t := p.peek()
	if t.kind == tError {
		panic(bail{t.err})
	}
	p.fail(t.pos, "expected %s, found %s", what, t.describe())
}

func (p *parser) isKeyword(kw string) bool {
	t := p.peek()
	return t.kind == tIdent && t.text == kw
}

func (p *parser) acceptKeyword(kw string) (token, bool) {
	if p.isKeyword(kw) {
		return p.next(), true
	}
	return token{}, false
}

func (p *parser) expectKeyword(kw string) token {
	if t, ok := p.acceptKeyword(kw); ok {
		return t
	}
	p.expected(strconv.Quote(kw))
	return token{}
}

func (p *parser) accept(k tokKind) (token, bool) {
	if p.peek().kind == k {
		return p.next(), true
	}
	return token{}, false
}

func (p *parser) expect(k tokKind) token {
	if t, ok := p.accept(k); ok {
		return t
	}
	p.expected(tokNames[k])
	return token{}
}

func (p *parser) statement() (q *Query, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, ok := r.(bail)
			if !ok {
				panic(r)
			}
			q, err = nil, b.err
		}
	}()
	q = &Query{}
	t := p.peek()
	switch {
	case p.isKeyword("sequence"):
		q.Sequence = p.sequence()
	case p.isKeyword("join"):
		p.fail(t.pos, "join is not supported")
	case p.isKeyword("sample"):
		p.fail(t.pos, "sample is not supported")
	default:
		eq := p.eventFilter()
		q.Event = &eq
	}
	for {
		if _, ok := p.accept(tPipe); !ok {
			break
		}
		q.Pipes = append(q.Pipes, p.pipe())
	}
	if p.peek().kind != tEOF {
		if q.Sequence != nil {
			p.expected(`"[", "until", "|" or end of query`)
		}
		p.expected(`"and", "or", "|" or end of query`)
	}
	return q, nil
}

// pipe parses `head N` or `tail N` after the "|".
func (p *parser) pipe() Pipe {
	t := p.peek()
	if t.kind != tIdent {
		p.expected("a pipe name")
	}
	p.next()
	switch t.text {
	case "head", "tail":
	default:
		p.fail(t.pos, "unsupported pipe [%s]; only head and tail are supported", t.text)
	}
	n, ok := p.accept(tInt)
	if !ok {
		if a := p.peek(); a.kind == tEOF || a.kind == tPipe {
			p.fail(t.pos, "pipe [%s] expects exactly one argument but found [0]", t.text)
		}
		p.fail(p.peek().pos, "pipe [%s] expects a positive integer but found %s", t.text, p.peek().describe())
	}
	if p.peek().kind == tComma {
		p.fail(t.pos, "pipe [%s] expects exactly one argument", t.text)
	}
	return Pipe{Pos: t.pos, Name: t.text, N: int(n.num)}
}

// sequence parses
//
//	sequence [by keys [with maxspan=T] | with maxspan=T] stage+ [until stage]
//
// `sequence with maxspan=T by keys` is rejected, as Elasticsearch does.
func (p *parser) sequence() *Sequence {
	st := p.next()
	seq := &Sequence{Pos: st.pos}
	if _, ok := p.acceptKeyword("by"); ok {
		seq.By = p.joinKeys()
		if p.isKeyword("with") {
			seq.MaxSpan = p.maxspan()
		}
	} else if p.isKeyword("with") {
		seq.MaxSpan = p.maxspan()
		if p.isKeyword("by") {
			p.fail(p.peek().pos, "please specify sequence [by] before [with] not after")
		}
	}
	for p.peek().kind == tLBrack || p.peek().kind == tMissing {
		seq.Stages = append(seq.Stages, p.stage(false))
	}
	if len(seq.Stages) == 0 {
		p.expected(`"["`)
	}
	if _, ok := p.acceptKeyword("until"); ok {
		if p.peek().kind != tLBrack {
			p.expected(`"[" after "until"`)
		}
		u := p.stage(true)
		seq.Until = &u
	}
	runs := 0
	for _, s := range seq.Stages {
		runs += s.Runs
	}
	if runs < 2 {
		p.fail(seq.Pos, "a sequence requires a minimum of 2 queries, found [%d]", runs)
	}
	// Every stage (and until) must have the same number of join keys.
	want := len(seq.Stages[0].By)
	check := func(s Stage) {
		if len(s.By) != want {
			pos := s.Pos
			if len(s.By) > 0 {
				pos = s.By[0].Pos
			}
			p.fail(pos, "inconsistent number of join keys specified; expected [%d] but found [%d]", want, len(s.By))
		}
	}
	for _, s := range seq.Stages[1:] {
		check(s)
	}
	if seq.Until != nil {
		check(*seq.Until)
	}
	return seq
}

// maxspan parses `with maxspan=N unit`.
func (p *parser) maxspan() time.Duration {
	p.expectKeyword("with")
	if t := p.peek(); t.kind == tIdent && t.text == "runs" {
		p.fail(t.pos, "runs applies to a stage: [query] with runs=N")
	}
	p.expectKeyword("maxspan")
	p.expect(tAssign)
	nt := p.peek()
	switch nt.kind {
	case tInt:
	case tFloat:
		p.fail(nt.pos, "decimal time interval [%s] not supported; please use a positive integer", nt.src)
	default:
		p.expected("a time interval such as 30s")
	}
	p.next()
	if nt.num <= 0 {
		p.fail(nt.pos, "a positive maxspan value is required; found [%d]", nt.num)
	}
	ut := p.peek()
	if ut.kind != tIdent || keywords[ut.text] {
		p.fail(ut.pos, "no time unit specified, did you mean [s] as in [%ds]?", nt.num)
	}
	p.next()
	var unit time.Duration
	switch ut.text {
	case "ms":
		unit = time.Millisecond
	case "s":
		unit = time.Second
	case "m":
		unit = time.Minute
	case "h":
		unit = time.Hour
	case "d":
		unit = 24 * time.Hour
	default:
		p.fail(ut.pos, "unrecognized time unit [%s], please specify one of [ms, s, m, h, d]", ut.text)
	}
	if nt.num > int64(math.MaxInt64/unit) {
		p.fail(nt.pos, "maxspan %d%s is too large", nt.num, ut.text)
	}
	return time.Duration(nt.num) * unit
}

// stage parses `[query] [by keys] [with runs=N]`.
func (p *parser) stage(until bool) Stage {
	if t, ok := p.accept(tMissing); ok {
		p.fail(t.pos, "missing events ![...] are not supported")
	}
	lb := p.expect(tLBrack)
	st := Stage{Pos: lb.pos, Runs: 1}
	st.Query = p.eventFilter()
	if _, ok := p.accept(tRBrack); !ok {
		p.expected(`"and", "or" or "]"`)
	}
	if _, ok := p.acceptKeyword("by"); ok {
		st.By = p.joinKeys()
	}
	if p.isKeyword("with") && p.peekN(1).kind == tIdent && p.peekN(1).text == "runs" {
		wt := p.next()
		p.next()
		if until {
			p.fail(wt.pos, "until does not support with runs")
		}
		p.expect(tAssign)
		nt := p.peek()
		if nt.kind != tInt {
			p.expected("a number of runs")
		}
		p.next()
		if nt.num < 1 || nt.num > 100 {
			p.fail(nt.pos, "runs must be between 1 and 100 (inclusive), found [%d]", nt.num)
		}
		st.Runs = int(nt.num)
	} else if p.isKeyword("with") && p.peekN(1).kind == tIdent && p.peekN(1).text == "maxspan" {
		p.fail(p.peek().pos, "maxspan applies to the whole sequence: sequence [by keys] with maxspan=T")
	}
	return st
}

// joinKeys parses `f1, f2, ...` after "by".
func (p *parser) joinKeys() []*Field {
	var keys []*Field
	for {
		t := p.peek()
		if t.kind == tIdent && keywords[t.text] {
			p.expected("a join key field")
		}
		x := p.primary()
		f, ok := x.(*Field)
		if !ok {
			p.fail(x.Position(), "join keys must be fields")
		}
		keys = append(keys, f)
		if _, ok := p.accept(tComma); !ok {
			return keys
		}
	}
}

// eventFilter parses `category where expr` or `any where expr`.
func (p *parser) eventFilter() EventQuery {
	t := p.peek()
	eq := EventQuery{Pos: t.pos}
	switch {
	case t.kind == tIdent && t.text == "any":
		p.next()
	case t.kind == tIdent && !keywords[t.text]:
		p.next()
		eq.Category = t.text
	case t.kind == tString:
		p.next()
		eq.Category = t.text
	case t.kind == tQuotedIdent:
		p.next()
		eq.Category = t.text
	default:
		p.expected(`an event category or "any"`)
	}
	p.expectKeyword("where")
	eq.Cond = p.expr()
	return eq
}

func (p *parser) enter() {
	p.depth++
	if p.depth > maxDepth {
		p.fail(p.peek().pos, "expression nested too deeply (more than %d levels)", maxDepth)
	}
}

func (p *parser) leave() { p.depth-- }

// expr parses a boolean expression: or binds loosest, then and, then not.
func (p *parser) expr() Expr {
	p.enter()
	defer p.leave()
	x := p.and()
	if !p.isKeyword("or") {
		return x
	}
	or := &Or{Pos: x.Position(), X: []Expr{x}}
	for {
		if _, ok := p.acceptKeyword("or"); !ok {
			return or
		}
		or.X = append(or.X, p.and())
	}
}

func (p *parser) and() Expr {
	x := p.not()
	if !p.isKeyword("and") {
		return x
	}
	and := &And{Pos: x.Position(), X: []Expr{x}}
	for {
		if _, ok := p.acceptKeyword("and"); !ok {
			return and
		}
		and.X = append(and.X, p.not())
	}
}

func (p *parser) not() Expr {
	if t, ok := p.acceptKeyword("not"); ok {
		p.enter()
		defer p.leave()
		return &Not{Pos: t.pos, X: p.not()}
	}
	return p.comparison()
}

var compareOps = map[tokKind]Op{
	tEq: OpEq, tNeq: OpNeq, tLt: OpLt, tLte: OpLte, tGt: OpGt, tGte: OpGte,
}

// comparison parses `a op b` for == != < <= > >= (not chainable).
func (p *parser) comparison() Expr {
	x := p.additive()
	t := p.peek()
	if t.kind == tAssign {
		p.fail(t.pos, `unknown operator "="; use "==" or ":"`)
	}
	op, ok := compareOps[t.kind]
	if !ok {
		return x
	}
	p.next()
	y := p.additive()
	if _, chained := compareOps[p.peek().kind]; chained {
		p.fail(p.peek().pos, "comparisons cannot be chained; use \"and\" between them")
	}
	return &Compare{Pos: t.pos, Op: op, Left: x, Right: []Expr{y}}
}

func (p *parser) additive() Expr {
	x := p.multiplicative()
	for {
		t := p.peek()
		var op ArithOp
		switch t.kind {
		case tPlus:
			op = '+'
		case tMinus:
			op = '-'
		default:
			return x
		}
		p.next()
		p.enter()
		y := p.multiplicative()
		p.leave()
		x = &Arith{Pos: t.pos, Op: op, X: x, Y: y}
	}
}

func (p *parser) multiplicative() Expr {
	x := p.unary()
	for {
		t := p.peek()
		var op ArithOp
		switch t.kind {
		case tStar:
			op = '*'
		case tSlash:
			op = '/'
		case tPercent:
			op = '%'
		default:
			return x
		}
		p.next()
		p.enter()
		y := p.unary()
		p.leave()
		x = &Arith{Pos: t.pos, Op: op, X: x, Y: y}
	}
}

// unary parses [+-] operand; a sign on a number literal folds into it.
func (p *parser) unary() Expr {
	t := p.peek()
	if t.kind == tMinus || t.kind == tPlus {
		p.next()
		p.enter()
		defer p.leave()
		x := p.unary()
		if t.kind == tPlus {
			return x
		}
		if lit, ok := x.(*Literal); ok {
			switch lit.Value.Kind {
			case ecs.KindInt:
				return &Literal{Pos: t.pos, Value: ecs.Int(-lit.Value.Int)}
			case ecs.KindFloat:
				return &Literal{Pos: t.pos, Value: ecs.Float(-lit.Value.Float)}
			}
		}
		return &Neg{Pos: t.pos, X: x}
	}
	x := p.primary()
	return p.predicate(x)
}

// predicate parses what may follow an operand:
//
//	[not] in (e, ...)      [not] in~ (e, ...)
//	: c    : (c, ...)      like / like~ / regex / regex~ with c or (c, ...)
func (p *parser) predicate(x Expr) Expr {
	t := p.peek()
	if t.kind == tIdent && t.text == "not" {
		n := p.peekN(1)
		if (n.kind == tIdent || n.kind == tTildeIdent) && n.text == "in" {
			p.next()
			in := p.predicate(x)
			return &Not{Pos: t.pos, X: in}
		}
		if (n.kind == tIdent || n.kind == tTildeIdent) && (n.text == "like" || n.text == "regex") || n.kind == tColon {
			p.fail(t.pos, "\"not\" goes before the field: not field %s ...", n.src)
		}
		return x
	}
	var op Op
	switch {
	case t.kind == tIdent && t.text == "in":
		op = OpIn
	case t.kind == tTildeIdent && t.text == "in":
		op = OpInI
	case t.kind == tColon:
		op = OpSeq
	case t.kind == tIdent && t.text == "like":
		op = OpLike
	case t.kind == tTildeIdent && t.text == "like":
		op = OpLikeI
	case t.kind == tIdent && t.text == "regex":
		op = OpRegex
	case t.kind == tTildeIdent && t.text == "regex":
		op = OpRegexI
	default:
		return x
	}
	p.next()
	c := &Compare{Pos: t.pos, Op: op, Left: x}
	if op == OpIn || op == OpInI {
		if p.peek().kind != tLParen {
			p.expected(`"(" after ` + t.src)
		}
		p.next()
		for {
			c.Right = append(c.Right, p.expr())
			if _, ok := p.accept(tComma); !ok {
				break
			}
		}
		p.expect(tRParen)
		return c
	}
	if _, ok := p.accept(tLParen); ok {
		for {
			c.Right = append(c.Right, p.constant(t.src))
			if _, ok := p.accept(tComma); !ok {
				break
			}
		}
		p.expect(tRParen)
		return c
	}
	c.Right = []Expr{p.constant(t.src)}
	return c
}

// constant parses a literal (the right side of :, like and regex).
func (p *parser) constant(after string) Expr {
	t := p.peek()
	if t.kind == tMinus && (p.peekN(1).kind == tInt || p.peekN(1).kind == tFloat) {
		return p.unary()
	}
	if lit := p.literal(); lit != nil {
		return lit
	}
	p.expected("a constant after " + after)
	return nil
}

// literal parses null, true, false, a number or a string, or returns nil.
func (p *parser) literal() *Literal {
	t := p.peek()
	switch t.kind {
	case tString:
		p.next()
		return &Literal{Pos: t.pos, Value: ecs.String(t.text)}
	case tInt:
		p.next()
		return &Literal{Pos: t.pos, Value: ecs.Int(t.num)}
	case tFloat:
		p.next()
		return &Literal{Pos: t.pos, Value: ecs.Float(t.flt)}
	case tIdent:
		switch t.text {
		case "null":
			p.next()
			return &Literal{Pos: t.pos, Value: ecs.Null}
		case "true":
			p.next()
			return &Literal{Pos: t.pos, Value: ecs.Bool(true)}
		case "false":
			p.next()
			return &Literal{Pos: t.pos, Value: ecs.Bool(false)}
		}
	}
	return nil
}

// primary parses a literal, a function call, a field or a parenthesised
// expression.
func (p *parser) primary() Expr {
	if lit := p.literal(); lit != nil {
		return lit
	}
	t := p.peek()
	switch t.kind {
	case tLParen:
		p.next()
		x := p.expr()
		p.expect(tRParen)
		return x
	case tTildeIdent:
		p.next()
		if p.peek().kind != tLParen {
			p.expected(`"(" after ` + t.src)
		}
		return p.call(t, true)
	case tQuestion:
		p.next()
		n := p.peek()
		if n.kind != tIdent && n.kind != tQuotedIdent {
			p.expected("a field name after \"?\"")
		}
		f := p.field()
		f.Pos = t.pos
		f.Optional = true
		return f
	case tIdent:
		if keywords[t.text] {
			p.expected("an expression")
		}
		if p.peekN(1).kind == tLParen {
			p.next()
			return p.call(t, false)
		}
		if n := p.peekN(1); n.kind == tIdent && n.text == "of" {
			p.fail(t.pos, "lineage [%s of] is not supported", t.text)
		}
		return p.field()
	case tQuotedIdent:
		return p.field()
	case tMissing:
		p.fail(t.pos, "missing events ![...] are not supported")
	}
	p.expected("an expression")
	return nil
}

// field parses a dotted field path. Keywords are accepted after a dot
// (event.sequence); an array index ([0]) is rejected.
func (p *parser) field() *Field {
	t := p.next()
	var b strings.Builder
	b.WriteString(t.text)
	for {
		n := p.peek()
		if n.kind == tDot {
			p.next()
			s := p.peek()
			if s.kind != tIdent && s.kind != tQuotedIdent {
				p.expected("a field name after \".\"")
			}
			p.next()
			b.WriteByte('.')
			b.WriteString(s.text)
			continue
		}
		if n.kind == tLBrack && p.peekN(1).kind == tInt {
			p.fail(n.pos, "array indexing [%d] is not supported", p.peekN(1).num)
		}
		break
	}
	return &Field{Pos: t.pos, Path: b.String()}
}

// call parses the arguments of name( ... ).
func (p *parser) call(name token, insensitive bool) Expr {
	p.expect(tLParen)
	c := &Call{Pos: name.pos, Name: name.text, Insensitive: insensitive}
	if _, ok := p.accept(tRParen); ok {
		return c
	}
	for {
		c.Args = append(c.Args, p.expr())
		if _, ok := p.accept(tComma); !ok {
			break
		}
	}
	p.expect(tRParen)
	return c
}
