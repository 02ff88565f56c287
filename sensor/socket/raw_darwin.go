package socket

import (
	"fmt"
	"slices"
)

// RawTables reads net.inet.tcp.pcblist_n and net.inet.udp.pcblist_n once
// each, through the same name lookup and ENOMEM retry as List, and returns
// copies of the bytes.
func RawTables() ([]RawBuffer, error) {
	t, err := Open()
	if err != nil {
		return nil, err
	}
	defer t.Close()
	out := make([]RawBuffer, 0, len(pcblists))
	for i, p := range pcblists {
		b, err := t.read(t.mibs[i])
		if err != nil {
			return out, fmt.Errorf("socket: sysctl %s: %w", p.name, err)
		}
		out = append(out, RawBuffer{Name: p.name, Proto: p.proto, Data: slices.Clone(b)})
	}
	return out, nil
}
