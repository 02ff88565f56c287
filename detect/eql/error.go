package eql

import "fmt"

// Error is a parse or compile error at a position in the query text.
type Error struct {
	Pos Pos
	Msg string
}

// Error implements error: "eql: line L, col C: Msg".
func (e *Error) Error() string {
	return fmt.Sprintf("eql: line %d, col %d: %s", e.Pos.Line, e.Pos.Col, e.Msg)
}

func errorf(p Pos, format string, args ...any) *Error {
	return &Error{Pos: p, Msg: fmt.Sprintf(format, args...)}
}
