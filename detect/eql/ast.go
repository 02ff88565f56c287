package eql

import (
	"time"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// Pos is a position in the query text: 1-based line and column (in bytes).
type Pos struct {
	Line, Col int
}

// Query is a parsed EQL query: an event query or a sequence, then pipes.
type Query struct {
	Event    *EventQuery // set for `category where cond`
	Sequence *Sequence   // set for `sequence ...`
	Pipes    []Pipe
}

// EventQuery is `category where cond`. Category is "" for `any`.
type EventQuery struct {
	Pos      Pos
	Category string
	Cond     Expr
}

// Sequence is `sequence [by k...] [with maxspan=D] [stage]... [until [stage]]`.
type Sequence struct {
	Pos     Pos
	By      []*Field      // join keys for every stage (sequence by ...)
	MaxSpan time.Duration // 0: none
	Stages  []Stage
	Until   *Stage
}

// Stage is one `[query] [by k...] [with runs=N]` of a sequence. The join key
// of a stage is the sequence's By followed by the stage's By.
type Stage struct {
	Pos   Pos
	Query EventQuery
	By    []*Field
	Runs  int // 1 unless `with runs=N`
}

// Pipe is `| head N` or `| tail N`.
type Pipe struct {
	Pos  Pos
	Name string // "head" or "tail"
	N    int
}

// Expr is a node of a condition.
type Expr interface {
	Position() Pos
}

// Field is a field reference: `process.name`, `?process.name`, or a
// backquoted name.
type Field struct {
	Pos      Pos
	Path     string
	Optional bool // ?field: an unknown field is null instead of an error
}

// Literal is a string, number, boolean or null.
type Literal struct {
	Pos   Pos
	Value ecs.Value // KindString, KindInt, KindFloat, KindBool or KindNull
}

// Op is a binary operator.
type Op uint8

// The operators.
const (
	OpEq     Op = iota // ==
	OpNeq              // !=
	OpLt               // <
	OpLte              // <=
	OpGt               // >
	OpGte              // >=
	OpSeq              // : (like~ with wildcards, also over a list)
	OpLike             // like (case-sensitive wildcards)
	OpLikeI            // like~
	OpRegex            // regex
	OpRegexI           // regex~
	OpIn               // in
	OpInI              // in~
)

// Compare is `left op right`. For OpSeq, OpLike*, OpRegex* and OpIn*, Right
// may hold several values (a parenthesised list).
type Compare struct {
	Pos   Pos
	Op    Op
	Left  Expr
	Right []Expr
}

// Not is `not x`; `a not in (...)` parses as Not{Compare{OpIn}}.
type Not struct {
	Pos Pos
	X   Expr
}

// And is `a and b and ...`.
type And struct {
	Pos Pos
	X   []Expr
}

// Or is `a or b or ...`.
type Or struct {
	Pos Pos
	X   []Expr
}

// Call is a function call: Name is the function's name as written without
// the `~`, Insensitive is set for the `~` variant.
type Call struct {
	Pos         Pos
	Name        string
	Insensitive bool
	Args        []Expr
}

// Position implements Expr.
func (x *Field) Position() Pos { return x.Pos }

// Position implements Expr.
func (x *Literal) Position() Pos { return x.Pos }

// Position implements Expr.
func (x *Compare) Position() Pos { return x.Pos }

// Position implements Expr.
func (x *Not) Position() Pos { return x.Pos }

// Position implements Expr.
func (x *And) Position() Pos { return x.Pos }

// Position implements Expr.
func (x *Or) Position() Pos { return x.Pos }

// Position implements Expr.
func (x *Call) Position() Pos { return x.Pos }

// ArithOp is an arithmetic operator: '+', '-', '*', '/' or '%'.
type ArithOp byte

// Arith is `x op y` for the arithmetic operators (+ - * / %).
type Arith struct {
	Pos  Pos
	Op   ArithOp
	X, Y Expr
}

// Neg is unary minus on a non-literal (`-field`); `-5` parses as a Literal.
type Neg struct {
	Pos Pos
	X   Expr
}

// Position implements Expr.
func (x *Arith) Position() Pos { return x.Pos }

// Position implements Expr.
func (x *Neg) Position() Pos { return x.Pos }
