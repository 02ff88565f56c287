//go:build !darwin && !linux

package socket

// RawTables reports that this OS has no socket table reader.
func RawTables() ([]RawBuffer, error) { return nil, errNotSupported }
