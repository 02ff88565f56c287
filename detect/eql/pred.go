package eql

import (
	"cmp"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// scalarPred tests one scalar value against the constant side of a
// comparison. Each function takes the value in its own type; nil means the
// comparison never holds for values of that type.
//
// Mixed types follow Elasticsearch's field-versus-literal conversions: a
// string (keyword) value is compared with the literal's string form (`5` is
// "5"), a number with a string literal that parses as a number, a boolean
// with true/false or "true"/"false".
type scalarPred struct {
	str func(string) bool
	i64 func(int64) bool
	f64 func(float64) bool
	bln func(bool) bool
	// one, when set, says str is exactly "equals one" (case-sensitive
	// when !oneFold, else under folding with one canonical), so typed
	// string fields can test it without an indirect call.
	one     string
	hasOne  bool
	oneFold bool
}

// test applies p to v; arrays match when any element matches. Null, raw
// JSON and empty arrays never match.
func (p *scalarPred) test(v ecs.Value) bool {
	switch v.Kind {
	case ecs.KindString:
		return p.str != nil && p.str(v.Str)
	case ecs.KindInt:
		return p.i64 != nil && p.i64(v.Int)
	case ecs.KindFloat:
		return p.f64 != nil && p.f64(v.Float)
	case ecs.KindBool:
		return p.bln != nil && p.bln(v.Int != 0)
	case ecs.KindStrings:
		if p.str == nil {
			return false
		}
		for _, s := range v.Strs {
			if p.str(s) {
				return true
			}
		}
	case ecs.KindList:
		for i := range v.List {
			if v.List[i].Kind != ecs.KindList && p.test(v.List[i]) {
				return true
			}
		}
	}
	return false
}

// stringForm renders a literal as Elasticsearch turns it into a keyword
// term: numbers in decimal (Java's Double.toString for floats), booleans as
// true/false.
func stringForm(v ecs.Value) (string, bool) {
	switch v.Kind {
	case ecs.KindString:
		return v.Str, true
	case ecs.KindInt:
		return strconv.FormatInt(v.Int, 10), true
	case ecs.KindFloat:
		return javaDouble(v.Float), true
	case ecs.KindBool:
		if v.Int != 0 {
			return "true", true
		}
		return "false", true
	}
	return "", false
}

// javaDouble formats f like Java's Double.toString, which Elasticsearch
// uses to turn a double into a string ("42.5", "5.0", "1.0E20").
func javaDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	a := math.Abs(f)
	if a >= 1e-3 && a < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'E', -1, 64) // 1E+20, 1.5E-05
	mant, exp, _ := strings.Cut(s, "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}

// numberForm converts a literal to a number for comparison with numeric
// values: numbers as they are, strings when they parse as a number.
func numberForm(v ecs.Value) (i int64, isInt bool, f float64, ok bool) {
	switch v.Kind {
	case ecs.KindInt:
		return v.Int, true, float64(v.Int), true
	case ecs.KindFloat:
		if v.Float == math.Trunc(v.Float) && math.Abs(v.Float) < 1<<63 {
			return int64(v.Float), true, v.Float, true
		}
		return 0, false, v.Float, true
	case ecs.KindString:
		s := strings.TrimSpace(v.Str)
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, true, float64(n), true
		}
		if x, err := strconv.ParseFloat(s, 64); err == nil {
			return numberForm(ecs.Float(x))
		}
	}
	return 0, false, 0, false
}

// boolForm converts a literal to a boolean for comparison with boolean
// values.
func boolForm(v ecs.Value, fold bool) (bool, bool) {
	switch v.Kind {
	case ecs.KindBool:
		return v.Int != 0, true
	case ecs.KindString:
		if v.Str == "true" || fold && strings.EqualFold(v.Str, "true") {
			return true, true
		}
		if v.Str == "false" || fold && strings.EqualFold(v.Str, "false") {
			return false, true
		}
	}
	return false, false
}

// setThreshold is the list length above which a map replaces a linear scan.
const setThreshold = 8

// stringSet builds an exact-match predicate over strs.
func stringSet(strs []string) func(string) bool {
	switch len(strs) {
	case 0:
		return nil
	case 1:
		a := strs[0]
		return func(s string) bool { return s == a }
	case 2:
		a, b := strs[0], strs[1]
		return func(s string) bool { return s == a || s == b }
	}
	if len(strs) <= setThreshold {
		return func(s string) bool {
			for _, x := range strs {
				if s == x {
					return true
				}
			}
			return false
		}
	}
	m := make(map[string]struct{}, len(strs))
	for _, x := range strs {
		m[x] = struct{}{}
	}
	return func(s string) bool {
		_, ok := m[s]
		return ok
	}
}

// foldBufSize is the stack buffer used to canonicalise a value for a map
// lookup; longer values fall back to a scan.
const foldBufSize = 256

// foldSet builds a case-insensitive exact-match predicate over strs
// (already canonical).
func foldSet(canons []string) func(string) bool {
	switch {
	case len(canons) == 0:
		return nil
	case len(canons) == 1:
		a := canons[0]
		return func(s string) bool { return len(s) >= len(a) && equalCanon(s, a) }
	case len(canons) <= setThreshold:
		return func(s string) bool {
			for _, a := range canons {
				if len(s) >= len(a) && equalCanon(s, a) {
					return true
				}
			}
			return false
		}
	}
	m := make(map[string]struct{}, len(canons))
	for _, x := range canons {
		m[x] = struct{}{}
	}
	return func(s string) bool {
		// A canonical rune is never longer than the rune it replaces, so
		// the canonical form of s fits when s does.
		if len(s) > foldBufSize {
			for _, a := range canons {
				if len(s) >= len(a) && equalCanon(s, a) {
					return true
				}
			}
			return false
		}
		var buf [foldBufSize]byte
		b := appendCanon(buf[:0], s)
		_, ok := m[string(b)]
		return ok
	}
}

func dedupe(xs []string) []string {
	seen := make(map[string]bool, len(xs))
	out := xs[:0]
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// numberPreds builds the numeric and boolean parts of an equality
// predicate over lits.
func numberPreds(lits []ecs.Value, fold bool) (i64 func(int64) bool, f64 func(float64) bool, bln func(bool) bool) {
	var ints []int64
	var flts []float64
	var bools []bool
	for _, v := range lits {
		if i, isInt, f, ok := numberForm(v); ok {
			if isInt {
				ints = append(ints, i)
			}
			flts = append(flts, f)
		}
		if b, ok := boolForm(v, fold); ok {
			bools = append(bools, b)
		}
	}
	if len(ints) > 0 {
		i64 = func(x int64) bool { return slices.Contains(ints, x) }
	}
	if len(flts) > 0 {
		f64 = func(x float64) bool { return slices.Contains(flts, x) }
	}
	if len(bools) > 0 {
		bln = func(x bool) bool { return slices.Contains(bools, x) }
	}
	return i64, f64, bln
}

// eqPred is == and in (case-sensitive, no wildcards) or, with fold, in~.
func eqPred(lits []ecs.Value, fold bool) scalarPred {
	var strs []string
	for _, v := range lits {
		if s, ok := stringForm(v); ok {
			if fold {
				s = canonString(s)
			}
			strs = append(strs, s)
		}
	}
	strs = dedupe(strs)
	var p scalarPred
	if fold {
		p.str = foldSet(strs)
	} else {
		p.str = stringSet(strs)
	}
	if len(strs) == 1 {
		p.one, p.hasOne, p.oneFold = strs[0], true, fold
	}
	p.i64, p.f64, p.bln = numberPreds(lits, fold)
	return p
}

// likePred is : / like~ (fold) and like: wildcard patterns. Patterns
// without a wildcard go to a set, the others are tried in turn. A number is
// matched through its decimal form; that allocates, but only for numeric
// values against patterns with wildcards.
func likePred(lits []ecs.Value, fold bool) scalarPred {
	var exact []string
	var exactLits []ecs.Value
	var wild []*wildcard
	for _, v := range lits {
		s, ok := stringForm(v)
		if !ok {
			continue
		}
		if hasWildcard(s) {
			wild = append(wild, compileWildcard(s, fold))
			continue
		}
		exactLits = append(exactLits, v)
		if fold {
			s = canonString(s)
		}
		exact = append(exact, s)
	}
	exact = dedupe(exact)
	var set func(string) bool
	if fold {
		set = foldSet(exact)
	} else {
		set = stringSet(exact)
	}
	var p scalarPred
	switch {
	case len(wild) == 0:
		p.str = set
		if len(exact) == 1 {
			p.one, p.hasOne, p.oneFold = exact[0], true, fold
		}
	case set == nil && len(wild) == 1:
		w := wild[0]
		p.str = w.match
	default:
		filter := newPairFilter(wild, fold)
		if len(wild) < 2 {
			filter = nil
		}
		p.str = func(s string) bool {
			if set != nil && set(s) {
				return true
			}
			ascii := fold && isASCII(s)
			if filter != nil && !filter.mayMatch(s, ascii) {
				return false
			}
			for _, w := range wild {
				if w.matchASCII(s, ascii) {
					return true
				}
			}
			return false
		}
	}
	if len(wild) == 0 {
		p.i64, p.f64, p.bln = numberPreds(exactLits, fold)
		return p
	}
	str := p.str
	p.i64 = func(x int64) bool { return str(strconv.FormatInt(x, 10)) }
	p.f64 = func(x float64) bool { return str(javaDouble(x)) }
	p.bln = func(x bool) bool { return str(strconv.FormatBool(x)) }
	return p
}

// regexPred is regex / regex~: the patterns are joined into one
// alternation.
func regexPred(lits []*Literal, fold bool) (scalarPred, error) {
	var bodies []string
	for _, l := range lits {
		s, ok := stringForm(l.Value)
		if !ok {
			continue
		}
		t := &luceneRegex{src: s}
		body, err := t.translate()
		if err != nil {
			return scalarPred{}, errorf(l.Pos, "%v", err)
		}
		if _, err := translateRegex(s, fold); err != nil {
			return scalarPred{}, errorf(l.Pos, "%v", err)
		}
		bodies = append(bodies, "(?:"+body+")")
	}
	if len(bodies) == 0 {
		return scalarPred{}, nil
	}
	flags := "(?s)"
	if fold {
		flags = "(?is)"
	}
	expr := flags + "^(?:" + strings.Join(bodies, "|") + ")$"
	re, err := regexp.Compile(expr)
	if err != nil {
		return scalarPred{}, errorf(lits[0].Pos, "invalid regular expression: %v", err)
	}
	match := re.MatchString
	if ends := asciiEnds(expr); ends.ok {
		// Most values fail on their first or last byte: skip the regexp.
		match = func(s string) bool { return ends.accept(s) && re.MatchString(s) }
	}
	p := scalarPred{str: match}
	p.i64 = func(x int64) bool { return match(strconv.FormatInt(x, 10)) }
	p.f64 = func(x float64) bool { return match(javaDouble(x)) }
	p.bln = func(x bool) bool { return match(strconv.FormatBool(x)) }
	return p, nil
}

// rangePred is < <= > >=: numbers numerically, strings by byte order
// (Elasticsearch compares keyword terms as UTF-8 bytes), a string value
// against a numeric literal by the literal's string form.
func rangePred(op Op, lit ecs.Value) scalarPred {
	ok := func(c int) bool {
		switch op {
		case OpLt:
			return c < 0
		case OpLte:
			return c <= 0
		case OpGt:
			return c > 0
		default:
			return c >= 0
		}
	}
	var p scalarPred
	if s, has := stringForm(lit); has {
		p.str = func(x string) bool { return ok(strings.Compare(x, s)) }
	}
	if i, isInt, f, has := numberForm(lit); has {
		p.i64 = func(x int64) bool {
			if isInt {
				return ok(cmp.Compare(x, i))
			}
			return ok(cmpFloat(float64(x), f))
		}
		p.f64 = func(x float64) bool { return ok(cmpFloat(x, f)) }
	}
	if b, has := boolForm(lit, false); has {
		p.bln = func(x bool) bool { return ok(cmp.Compare(b2i(x), b2i(b))) }
	}
	return p
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
