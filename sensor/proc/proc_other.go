//go:build !darwin && !linux

package proc

import (
	"errors"
	"runtime"
)

var errUnsupported = errors.New("proc: not supported on " + runtime.GOOS)

// Table reads the process table; on this GOOS it cannot be opened.
type Table struct{}

// Open reports that this GOOS is not supported.
func Open() (*Table, error) { return nil, errUnsupported }

// List reports that this GOOS is not supported.
func (t *Table) List(dst []Entry) ([]Entry, error) { return dst[:0], errUnsupported }

// Read reports that this GOOS is not supported.
func (t *Table) Read(pid int32, e *Entry) error { return errUnsupported }

// Details reports that this GOOS is not supported.
func (t *Table) Details(pid int32, d *Details) error { return errUnsupported }

// Stats returns zero counts.
func (t *Table) Stats() Stats { return Stats{} }

// Close does nothing.
func (t *Table) Close() error { return nil }
