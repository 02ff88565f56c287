// Package socket reads the kernel's table of TCP and UDP sockets (IPv4 and
// IPv6) together with the process each socket belongs to.
//
// On macOS, Table reads the sysctls net.inet.tcp.pcblist_n and
// net.inet.udp.pcblist_n: one call each lists every socket with its
// so_last_pid and so_e_pid, with no per-process walk and no lsof. The bytes are
// decoded by DecodePcblist, which is pure Go, carries no build tag and is
// tested on Linux with byte fixtures (testdata/pcblist_*.bin).
//
// On Linux, Table dumps NETLINK_SOCK_DIAG (inet_diag, what ss uses) and falls
// back to /proc/net/{tcp,tcp6,udp,udp6} for a table whose dump fails. Linux
// reports socket inodes, not pids: the inodes are joined to their processes
// through the socket:[INODE] links in /proc/<pid>/fd, with a cache so that only
// unknown inodes cause fd directories to be read. Linux exists so that the
// whole pipeline runs and is tested live on Linux; macOS is the product.
//
// What it is not: it does not diff snapshots, classify directions or build
// events (the sensor does that), it does not follow sockets other than TCP
// and UDP over IPv4 and IPv6, and it never logs: problems come back as errors
// and as counters in Stats.
//
// A Table is not safe for concurrent use; one poller owns it.
package socket
