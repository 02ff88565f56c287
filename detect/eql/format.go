package eql

import (
	"strconv"
	"strings"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// Format renders a condition as EQL text on one line (for explanations:
// `macsensor rules explain`). Every `and` and `or` below the top is
// parenthesised, so the text reads unambiguously; it parses back to the
// same tree.
func Format(x Expr) string {
	var b strings.Builder
	format(&b, x, true)
	return b.String()
}

func format(b *strings.Builder, x Expr, top bool) {
	switch x := x.(type) {
	case *Field:
		if x.Optional {
			b.WriteByte('?')
		}
		b.WriteString(formatPath(x.Path))
	case *Literal:
		b.WriteString(formatValue(x.Value))
	case *Not:
		b.WriteString("not ")
		format(b, x.X, false)
	case *And:
		formatList(b, x.X, " and ", top)
	case *Or:
		formatList(b, x.X, " or ", top)
	case *Compare:
		format(b, x.Left, false)
		b.WriteByte(' ')
		b.WriteString(strings.Trim(opName(x.Op), `"`))
		b.WriteByte(' ')
		if len(x.Right) == 1 && x.Op != OpIn && x.Op != OpInI {
			format(b, x.Right[0], false)
			return
		}
		formatList(b, x.Right, ", ", false)
	case *Call:
		b.WriteString(x.Name)
		if x.Insensitive {
			b.WriteByte('~')
		}
		formatList(b, x.Args, ", ", false)
	case *Arith:
		b.WriteByte('(')
		format(b, x.X, false)
		b.WriteString(" " + string(rune(x.Op)) + " ")
		format(b, x.Y, false)
		b.WriteByte(')')
	case *Neg:
		b.WriteByte('-')
		format(b, x.X, false)
	default:
		b.WriteString("?")
	}
}

func formatList(b *strings.Builder, xs []Expr, sep string, bare bool) {
	if !bare {
		b.WriteByte('(')
	}
	for i, y := range xs {
		if i > 0 {
			b.WriteString(sep)
		}
		format(b, y, false)
	}
	if !bare {
		b.WriteByte(')')
	}
}

// formatPath backquotes a field name that is not a plain dotted path.
func formatPath(p string) string {
	for _, r := range p {
		if !(r == '.' || r == '_' || r == '@' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return "`" + p + "`"
		}
	}
	return p
}

func formatValue(v ecs.Value) string {
	switch v.Kind {
	case ecs.KindString:
		return quote(v.Str)
	case ecs.KindInt:
		return strconv.FormatInt(v.Int, 10)
	case ecs.KindFloat:
		return strconv.FormatFloat(v.Float, 'g', -1, 64)
	case ecs.KindBool:
		return strconv.FormatBool(v.Int != 0)
	}
	return "null"
}
