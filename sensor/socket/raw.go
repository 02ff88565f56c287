package socket

import (
	"fmt"
	"strings"
)

// Raw buffers: what the kernel returned, kept as bytes so that `macsensor
// doctor` can pack them into a bundle and a test on Linux can decode them
// again (DecodePcblist for macOS, DecodeDiagDump for Linux). Only
// raw_darwin.go and raw_linux.go read them.

// RawBuffer is one read of the socket table as the kernel returned it.
type RawBuffer struct {
	// Name says what was read: "net.inet.tcp.pcblist_n" (macOS),
	// "inet_diag/inet/tcp" (Linux: family/protocol).
	Name  string
	Proto uint8  // TCP or UDP
	Seq   uint32 // Linux: the dump's netlink sequence number
	Data  []byte // macOS: the sysctl's bytes; Linux: the dump's datagrams, concatenated
}

// DecodeRaw decodes one RawBuffer, appending its sockets to dst. On Linux
// the owners (LastPID, EPID) stay 0: inet_diag reports socket inodes and
// the owners come from /proc/<pid>/fd.
func DecodeRaw(b RawBuffer, dst []Conn) ([]Conn, error) {
	if strings.HasPrefix(b.Name, "inet_diag/") {
		return DecodeDiagDump(b.Data, b.Proto, b.Seq, dst)
	}
	return DecodePcblist(b.Data, b.Proto, dst)
}

// DecodeDiagDump decodes the concatenated datagrams of one inet_diag dump
// numbered seq (netlink messages are self-delimiting, so datagrams can be
// joined) and appends its sockets to dst. The dump must end with
// NLMSG_DONE. On error dst is returned unchanged.
func DecodeDiagDump(buf []byte, proto uint8, seq uint32, dst []Conn) ([]Conn, error) {
	out, done, err := parseDiag(buf, proto, seq, dst)
	if err != nil {
		return dst, err
	}
	if !done {
		return dst, fmt.Errorf("socket: inet_diag: dump of %d bytes has no NLMSG_DONE", len(buf))
	}
	return out, nil
}
