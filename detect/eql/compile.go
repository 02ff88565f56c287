package eql

import (
	"fmt"
	"strings"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// Matcher reports whether an event satisfies an event query, category check
// included: `process where` holds when any element of event.category is
// "process"; `any where` holds for every event.
type Matcher func(*ecs.Event) bool

// Compile compiles an event query (also each sequence stage's Query and
// Until). Errors are *Error: unknown function, wrong argument count or
// type, a regular expression that does not compile, a comparison between
// two fields.
//
// Semantics are Elasticsearch EQL's (7.12+). A comparison of a field with
// constants is what Elasticsearch runs as a query: it never matches a
// missing or null field, matches an array when any element matches, and
// its negation (!=, not) is a must_not that does match a missing field;
// on an array, `process.args != "-e"` holds only when no element equals
// "-e" (must_not of the term query), not when some element differs.
// Anything else (functions over fields, arithmetic) is what Elasticsearch
// runs as a script: a null operand makes it null, null never matches, not
// even under `not`, and a multi-valued field matches when the script holds
// for any one of its elements.
//
// The returned Matcher is safe for concurrent use. It does not allocate,
// except in concat, string, and the ~ functions over non-constant
// arguments, and for numeric values matched against wildcard or regex
// patterns.
func Compile(q *EventQuery) (Matcher, error) {
	if q == nil || q.Cond == nil {
		return nil, errorf(Pos{Line: 1, Col: 1}, "empty query")
	}
	c := &compiler{}
	n, err := c.cond(q.Cond)
	if err != nil {
		return nil, err
	}
	if q.Category == "" {
		return n.matcher(), nil
	}
	cat := fieldLeaf(ecs.Lookup("event.category"), eqPred([]ecs.Value{ecs.String(q.Category)}, false))
	if n.konst {
		if n.val {
			return cat, nil
		}
		return never, nil
	}
	cond := n.matcher()
	return func(e *ecs.Event) bool { return cat(e) && cond(e) }, nil
}

func always(*ecs.Event) bool { return true }
func never(*ecs.Event) bool  { return false }

// compiler holds the state of one Compile call.
type compiler struct {
	// iter is the field whose array elements the script being compiled
	// iterates over (see scriptNode); "" outside scripts.
	iter string
}

// cnode is a compiled condition: a constant, a two-valued predicate, or a
// script whose null result must survive a `not`.
type cnode struct {
	konst  bool
	val    bool
	f      func(*ecs.Event) bool
	script *scriptNode
}

func (n cnode) matcher() Matcher {
	switch {
	case n.konst && n.val:
		return always
	case n.konst:
		return never
	case n.script != nil:
		return n.script.matcher()
	}
	return n.f
}

// scriptNode is a condition Elasticsearch evaluates as a script. Its result
// is three-valued; `not` over it stays a script (Not over a ScriptQuery
// becomes a script in Elasticsearch's QueryTranslator), so not(null) is
// null and does not match. When the script reads a multi-valued field, it
// is run once per element of the first field it reads and matches when any
// run yields true (Elasticsearch's MultiValueAwareScriptQuery); other
// fields of the same script use their first element.
type scriptNode struct {
	iter *ecs.Accessor
	eval func(e *ecs.Event, pick int) tri
	neg  bool
}

func (s *scriptNode) matcher() Matcher {
	eval, neg := s.eval, s.neg
	want := triTrue
	if neg {
		want = triFalse
	}
	if s.iter == nil {
		return func(e *ecs.Event) bool { return eval(e, 0) == want }
	}
	get := s.iter.Get
	return func(e *ecs.Event) bool {
		n := arrayLen(get(e))
		for i := 0; i < n; i++ {
			if eval(e, i) == want {
				return true
			}
		}
		return false
	}
}

func konst(b bool) cnode { return cnode{konst: true, val: b} }

// cond compiles x in a boolean position.
func (c *compiler) cond(x Expr) (cnode, error) {
	switch x := x.(type) {
	case *Literal:
		switch x.Value.Kind {
		case ecs.KindBool:
			return konst(x.Value.Int != 0), nil
		case ecs.KindNull:
			return konst(false), nil
		}
		return cnode{}, errorf(x.Pos, "expected a condition, found %s", describeValue(x.Value))
	case *Field:
		// A bare field is a boolean test: field == true.
		return cnode{f: fieldLeaf(ecs.Lookup(x.Path), eqPred([]ecs.Value{ecs.Bool(true)}, false))}, nil
	case *Not:
		n, err := c.cond(x.X)
		if err != nil {
			return cnode{}, err
		}
		switch {
		case n.konst:
			return konst(!n.val), nil
		case n.script != nil:
			s := *n.script
			s.neg = !s.neg
			return cnode{script: &s}, nil
		}
		f := n.f
		return cnode{f: func(e *ecs.Event) bool { return !f(e) }}, nil
	case *And:
		return c.logic(x.X, true)
	case *Or:
		return c.logic(x.X, false)
	case *Compare:
		return c.compare(x)
	case *Call:
		return c.callCond(x)
	case *Arith, *Neg:
		return cnode{}, errorf(x.Position(), "expected a condition, found an arithmetic expression; compare it with a value")
	}
	return cnode{}, errorf(x.Position(), "unsupported expression %T", x)
}

// logic compiles and (isAnd) or or. Constants fold away; a script child
// counts as false when null, as in a bool query.
func (c *compiler) logic(xs []Expr, isAnd bool) (cnode, error) {
	var fs []Matcher
	for _, x := range xs {
		n, err := c.cond(x)
		if err != nil {
			return cnode{}, err
		}
		if n.konst {
			if n.val != isAnd {
				return konst(n.val), nil // false in an and, true in an or
			}
			continue
		}
		fs = append(fs, n.matcher())
	}
	switch len(fs) {
	case 0:
		return konst(isAnd), nil
	case 1:
		return cnode{f: fs[0]}, nil
	case 2:
		a, b := fs[0], fs[1]
		if isAnd {
			return cnode{f: func(e *ecs.Event) bool { return a(e) && b(e) }}, nil
		}
		return cnode{f: func(e *ecs.Event) bool { return a(e) || b(e) }}, nil
	case 3:
		a, b, c := fs[0], fs[1], fs[2]
		if isAnd {
			return cnode{f: func(e *ecs.Event) bool { return a(e) && b(e) && c(e) }}, nil
		}
		return cnode{f: func(e *ecs.Event) bool { return a(e) || b(e) || c(e) }}, nil
	}
	if isAnd {
		return cnode{f: func(e *ecs.Event) bool {
			for _, f := range fs {
				if !f(e) {
					return false
				}
			}
			return true
		}}, nil
	}
	return cnode{f: func(e *ecs.Event) bool {
		for _, f := range fs {
			if f(e) {
				return true
			}
		}
		return false
	}}, nil
}

// isConst reports whether x does not depend on the event.
func isConst(x Expr) bool {
	switch x := x.(type) {
	case *Literal:
		return true
	case *Field:
		return false
	case *Not:
		return isConst(x.X)
	case *Neg:
		return isConst(x.X)
	case *Arith:
		return isConst(x.X) && isConst(x.Y)
	case *And:
		return allConst(x.X)
	case *Or:
		return allConst(x.X)
	case *Compare:
		return isConst(x.Left) && allConst(x.Right)
	case *Call:
		return allConst(x.Args)
	}
	return false
}

func allConst(xs []Expr) bool {
	for _, x := range xs {
		if !isConst(x) {
			return false
		}
	}
	return true
}

// firstField returns the path of the first field x reads, in source order.
func firstField(x Expr) string {
	switch x := x.(type) {
	case *Field:
		return x.Path
	case *Not:
		return firstField(x.X)
	case *Neg:
		return firstField(x.X)
	case *Arith:
		if p := firstField(x.X); p != "" {
			return p
		}
		return firstField(x.Y)
	case *And:
		return firstFieldOf(x.X)
	case *Or:
		return firstFieldOf(x.X)
	case *Compare:
		if p := firstField(x.Left); p != "" {
			return p
		}
		return firstFieldOf(x.Right)
	case *Call:
		return firstFieldOf(x.Args)
	}
	return ""
}

func firstFieldOf(xs []Expr) string {
	for _, x := range xs {
		if p := firstField(x); p != "" {
			return p
		}
	}
	return ""
}

// script wraps a three-valued evaluation of x as a script condition.
func (c *compiler) script(x Expr, build func() (func(*ecs.Event, int) tri, error)) (cnode, error) {
	saved := c.iter
	c.iter = firstField(x)
	defer func() { c.iter = saved }()
	eval, err := build()
	if err != nil {
		return cnode{}, err
	}
	s := &scriptNode{eval: eval}
	if c.iter != "" {
		acc := ecs.Lookup(c.iter)
		s.iter = &acc
	}
	return cnode{script: s}, nil
}

// compareKind is what a comparison tests once its constant side is known.
type compareKind uint8

const (
	cmpPred    compareKind = iota // pred holds for the value
	cmpIsNull                     // == null
	cmpNotNull                    // != null
)

// comparison is a comparison normalised to `left op constants`.
type comparison struct {
	left Expr
	kind compareKind
	pred scalarPred
	neg  bool // != : the negation of ==
}

// flip mirrors an operator for swapping its operands.
var flip = map[Op]Op{OpEq: OpEq, OpNeq: OpNeq, OpLt: OpGt, OpLte: OpGte, OpGt: OpLt, OpGte: OpLte}

// normalize puts the constant side of x on the right and builds its
// predicate. Elasticsearch rejects comparisons between two fields, and so
// does this.
func (c *compiler) normalize(x *Compare) (comparison, error) {
	if len(x.Right) == 0 {
		return comparison{}, errorf(x.Pos, "comparison without a right-hand side")
	}
	left, right := x.Left, x.Right
	op := x.Op
	if len(right) == 1 && !isConst(right[0]) && isConst(left) {
		f, ok := flip[op]
		if !ok {
			return comparison{}, errorf(right[0].Position(), "expected a constant after %s", opName(op))
		}
		left, right, op = right[0], []Expr{left}, f
	}
	lits := make([]*Literal, len(right))
	for i, r := range right {
		if !isConst(r) {
			return comparison{}, errorf(r.Position(), "comparisons against fields are not supported; the right side of %s must be a constant", opName(op))
		}
		v, err := c.constValue(r)
		if err != nil {
			return comparison{}, err
		}
		lits[i] = &Literal{Pos: r.Position(), Value: v}
	}
	cmp := comparison{left: left}
	vals := make([]ecs.Value, len(lits))
	for i, l := range lits {
		vals[i] = l.Value
	}
	switch op {
	case OpEq, OpNeq:
		if len(vals) != 1 {
			return comparison{}, errorf(x.Pos, "%s takes one value", opName(op))
		}
		if vals[0].Kind == ecs.KindNull {
			cmp.kind = cmpIsNull
			if op == OpNeq {
				cmp.kind = cmpNotNull
			}
			return cmp, nil
		}
		cmp.pred = eqPred(vals, false)
		cmp.neg = op == OpNeq
	case OpIn:
		cmp.pred = eqPred(vals, false)
	case OpInI:
		cmp.pred = eqPred(vals, true)
	case OpSeq, OpLikeI:
		cmp.pred = likePred(vals, true)
	case OpLike:
		cmp.pred = likePred(vals, false)
	case OpRegex, OpRegexI:
		p, err := regexPred(lits, op == OpRegexI)
		if err != nil {
			return comparison{}, err
		}
		cmp.pred = p
	case OpLt, OpLte, OpGt, OpGte:
		if len(vals) != 1 {
			return comparison{}, errorf(x.Pos, "%s takes one value", opName(op))
		}
		cmp.pred = rangePred(op, vals[0])
	default:
		return comparison{}, errorf(x.Pos, "unknown operator %d", op)
	}
	return cmp, nil
}

// compare compiles a comparison in a boolean position.
func (c *compiler) compare(x *Compare) (cnode, error) {
	if isConst(x) {
		t, err := c.constTri(x)
		if err != nil {
			return cnode{}, err
		}
		return konst(t == triTrue), nil
	}
	cmp, err := c.normalize(x)
	if err != nil {
		return cnode{}, err
	}
	if f, ok := cmp.left.(*Field); ok {
		acc := ecs.Lookup(f.Path)
		switch cmp.kind {
		case cmpIsNull:
			return cnode{f: nullLeaf(acc)}, nil
		case cmpNotNull:
			isNull := nullLeaf(acc)
			return cnode{f: func(e *ecs.Event) bool { return !isNull(e) }}, nil
		}
		leaf := fieldLeaf(acc, cmp.pred)
		if cmp.neg {
			return cnode{f: func(e *ecs.Event) bool { return !leaf(e) }}, nil
		}
		return cnode{f: leaf}, nil
	}
	n, err := c.script(x, func() (func(*ecs.Event, int) tri, error) { return c.compareTri(cmp) })
	if err != nil {
		return cnode{}, err
	}
	if cmp.neg {
		n.script.neg = true
	}
	return n, nil
}

// compareTri evaluates a normalised comparison as a script (neg is left to
// the caller).
func (c *compiler) compareTri(cmp comparison) (func(*ecs.Event, int) tri, error) {
	lv, err := c.value(cmp.left)
	if err != nil {
		return nil, err
	}
	switch cmp.kind {
	case cmpIsNull:
		return func(e *ecs.Event, pick int) tri { return triOf(isNullValue(lv(e, pick))) }, nil
	case cmpNotNull:
		return func(e *ecs.Event, pick int) tri { return triOf(!isNullValue(lv(e, pick))) }, nil
	}
	pred := cmp.pred
	return func(e *ecs.Event, pick int) tri {
		v := lv(e, pick)
		if isNullValue(v) {
			return triNull
		}
		return triOf(pred.test(v))
	}, nil
}

// callCond compiles a function call in a boolean position.
func (c *compiler) callCond(x *Call) (cnode, error) {
	def, err := lookupFunc(x)
	if err != nil {
		return cnode{}, err
	}
	if def.result != boolType {
		return cnode{}, errorf(x.Pos, "function [%s] returns %s, not a condition; compare its result with a value", def.name, def.result)
	}
	if def.query != nil && len(x.Args) >= 2 {
		if f, ok := x.Args[0].(*Field); ok && allConst(x.Args[1:]) {
			consts := make([]ecs.Value, len(x.Args)-1)
			hasNull := false
			for i, a := range x.Args[1:] {
				v, err := c.constValue(a)
				if err != nil {
					return cnode{}, err
				}
				if err := checkArg(def, i+1, a, v); err != nil {
					return cnode{}, err
				}
				consts[i] = v
				hasNull = hasNull || v.Kind == ecs.KindNull
			}
			if !hasNull {
				str, msg := def.query(consts, x.Insensitive)
				if msg != "" {
					return cnode{}, errorf(x.Pos, "function [%s]: %s", def.name, msg)
				}
				return cnode{f: fieldLeaf(ecs.Lookup(f.Path), scalarPred{str: str})}, nil
			}
		}
	}
	if isConst(x) {
		t, err := c.constTri(x)
		if err != nil {
			return cnode{}, err
		}
		return konst(t == triTrue), nil
	}
	return c.script(x, func() (func(*ecs.Event, int) tri, error) { return c.tri(x) })
}

// tri compiles x as a three-valued script condition.
func (c *compiler) tri(x Expr) (func(*ecs.Event, int) tri, error) {
	switch x := x.(type) {
	case *Compare:
		cmp, err := c.normalize(x)
		if err != nil {
			return nil, err
		}
		t, err := c.compareTri(cmp)
		if err != nil || !cmp.neg {
			return t, err
		}
		return notTri(t), nil
	case *Not:
		t, err := c.tri(x.X)
		if err != nil {
			return nil, err
		}
		return notTri(t), nil
	case *And, *Or:
		var xs []Expr
		isAnd := false
		if a, ok := x.(*And); ok {
			xs, isAnd = a.X, true
		} else {
			xs = x.(*Or).X
		}
		ts := make([]func(*ecs.Event, int) tri, len(xs))
		for i, y := range xs {
			t, err := c.tri(y)
			if err != nil {
				return nil, err
			}
			ts[i] = t
		}
		// Kleene logic.
		return func(e *ecs.Event, pick int) tri {
			res := triOf(isAnd)
			for _, t := range ts {
				switch t(e, pick) {
				case triNull:
					res = triNull
				case triFalse:
					if isAnd {
						return triFalse
					}
				case triTrue:
					if !isAnd {
						return triTrue
					}
				}
			}
			return res
		}, nil
	}
	v, err := c.value(x)
	if err != nil {
		return nil, err
	}
	return func(e *ecs.Event, pick int) tri {
		r := v(e, pick)
		switch r.Kind {
		case ecs.KindBool:
			return triOf(r.Int != 0)
		case ecs.KindNull:
			return triNull
		}
		return triFalse
	}, nil
}

func notTri(t func(*ecs.Event, int) tri) func(*ecs.Event, int) tri {
	return func(e *ecs.Event, pick int) tri {
		switch t(e, pick) {
		case triTrue:
			return triFalse
		case triFalse:
			return triTrue
		}
		return triNull
	}
}

// constTri evaluates a constant condition at compile time.
func (c *compiler) constTri(x Expr) (tri, error) {
	t, err := c.tri(x)
	if err != nil {
		return triNull, err
	}
	return t(nil, 0), nil
}

// constValue evaluates a constant expression at compile time.
func (c *compiler) constValue(x Expr) (ecs.Value, error) {
	if l, ok := x.(*Literal); ok {
		return l.Value, nil
	}
	v, err := c.value(x)
	if err != nil {
		return ecs.Null, err
	}
	return v(nil, 0), nil
}

// value compiles x as a value.
func (c *compiler) value(x Expr) (valueFn, error) {
	switch x := x.(type) {
	case *Literal:
		v := x.Value
		return func(*ecs.Event, int) ecs.Value { return v }, nil
	case *Field:
		get := ecs.Lookup(x.Path).Get
		if x.Path == c.iter {
			return func(e *ecs.Event, pick int) ecs.Value { return element(get(e), pick) }, nil
		}
		return func(e *ecs.Event, _ int) ecs.Value { return element(get(e), 0) }, nil
	case *Neg:
		v, err := c.value(x.X)
		if err != nil {
			return nil, err
		}
		return func(e *ecs.Event, pick int) ecs.Value { return negate(v(e, pick)) }, nil
	case *Arith:
		a, err := c.value(x.X)
		if err != nil {
			return nil, err
		}
		b, err := c.value(x.Y)
		if err != nil {
			return nil, err
		}
		op := x.Op
		return func(e *ecs.Event, pick int) ecs.Value { return arith(op, a(e, pick), b(e, pick)) }, nil
	case *Call:
		return c.call(x)
	case *Compare, *Not, *And, *Or:
		t, err := c.tri(x)
		if err != nil {
			return nil, err
		}
		return func(e *ecs.Event, pick int) ecs.Value {
			switch t(e, pick) {
			case triTrue:
				return ecs.Bool(true)
			case triFalse:
				return ecs.Bool(false)
			}
			return ecs.Null
		}, nil
	}
	return nil, errorf(x.Position(), "unsupported expression %T", x)
}

func lookupFunc(x *Call) (*funcDef, error) {
	def := functions[strings.ToLower(x.Name)]
	if def == nil {
		return nil, errorf(x.Pos, "unknown function [%s]", x.Name)
	}
	if x.Insensitive && !def.fold {
		return nil, errorf(x.Pos, "function [%s] has no case-insensitive variant (%s~)", def.name, x.Name)
	}
	n := len(x.Args)
	maxArgs := len(def.args)
	switch {
	case def.variadic && n < def.min:
		return nil, errorf(x.Pos, "function [%s] expects at least %d arguments, found %d", def.name, def.min, n)
	case !def.variadic && def.min == maxArgs && n != maxArgs:
		return nil, errorf(x.Pos, "function [%s] expects exactly %d arguments, found %d", def.name, maxArgs, n)
	case !def.variadic && (n < def.min || n > maxArgs):
		return nil, errorf(x.Pos, "function [%s] expects %d to %d arguments, found %d", def.name, def.min, maxArgs, n)
	}
	return def, nil
}

// argTypeAt is the type function def expects of argument i.
func argTypeAt(def *funcDef, i int) argType {
	if i < len(def.args) {
		return def.args[i]
	}
	return def.args[len(def.args)-1]
}

// checkArg rejects a constant or typed argument of the wrong type, as
// Elasticsearch's verifier does.
func checkArg(def *funcDef, i int, x Expr, v ecs.Value) error {
	want := argTypeAt(def, i)
	if want == anyType || v.Kind == ecs.KindNull {
		return nil
	}
	ok := true
	switch want {
	case strType:
		ok = v.Kind == ecs.KindString
	case intType:
		ok = v.Kind == ecs.KindInt
	case numType:
		ok = v.Kind == ecs.KindInt || v.Kind == ecs.KindFloat
	case boolType:
		ok = v.Kind == ecs.KindBool
	}
	if !ok {
		return errorf(x.Position(), "function [%s]: argument %d must be %s, found %s", def.name, i+1, want, describeValue(v))
	}
	return nil
}

// resultType is the static type of x when known (anyType otherwise).
func resultType(x Expr) argType {
	switch x := x.(type) {
	case *Call:
		if def := functions[strings.ToLower(x.Name)]; def != nil {
			return def.result
		}
	case *Arith, *Neg:
		return numType
	case *Compare, *Not, *And, *Or:
		return boolType
	}
	return anyType
}

// call compiles a function call as a value.
func (c *compiler) call(x *Call) (valueFn, error) {
	def, err := lookupFunc(x)
	if err != nil {
		return nil, err
	}
	args := make([]valueFn, len(x.Args))
	consts := make([]constArg, len(x.Args))
	for i, a := range x.Args {
		v, err := c.value(a)
		if err != nil {
			return nil, err
		}
		args[i] = v
		if isConst(a) {
			cv := v(nil, 0)
			if err := checkArg(def, i, a, cv); err != nil {
				return nil, err
			}
			consts[i] = constArg{v: cv, ok: true}
			continue
		}
		if rt, want := resultType(a), argTypeAt(def, i); rt != anyType && want != anyType && rt != want &&
			!(want == numType && rt == intType) && !(want == intType && rt == numType) {
			return nil, errorf(a.Position(), "function [%s]: argument %d must be %s, found %s", def.name, i+1, want, rt)
		}
	}
	return def.build(args, consts, x.Insensitive, x)
}

func describeValue(v ecs.Value) string {
	switch v.Kind {
	case ecs.KindString:
		return fmt.Sprintf("string %q", clip(v.Str, 40))
	case ecs.KindInt:
		return fmt.Sprintf("integer %d", v.Int)
	case ecs.KindFloat:
		return fmt.Sprintf("number %s", javaDouble(v.Float))
	case ecs.KindBool:
		if v.Int != 0 {
			return "true"
		}
		return "false"
	case ecs.KindNull:
		return "null"
	}
	return "a value"
}

func opName(op Op) string {
	switch op {
	case OpEq:
		return `"=="`
	case OpNeq:
		return `"!="`
	case OpLt:
		return `"<"`
	case OpLte:
		return `"<="`
	case OpGt:
		return `">"`
	case OpGte:
		return `">="`
	case OpSeq:
		return `":"`
	case OpLike:
		return `"like"`
	case OpLikeI:
		return `"like~"`
	case OpRegex:
		return `"regex"`
	case OpRegexI:
		return `"regex~"`
	case OpIn:
		return `"in"`
	case OpInI:
		return `"in~"`
	}
	return "operator"
}

// ---- field predicates (queries) ----

// fieldLeaf tests a field against p with query semantics: a missing field
// never matches, an array matches when any element does. Typed fields go
// through their typed accessor; a miss falls back to the generic value, so
// a value that arrived with an unexpected JSON type is still found.
func fieldLeaf(acc ecs.Accessor, p scalarPred) func(*ecs.Event) bool {
	get := acc.Get
	pp := &p
	// The typed slot is read inline (acc.TypedStr, TypedStrs); an empty
	// slot leaves the accessor's generic store, which an event without
	// Fields does not have: Get would give null, which satisfies no
	// scalarPred.
	switch acc.Type {
	case ecs.TypeString:
		str, f := acc.Str, p.str
		if f == nil {
			return func(e *ecs.Event) bool { return pp.test(get(e)) }
		}
		slow := func(e *ecs.Event) bool {
			if s, ok := str(e); ok {
				return f(s)
			}
			return pp.test(get(e))
		}
		if p.hasOne && !p.oneFold {
			one := p.one
			return func(e *ecs.Event) bool {
				if s := acc.TypedStr(e); s != "" {
					return s == one
				}
				return len(e.Fields) > 0 && slow(e)
			}
		}
		if p.hasOne {
			one := p.one
			return func(e *ecs.Event) bool {
				if s := acc.TypedStr(e); s != "" {
					return len(s) >= len(one) && equalCanon(s, one)
				}
				return len(e.Fields) > 0 && slow(e)
			}
		}
		return func(e *ecs.Event) bool {
			if s := acc.TypedStr(e); s != "" {
				return f(s)
			}
			return len(e.Fields) > 0 && slow(e)
		}
	case ecs.TypeStrings:
		strs, f := acc.Strs, p.str
		if f == nil {
			return func(e *ecs.Event) bool { return pp.test(get(e)) }
		}
		slow := func(e *ecs.Event) bool {
			if ss := strs(e); ss != nil {
				for _, s := range ss {
					if f(s) {
						return true
					}
				}
				return false
			}
			return pp.test(get(e))
		}
		if p.hasOne && !p.oneFold {
			one := p.one
			return func(e *ecs.Event) bool {
				if ss := acc.TypedStrs(e); ss != nil {
					for _, s := range ss {
						if s == one {
							return true
						}
					}
					return false
				}
				return len(e.Fields) > 0 && slow(e)
			}
		}
		return func(e *ecs.Event) bool {
			if ss := acc.TypedStrs(e); ss != nil {
				for _, s := range ss {
					if f(s) {
						return true
					}
				}
				return false
			}
			return len(e.Fields) > 0 && slow(e)
		}
	case ecs.TypeInt:
		i, f := acc.Int, p.i64
		return func(e *ecs.Event) bool {
			if v, ok := i(e); ok {
				return f != nil && f(v)
			}
			return pp.test(get(e))
		}
	case ecs.TypeBool:
		i, f := acc.Int, p.bln
		return func(e *ecs.Event) bool {
			if v, ok := i(e); ok {
				return f != nil && f(v != 0)
			}
			return pp.test(get(e))
		}
	}
	return func(e *ecs.Event) bool { return pp.test(get(e)) }
}

// nullLeaf reports whether a field is missing or null (`field == null`;
// an empty array counts as missing, as Elasticsearch indexes no value).
func nullLeaf(acc ecs.Accessor) func(*ecs.Event) bool {
	get := acc.Get
	switch acc.Type {
	case ecs.TypeString:
		str := acc.Str
		return func(e *ecs.Event) bool {
			if _, ok := str(e); ok {
				return false
			}
			return isNullValue(get(e))
		}
	case ecs.TypeStrings:
		strs := acc.Strs
		return func(e *ecs.Event) bool {
			if len(strs(e)) > 0 {
				return false
			}
			return isNullValue(get(e))
		}
	case ecs.TypeInt, ecs.TypeBool:
		i := acc.Int
		return func(e *ecs.Event) bool {
			if _, ok := i(e); ok {
				return false
			}
			return isNullValue(get(e))
		}
	}
	return func(e *ecs.Event) bool { return isNullValue(get(e)) }
}
