package eql

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// Index keys: the literal predicates of a condition that a rule-set index
// (detect's Plan) can look up once per event for all rules. IndexKeys
// returns a set of keys at least one of which holds for every event that
// satisfies the condition, so an index may skip a condition none of whose
// keys holds; it never decides a match (the compiled condition does).

// KeyKind is how a key tests one string value of its field.
type KeyKind uint8

// The key kinds. The Fold kinds compare under case folding; their Text is
// canonical (see AppendFold).
const (
	KeyEqual        KeyKind = iota // the value is Text
	KeyFold                        // the value folds to Text
	KeyPrefix                      // the value starts with Text
	KeyFoldPrefix                  // the folded value starts with Text
	KeySuffix                      // the value ends with Text
	KeyFoldSuffix                  // the folded value ends with Text
	KeyContains                    // the value contains Text
	KeyFoldContains                // the folded value contains Text
)

var keyKindNames = [...]string{"==", "==~", "prefix", "prefix~", "suffix", "suffix~", "contains", "contains~"}

func (k KeyKind) String() string {
	if int(k) < len(keyKindNames) {
		return keyKindNames[k]
	}
	return "key?"
}

// Fold reports whether k compares folded values.
func (k KeyKind) Fold() bool {
	return k == KeyFold || k == KeyFoldPrefix || k == KeyFoldSuffix || k == KeyFoldContains
}

// Key is one literal predicate on a field's string values. A boolean value
// is looked up as its text, true or false. A number (arriving where a
// string or boolean was expected) may satisfy the predicate through
// Elasticsearch's conversions: an index must treat it as satisfying every
// key of the field.
type Key struct {
	Field string
	Kind  KeyKind
	Text  string
}

func (k Key) String() string { return k.Field + " " + k.Kind.String() + " " + quote(k.Text) }

// KeyCost ranks the key sets of the conjuncts of an `and`: IndexKeys keeps
// the set with the lowest cost (the most selective, cheapest to look up).
type KeyCost func(keys []Key) float64

// IndexKeys returns keys such that every event satisfying cond (an event
// query's condition, category aside) satisfies at least one of them. ok is
// false when the condition has no such set (a negation, a range, a
// function, a regular expression whose first and last characters are
// neither few nor ASCII, an `or` with a branch without keys). An empty set
// with ok means the condition never holds. Between the key sets of the
// conjuncts of an `and`, the one of lowest cost is kept.
//
// The keys mirror the compiled predicates exactly where they matter: `==`
// and `in` compare the literal's string form (5 is "5") case-sensitively
// and treat `*` literally; `in~` compares folded; `:`, `like~` and `like`
// give an exact key for a pattern without wildcards and otherwise the
// literal text before the first wildcard (prefix) or after the last
// (suffix), whichever is longer, unless it is shorter than minAffix and a
// run of literal text inside the pattern is not: then the longest such run
// (contains). A pattern with no literal text has no key. `regex` and
// `regex~` give one-byte prefix or suffix keys (see regexKeys).
func IndexKeys(cond Expr, cost KeyCost) (keys []Key, ok bool) {
	return indexKeys(cond, cost)
}

func indexKeys(x Expr, cost KeyCost) ([]Key, bool) {
	switch x := x.(type) {
	case *Literal:
		switch {
		case x.Value.Kind == ecs.KindNull, x.Value.Kind == ecs.KindBool && x.Value.Int == 0:
			return nil, true // never holds
		}
		return nil, false
	case *And:
		var best []Key
		found := false
		bestCost := 0.0
		for _, y := range x.X {
			keys, ok := indexKeys(y, cost)
			if !ok {
				continue
			}
			if len(keys) == 0 {
				return nil, true
			}
			c := cost(keys)
			if !found || c < bestCost {
				best, bestCost, found = keys, c, true
			}
		}
		return best, found
	case *Or:
		var all []Key
		for _, y := range x.X {
			keys, ok := indexKeys(y, cost)
			if !ok {
				return nil, false
			}
			all = appendKeys(all, keys)
		}
		return all, true
	case *Compare:
		return compareKeys(x, cost)
	}
	return nil, false
}

func appendKeys(dst, keys []Key) []Key {
next:
	for _, k := range keys {
		for _, d := range dst {
			if d == k {
				continue next
			}
		}
		dst = append(dst, k)
	}
	return dst
}

// compareKeys is IndexKeys for a comparison of a field with literals.
func compareKeys(x *Compare, cost KeyCost) ([]Key, bool) {
	left, right, op := x.Left, x.Right, x.Op
	if op == OpEq && len(right) == 1 {
		if _, ok := right[0].(*Field); ok {
			left, right = right[0], []Expr{left} // "x" == field
		}
	}
	f, ok := left.(*Field)
	if !ok || len(right) == 0 {
		return nil, false
	}
	switch op {
	case OpEq, OpIn, OpInI, OpSeq, OpLikeI, OpLike, OpRegex, OpRegexI:
	default:
		return nil, false
	}
	switch ecs.Lookup(f.Path).Type {
	case ecs.TypeString, ecs.TypeStrings, ecs.TypeAny:
	case ecs.TypeBool:
		// Every predicate on a typed boolean compares its text, true or
		// false (a literal's boolean form is its string form, folded
		// under in~ and `:`), which is what an index looks a boolean
		// value up as; a number there matches every key (see Key).
	default:
		return nil, false // typed numbers: 1 equals 1.0 and " 1": not indexed
	}
	var keys []Key
	for _, r := range right {
		l, ok := r.(*Literal)
		if !ok {
			return nil, false
		}
		if l.Value.Kind == ecs.KindNull {
			if op == OpEq {
				return nil, false // == null tests existence
			}
			continue // never equals a value
		}
		s, ok := stringForm(l.Value)
		if !ok {
			return nil, false
		}
		var k Key
		switch op {
		case OpEq, OpIn:
			k = Key{Field: f.Path, Kind: KeyEqual, Text: s}
		case OpInI:
			if !utf8.ValidString(s) {
				return nil, false
			}
			k = Key{Field: f.Path, Kind: KeyFold, Text: canonString(s)}
		case OpSeq, OpLikeI, OpLike:
			k, ok = patternKey(f.Path, s, op != OpLike)
			if !ok {
				return nil, false
			}
		case OpRegex, OpRegexI:
			ks, ok := regexKeys(f.Path, s, op == OpRegexI, cost)
			if !ok {
				return nil, false
			}
			keys = appendKeys(keys, ks)
			continue
		default:
			return nil, false
		}
		keys = appendKeys(keys, []Key{k})
	}
	return keys, true
}

// patternKey is the key of one wildcard pattern.
func patternKey(field, pat string, fold bool) (Key, bool) {
	if !utf8.ValidString(pat) {
		return Key{}, false
	}
	canon := func(s string) string {
		if fold {
			return canonString(s)
		}
		return s
	}
	if !hasWildcard(pat) {
		if fold {
			return Key{Field: field, Kind: KeyFold, Text: canon(pat)}, true
		}
		return Key{Field: field, Kind: KeyEqual, Text: pat}, true
	}
	prefix := pat[:strings.IndexAny(pat, "*?")]
	suffix := pat[strings.LastIndexAny(pat, "*?")+1:]
	inner := ""
	for _, part := range strings.FieldsFunc(pat, func(r rune) bool { return r == '*' || r == '?' }) {
		if len(part) > len(inner) {
			inner = part
		}
	}
	kind, text := KeyPrefix, prefix
	switch {
	case len(prefix) < minAffix && len(suffix) < minAffix && len(inner) >= minAffix:
		kind, text = KeyContains, inner
	case prefix == "" && suffix == "":
		return Key{}, false
	case len(prefix) < len(suffix):
		kind, text = KeySuffix, suffix
	}
	if fold {
		kind++ // the Fold kind follows each kind
	}
	return Key{Field: field, Kind: kind, Text: canon(text)}, true
}

// minAffix is the shortest prefix or suffix preferred to a longer run of
// text inside a pattern: "/" or "." selects nothing.
const minAffix = 3

// AppendFold appends the canonical case-folded form of s to dst: two
// strings are equal under the case folding of `:`, `like~` and `in~`
// exactly when their canonical forms are equal, and a pattern's literal
// prefix or suffix (canonical, as in a Fold key) matches exactly when it is
// a byte prefix or suffix of the value's canonical form.
func AppendFold(dst []byte, s string) []byte { return appendCanon(dst, s) }

// quote renders a string literal as EQL writes it.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < ' ' || r == 0x7f {
				fmt.Fprintf(&b, `\u{%02x}`, r)
				continue
			}
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
