//go:build !darwin && !linux

package procevents

import (
	"errors"
	"runtime"
)

var errUnsupported = errors.New("procevents: not supported on " + runtime.GOOS)

// Source reports process events; on this GOOS it cannot be opened.
type Source struct{}

// Open reports that this GOOS is not supported.
func Open() (*Source, error) { return nil, errUnsupported }

// Read reports that this GOOS is not supported.
func (s *Source) Read(dst []Event) ([]Event, error) { return dst[:0], errUnsupported }

// Close does nothing.
func (s *Source) Close() error { return nil }

// Stats returns zero counts.
func (s *Source) Stats() Stats { return Stats{} }
