package eql

import (
	"encoding/binary"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// valueFn computes the value of an expression on an event. pick selects
// which element of the script's iterated array field to use (see
// scriptNode); constant expressions are evaluated once at compile time with
// a nil event.
type valueFn func(e *ecs.Event, pick int) ecs.Value

// tri is the truth value of a script: Elasticsearch evaluates functions in
// Painless, where a null operand makes the result null, and a null result
// does not match (not even under `not`).
type tri uint8

const (
	triFalse tri = iota
	triTrue
	triNull
)

func triOf(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

// element returns element i of an array value (Null past the end), or v
// itself when it is not an array.
func element(v ecs.Value, i int) ecs.Value {
	switch v.Kind {
	case ecs.KindStrings:
		if i < len(v.Strs) {
			return ecs.String(v.Strs[i])
		}
		return ecs.Null
	case ecs.KindList:
		if i < len(v.List) {
			return v.List[i]
		}
		return ecs.Null
	}
	return v
}

// arrayLen is the number of elements a script iterates over: the array's
// length, at least 1.
func arrayLen(v ecs.Value) int {
	switch v.Kind {
	case ecs.KindStrings:
		if len(v.Strs) > 1 {
			return len(v.Strs)
		}
	case ecs.KindList:
		if len(v.List) > 1 {
			return len(v.List)
		}
	}
	return 1
}

func isNullValue(v ecs.Value) bool {
	switch v.Kind {
	case ecs.KindNull:
		return true
	case ecs.KindStrings:
		return len(v.Strs) == 0
	case ecs.KindList:
		return len(v.List) == 0
	}
	return false
}

// valueString renders a scalar as the string() function does.
func valueString(v ecs.Value) (string, bool) {
	switch v.Kind {
	case ecs.KindString, ecs.KindInt, ecs.KindFloat, ecs.KindBool:
		return stringForm(v)
	}
	return "", false
}

// argType is the type a function expects of an argument or returns.
type argType byte

const (
	anyType  argType = 'a'
	strType  argType = 's'
	intType  argType = 'i'
	numType  argType = 'n'
	boolType argType = 'b'
)

func (t argType) String() string {
	switch t {
	case strType:
		return "a string"
	case intType:
		return "an integer"
	case numType:
		return "a number"
	case boolType:
		return "a boolean"
	}
	return "a value"
}

// funcDef describes one EQL function.
type funcDef struct {
	name     string    // canonical spelling, for messages
	args     []argType // expected argument types; the last repeats when variadic
	min      int       // minimum argument count
	variadic bool
	fold     bool    // has a case-insensitive ~ variant
	result   argType // result type
	// build returns the function's valueFn given its argument valueFns and
	// the constant values of constant arguments (Null when not constant).
	build func(args []valueFn, consts []constArg, fold bool, call *Call) (valueFn, error)
	// query, when set, builds a string predicate for the form
	// f(field, "constant", ...) that Elasticsearch runs as a query on the
	// field (prefix, wildcard or terms query) rather than as a script.
	query func(consts []ecs.Value, fold bool) (func(string) bool, string)
}

// constArg is a constant argument's value; ok is false for arguments that
// depend on the event.
type constArg struct {
	v  ecs.Value
	ok bool
}

// functions are the EQL functions by lower-case name: Elasticsearch's
// function registry resolves names case-insensitively (cidrmatch,
// CIDRMATCH and cidrMatch are one function).
var functions = map[string]*funcDef{}

func init() {
	for _, f := range []*funcDef{
		{name: "add", args: []argType{numType, numType}, min: 2, result: numType, build: arithBuild('+')},
		{name: "subtract", args: []argType{numType, numType}, min: 2, result: numType, build: arithBuild('-')},
		{name: "multiply", args: []argType{numType, numType}, min: 2, result: numType, build: arithBuild('*')},
		{name: "divide", args: []argType{numType, numType}, min: 2, result: numType, build: arithBuild('/')},
		{name: "modulo", args: []argType{numType, numType}, min: 2, result: numType, build: arithBuild('%')},
		{name: "between", args: []argType{strType, strType, strType, boolType}, min: 3, fold: true, result: strType, build: buildBetween},
		{name: "cidrMatch", args: []argType{strType, strType}, min: 2, variadic: true, result: boolType, build: buildCIDRMatch, query: queryCIDRMatch},
		{name: "concat", args: []argType{anyType}, min: 1, variadic: true, result: strType, build: buildConcat},
		{name: "endsWith", args: []argType{strType, strType}, min: 2, fold: true, result: boolType, build: buildStringTest(endsWith), query: queryStringTest(endsWith)},
		{name: "indexOf", args: []argType{strType, strType, intType}, min: 2, fold: true, result: intType, build: buildIndexOf},
		{name: "length", args: []argType{strType}, min: 1, result: intType, build: buildLength},
		{name: "number", args: []argType{strType, intType}, min: 1, result: numType, build: buildNumber},
		{name: "startsWith", args: []argType{strType, strType}, min: 2, fold: true, result: boolType, build: buildStringTest(startsWith), query: queryStringTest(startsWith)},
		{name: "string", args: []argType{anyType}, min: 1, result: strType, build: buildString},
		{name: "stringContains", args: []argType{strType, strType}, min: 2, fold: true, result: boolType, build: buildStringTest(stringContains), query: queryStringTest(stringContainsQuery)},
		{name: "substring", args: []argType{strType, intType, intType}, min: 2, result: strType, build: buildSubstring},
	} {
		functions[strings.ToLower(f.name)] = f
	}
}

// ---- arithmetic ----

func arithBuild(op ArithOp) func([]valueFn, []constArg, bool, *Call) (valueFn, error) {
	return func(args []valueFn, _ []constArg, _ bool, _ *Call) (valueFn, error) {
		x, y := args[0], args[1]
		return func(e *ecs.Event, pick int) ecs.Value { return arith(op, x(e, pick), y(e, pick)) }, nil
	}
}

// arith applies op with Java semantics: integer operands give an integer
// (division truncates toward zero, % takes the dividend's sign), any float
// operand gives a float. A null or non-numeric operand, or an integer
// division by zero, gives null.
func arith(op ArithOp, a, b ecs.Value) ecs.Value {
	if a.Kind == ecs.KindInt && b.Kind == ecs.KindInt {
		x, y := a.Int, b.Int
		switch op {
		case '+':
			return ecs.Int(x + y)
		case '-':
			return ecs.Int(x - y)
		case '*':
			return ecs.Int(x * y)
		case '/':
			if y == 0 {
				return ecs.Null
			}
			return ecs.Int(x / y)
		case '%':
			if y == 0 {
				return ecs.Null
			}
			return ecs.Int(x % y)
		}
		return ecs.Null
	}
	x, ok1 := toFloat(a)
	y, ok2 := toFloat(b)
	if !ok1 || !ok2 {
		return ecs.Null
	}
	switch op {
	case '+':
		return ecs.Float(x + y)
	case '-':
		return ecs.Float(x - y)
	case '*':
		return ecs.Float(x * y)
	case '/':
		return ecs.Float(x / y)
	case '%':
		return ecs.Float(math.Mod(x, y))
	}
	return ecs.Null
}

func toFloat(v ecs.Value) (float64, bool) {
	switch v.Kind {
	case ecs.KindInt:
		return float64(v.Int), true
	case ecs.KindFloat:
		return v.Float, true
	}
	return 0, false
}

func negate(v ecs.Value) ecs.Value {
	switch v.Kind {
	case ecs.KindInt:
		return ecs.Int(-v.Int)
	case ecs.KindFloat:
		return ecs.Float(-v.Float)
	}
	return ecs.Null
}

// ---- string functions ----

// Positions and lengths count Unicode code points. Elasticsearch counts
// Java chars (UTF-16 units); the two differ only for characters outside the
// Basic Multilingual Plane.

func runeCount(s string) int {
	if isASCII(s) {
		return len(s)
	}
	return utf8.RuneCountInString(s)
}

// byteOffset returns the byte offset of code point k of s (len(s) past the
// end).
func byteOffset(s string, k int) int {
	if k <= 0 {
		return 0
	}
	n := 0
	for i := range s {
		if n == k {
			return i
		}
		n++
	}
	return len(s)
}

func runeIndex(s string, off int) int {
	if isASCII(s[:off]) {
		return off
	}
	return utf8.RuneCountInString(s[:off])
}

func buildBetween(args []valueFn, _ []constArg, fold bool, _ *Call) (valueFn, error) {
	return func(e *ecs.Event, pick int) ecs.Value {
		s, l, r := args[0](e, pick), args[1](e, pick), args[2](e, pick)
		if s.Kind != ecs.KindString || l.Kind != ecs.KindString || r.Kind != ecs.KindString {
			return ecs.Null
		}
		greedy := false
		if len(args) == 4 {
			g := args[3](e, pick)
			if g.Kind != ecs.KindBool {
				return ecs.Null
			}
			greedy = g.Int != 0
		}
		return ecs.String(between(s.Str, l.Str, r.Str, greedy, fold))
	}, nil
}

// between is Elasticsearch's StringUtils.between, a port of the Python EQL
// function: the text after the first left and before the next right (the
// last right when greedy).
func between(s, left, right string, greedy, fold bool) string {
	if s == "" || left == "" || right == "" {
		return s
	}
	var i, n, j int
	if fold {
		cl, cr := canonString(left), canonString(right)
		i, n = indexCanon(s, cl)
		if i < 0 {
			return ""
		}
		start := i + n
		if greedy {
			j, _ = lastIndexCanon(s, cr)
		} else if j, _ = indexCanon(s[start:], cr); j >= 0 {
			j += start
		}
		if j < start {
			return ""
		}
		return s[start:j]
	}
	i = strings.Index(s, left)
	if i < 0 {
		return ""
	}
	start := i + len(left)
	if greedy {
		j = strings.LastIndex(s, right)
	} else if j = strings.Index(s[start:], right); j >= 0 {
		j += start
	}
	if j < start {
		return ""
	}
	return s[start:j]
}

func startsWith(s, sub string, fold bool) bool {
	if fold {
		_, ok := hasPrefixCanon(s, sub)
		return ok
	}
	return strings.HasPrefix(s, sub)
}

func endsWith(s, sub string, fold bool) bool {
	if !fold {
		return strings.HasSuffix(s, sub)
	}
	j := len(s)
	for k := len(sub); k > 0; {
		rb, nb := utf8.DecodeLastRuneInString(sub[:k])
		if rb == utf8.RuneError && nb == 1 {
			rb = -1 - rune(sub[k-1])
		}
		if j == 0 {
			return false
		}
		ra, na := decodeLastRune(s, j, true)
		if ra != rb {
			return false
		}
		j -= na
		k -= nb
	}
	return true
}

// stringContains is the script form: an empty substring never matches.
func stringContains(s, sub string, fold bool) bool {
	if s == "" || sub == "" {
		return false
	}
	if fold {
		i, _ := indexCanon(s, sub)
		return i >= 0
	}
	return strings.Contains(s, sub)
}

// stringContainsQuery is the query form, a wildcard query *sub*: an empty
// substring matches every value.
func stringContainsQuery(s, sub string, fold bool) bool {
	if fold {
		i, _ := indexCanon(s, sub)
		return i >= 0
	}
	return strings.Contains(s, sub)
}

// buildStringTest builds startsWith/endsWith/stringContains for scripts.
// sub is canonicalised per call when it is not constant.
func buildStringTest(test func(s, sub string, fold bool) bool) func([]valueFn, []constArg, bool, *Call) (valueFn, error) {
	return func(args []valueFn, consts []constArg, fold bool, _ *Call) (valueFn, error) {
		src, subFn := args[0], args[1]
		constSub, hasConst := "", false
		if consts[1].ok && consts[1].v.Kind == ecs.KindString {
			constSub, hasConst = consts[1].v.Str, true
			if fold {
				constSub = canonString(constSub)
			}
		}
		return func(e *ecs.Event, pick int) ecs.Value {
			s := src(e, pick)
			if s.Kind != ecs.KindString {
				return ecs.Null
			}
			sub := constSub
			if !hasConst {
				v := subFn(e, pick)
				if v.Kind != ecs.KindString {
					return ecs.Null
				}
				sub = v.Str
				if fold {
					sub = canonString(sub)
				}
			}
			return ecs.Bool(test(s.Str, sub, fold))
		}, nil
	}
}

// queryStringTest builds the field predicate of startsWith(field, "x") and
// friends.
func queryStringTest(test func(s, sub string, fold bool) bool) func([]ecs.Value, bool) (func(string) bool, string) {
	return func(consts []ecs.Value, fold bool) (func(string) bool, string) {
		if consts[0].Kind != ecs.KindString {
			return nil, "the substring must be a string"
		}
		sub := consts[0].Str
		if fold {
			sub = canonString(sub)
		}
		return func(s string) bool { return test(s, sub, fold) }, ""
	}
}

func buildIndexOf(args []valueFn, _ []constArg, fold bool, _ *Call) (valueFn, error) {
	return func(e *ecs.Event, pick int) ecs.Value {
		s, sub := args[0](e, pick), args[1](e, pick)
		if s.Kind != ecs.KindString || sub.Kind != ecs.KindString {
			return ecs.Null
		}
		start := int64(0)
		if len(args) == 3 {
			st := args[2](e, pick)
			if st.Kind != ecs.KindInt {
				return ecs.Null
			}
			start = max(st.Int, 0)
		}
		n := int64(runeCount(s.Str))
		if start >= n {
			// Java's indexOf: past the end only an empty substring is found.
			if sub.Str == "" {
				return ecs.Int(min(start, n))
			}
			return ecs.Null
		}
		off := byteOffset(s.Str, int(start))
		var i int
		if fold {
			i, _ = indexCanon(s.Str[off:], canonString(sub.Str))
		} else {
			i = strings.Index(s.Str[off:], sub.Str)
		}
		if i < 0 {
			return ecs.Null
		}
		return ecs.Int(int64(runeIndex(s.Str, off+i)))
	}, nil
}

func buildLength(args []valueFn, _ []constArg, _ bool, _ *Call) (valueFn, error) {
	return func(e *ecs.Event, pick int) ecs.Value {
		s := args[0](e, pick)
		if s.Kind != ecs.KindString {
			return ecs.Null
		}
		return ecs.Int(int64(runeCount(s.Str)))
	}, nil
}

func buildNumber(args []valueFn, _ []constArg, _ bool, _ *Call) (valueFn, error) {
	return func(e *ecs.Event, pick int) ecs.Value {
		s := args[0](e, pick)
		base := int64(0)
		if len(args) == 2 {
			b := args[1](e, pick)
			switch b.Kind {
			case ecs.KindInt:
				base = b.Int
			case ecs.KindNull:
			default:
				return ecs.Null
			}
		}
		switch s.Kind {
		case ecs.KindString:
			return parseNumber(s.Str, base)
		case ecs.KindInt, ecs.KindFloat:
			return s
		}
		return ecs.Null
	}, nil
}

// parseNumber is number(): decimal integers, then floats; a 0x prefix means
// base 16; surrounding spaces are ignored. A string that does not parse
// gives null (Elasticsearch fails the search).
func parseNumber(s string, base int64) ecs.Value {
	s = strings.TrimSpace(s)
	sign := ""
	body := s
	if strings.HasPrefix(body, "-") || strings.HasPrefix(body, "+") {
		sign, body = body[:1], body[1:]
	}
	if strings.HasPrefix(body, "0x") || strings.HasPrefix(body, "0X") {
		if base == 0 || base == 16 {
			if i, err := strconv.ParseInt(sign+body[2:], 16, 64); err == nil {
				return ecs.Int(i)
			}
		}
		return ecs.Null
	}
	if base == 0 {
		base = 10
	}
	if base < 2 || base > 36 {
		return ecs.Null
	}
	if i, err := strconv.ParseInt(s, int(base), 64); err == nil {
		return ecs.Int(i)
	}
	if base == 10 {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return ecs.Float(f)
		}
	}
	return ecs.Null
}

func buildString(args []valueFn, _ []constArg, _ bool, _ *Call) (valueFn, error) {
	return func(e *ecs.Event, pick int) ecs.Value {
		if s, ok := valueString(args[0](e, pick)); ok {
			return ecs.String(s)
		}
		return ecs.Null
	}, nil
}

// buildConcat joins the string forms of its arguments; any null argument
// makes the result null. It allocates the result.
func buildConcat(args []valueFn, _ []constArg, _ bool, _ *Call) (valueFn, error) {
	return func(e *ecs.Event, pick int) ecs.Value {
		var b strings.Builder
		for _, a := range args {
			s, ok := valueString(a(e, pick))
			if !ok {
				return ecs.Null
			}
			b.WriteString(s)
		}
		return ecs.String(b.String())
	}, nil
}

// buildSubstring takes code points start to end with Python slice
// semantics: negative positions count from the end.
func buildSubstring(args []valueFn, _ []constArg, _ bool, _ *Call) (valueFn, error) {
	return func(e *ecs.Event, pick int) ecs.Value {
		s := args[0](e, pick)
		st := args[1](e, pick)
		if s.Kind != ecs.KindString || st.Kind != ecs.KindInt {
			return ecs.Null
		}
		n := int64(runeCount(s.Str))
		end := n
		if len(args) == 3 {
			en := args[2](e, pick)
			switch en.Kind {
			case ecs.KindInt:
				end = en.Int
			case ecs.KindNull:
			default:
				return ecs.Null
			}
		}
		start := st.Int
		if s.Str == "" {
			return s
		}
		if start < 0 {
			start += n
		}
		start = max(start, 0)
		if end < 0 {
			end += n
		}
		end = min(max(end, 0), n)
		if start >= end {
			return ecs.String("")
		}
		return ecs.String(s.Str[byteOffset(s.Str, int(start)):byteOffset(s.Str, int(end))])
	}, nil
}

// ---- cidrMatch ----

// cidrSet holds CIDR blocks in Lucene's form: IPv4 as IPv4-mapped IPv6, so
// that an IPv6 block such as ::/0 also covers IPv4 addresses, as
// Elasticsearch's ip field does. The blocks are kept as sorted, disjoint
// ranges of 128-bit addresses, merged where they overlap or touch: an
// address is in the set when the last range starting at or before it
// ends at or after it, a binary search instead of a test per block (one
// of Elastic's macOS rules lists 26 private and reserved blocks and runs
// on every connection).
type cidrSet []addrRange

// addrRange is the addresses lo through hi, inclusive.
type addrRange struct{ lo, hi u128 }

// u128 is an address as a big-endian 128-bit number.
type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || a.hi == b.hi && a.lo < b.lo }

func u128Of(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// blockRange is the range of a masked prefix of the 128-bit space.
func blockRange(p netip.Prefix) addrRange {
	lo := u128Of(p.Addr())
	host := 128 - p.Bits() // bits left free
	hi := lo
	switch {
	case host >= 64:
		hi.lo = ^uint64(0)
		hi.hi |= uint64(1)<<(host-64) - 1 // a shift by 64 is 0: all ones
	case host > 0:
		hi.lo |= uint64(1)<<host - 1
	}
	return addrRange{lo, hi}
}

func parseCIDRs(vals []ecs.Value) (cidrSet, string) {
	var set cidrSet
	for _, v := range vals {
		if v.Kind != ecs.KindString {
			return nil, "CIDR blocks must be strings"
		}
		p, err := netip.ParsePrefix(v.Str)
		if err != nil {
			a, aerr := netip.ParseAddr(v.Str)
			if aerr != nil {
				return nil, "invalid CIDR block " + strconv.Quote(v.Str)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		a := p.Addr().WithZone("")
		bits := p.Bits()
		if a.Is4() {
			a = netip.AddrFrom16(a.As16())
			bits += 96
		}
		set = append(set, blockRange(netip.PrefixFrom(a, bits).Masked()))
	}
	slices.SortFunc(set, func(x, y addrRange) int {
		switch {
		case x.lo.less(y.lo):
			return -1
		case y.lo.less(x.lo):
			return 1
		}
		return 0
	})
	merged := set[:0]
	for _, r := range set {
		if n := len(merged); n > 0 && !merged[n-1].hi.less(r.lo.prev()) {
			// Overlapping or adjacent: one range.
			if merged[n-1].hi.less(r.hi) {
				merged[n-1].hi = r.hi
			}
			continue
		}
		merged = append(merged, r)
	}
	return merged, ""
}

// prev is a-1 (0 for 0: a range starting at 0 merges with none before it).
func (a u128) prev() u128 {
	switch {
	case a.lo > 0:
		return u128{a.hi, a.lo - 1}
	case a.hi > 0:
		return u128{a.hi - 1, ^uint64(0)}
	}
	return a
}

// contains reports whether the address s is in any block (a zone is
// ignored).
func (set cidrSet) contains(s string) bool {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	x := u128Of(a) // As16 maps IPv4 into ::ffff:0:0/96 and drops the zone
	// The first range starting after x; the one before it is the only
	// one that may hold x.
	i, j := 0, len(set)
	for i < j {
		h := int(uint(i+j) >> 1)
		if x.less(set[h].lo) {
			j = h
		} else {
			i = h + 1
		}
	}
	return i > 0 && !set[i-1].hi.less(x)
}

func queryCIDRMatch(consts []ecs.Value, _ bool) (func(string) bool, string) {
	set, msg := parseCIDRs(consts)
	if msg != "" {
		return nil, msg
	}
	return set.contains, ""
}

func buildCIDRMatch(args []valueFn, consts []constArg, _ bool, call *Call) (valueFn, error) {
	vals := make([]ecs.Value, 0, len(consts)-1)
	for i, c := range consts[1:] {
		if !c.ok {
			return nil, errorf(call.Args[i+1].Position(), "function [cidrMatch]: CIDR blocks must be constants")
		}
		if c.v.Kind == ecs.KindNull {
			// cidrMatch(ip, null) is null.
			return func(*ecs.Event, int) ecs.Value { return ecs.Null }, nil
		}
		vals = append(vals, c.v)
	}
	set, msg := parseCIDRs(vals)
	if msg != "" {
		return nil, errorf(call.Pos, "function [cidrMatch]: %s", msg)
	}
	ip := args[0]
	return func(e *ecs.Event, pick int) ecs.Value {
		v := ip(e, pick)
		if v.Kind != ecs.KindString {
			return ecs.Null
		}
		return ecs.Bool(set.contains(v.Str))
	}, nil
}
