// Package capture is macsensor's optional packet source: a kernel-filtered
// capture (AF_PACKET on Linux, /dev/bpf on macOS) of outbound TCP SYNs and
// DNS responses.
//
// A SYN tells the daemon a connection is being opened while its socket
// still exists, so the socket table can be read at once instead of at the
// next poll, and a short-lived connection is still attributed to its
// process. DNS responses fill a passive IP → name cache (Cache), which
// names the destination of later network events, and become ECS
// "lookup_result" events (DNS.Event).
//
// The kernel filter (filter.go) is a classic BPF program built here; it
// keeps TCP segments with SYN and without ACK and UDP or TCP packets from
// port 53, over IPv4 and over IPv6 without extension headers. Frame
// decoding (DecodeFrame) uses gopacket's layers package and is pure, so it
// is tested and fuzzed on any OS; only capture_linux.go and
// capture_darwin.go touch the kernel.
//
// What it is not: a packet capture library. It reassembles nothing (IP
// fragments and DNS over TCP split across segments are counted and
// skipped), sees only interfaces that exist at Open, and does not attribute
// DNS lookups to processes (on macOS the queries of most processes go
// through mDNSResponder). It never uses libpcap or cgo.
//
// The package is off by default: capture needs root (CAP_NET_RAW on Linux),
// and Open fails with an error the daemon reports once before running on
// polling alone.
package capture
