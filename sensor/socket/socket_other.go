//go:build !linux && !darwin

package socket

import (
	"errors"
	"runtime"
)

var errNotSupported = errors.New("socket: not supported on " + runtime.GOOS)

// Table reads the kernel's socket table; on this OS it cannot be opened.
type Table struct{}

// Open returns an error: only macOS and Linux have a socket table reader.
func Open() (*Table, error) { return nil, errNotSupported }

// List returns dst and the not-supported error.
func (t *Table) List(dst []Conn) ([]Conn, error) { return dst, errNotSupported }

// Stats returns zero counters.
func (t *Table) Stats() Stats { return Stats{} }

// Close does nothing.
func (t *Table) Close() error { return nil }
