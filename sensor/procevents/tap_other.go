//go:build !linux

package procevents

// SetRawTap does nothing: only the Linux proc connector reads datagrams
// (macOS reads kevents, which the source translates as it goes).
func (s *Source) SetRawTap(fn func(b []byte)) {}
