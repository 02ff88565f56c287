package socket

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// RawTables runs the four inet_diag dumps List runs (IPv4 and IPv6, TCP and
// UDP) on a netlink socket of its own and returns each dump's datagrams,
// concatenated. It fails when NETLINK_SOCK_DIAG is not available (List then
// reads /proc/net instead).
func RawTables() ([]RawBuffer, error) {
	fd, err := openDiag()
	if err != nil {
		return nil, fmt.Errorf("socket: inet_diag: %w", err)
	}
	defer unix.Close(fd)
	rbuf := make([]byte, diagBufLen)
	var out []RawBuffer
	for i, tb := range linuxTables {
		seq := uint32(i + 1)
		req := appendDiagRequest(nil, tb.family, tb.proto, seq)
		if err := writeAll(fd, req); err != nil {
			return out, fmt.Errorf("socket: inet_diag request: %w", err)
		}
		name := "inet_diag/inet/"
		if tb.v6 {
			name = "inet_diag/inet6/"
		}
		if tb.proto == TCP {
			name += "tcp"
		} else {
			name += "udp"
		}
		rb := RawBuffer{Name: name, Proto: tb.proto, Seq: seq}
		for {
			n, err := unix.Read(fd, rbuf)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return out, fmt.Errorf("socket: inet_diag read: %w", err)
			}
			rb.Data = append(rb.Data, rbuf[:n]...)
			_, done, err := parseDiag(rbuf[:n], tb.proto, seq, nil)
			if err != nil {
				return out, err
			}
			if done {
				break
			}
		}
		out = append(out, rb)
	}
	return out, nil
}

func writeAll(fd int, b []byte) error {
	for {
		_, err := unix.Write(fd, b)
		if err != unix.EINTR {
			return err
		}
	}
}
