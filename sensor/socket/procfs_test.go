package socket

import (
	"strings"
	"testing"
)

// dirent appends a linux_dirent64 for name, padded to 8 like the kernel's.
func dirent(b []byte, ino uint64, name string) []byte {
	reclen := (offDirentName + len(name) + 1 + 7) &^ 7
	e := make([]byte, reclen)
	ne.PutUint64(e, ino)
	ne.PutUint16(e[offDirentReclen:], uint16(reclen))
	e[18] = 4 // DT_DIR
	copy(e[offDirentName:], name)
	return append(b, e...)
}

func TestNextDirent(t *testing.T) {
	var buf []byte
	for _, n := range []string{".", "..", "1", "self", "4242", "01", "2147483648", "net"} {
		buf = dirent(buf, 1, n)
	}
	var names []string
	var pids []int32
	for b := buf; len(b) > 0; {
		name, rest, err := nextDirent(b)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, string(name))
		if pid, ok := parsePID(name); ok {
			pids = append(pids, pid)
		}
		b = rest
	}
	if got := strings.Join(names, ","); got != ".,..,1,self,4242,01,2147483648,net" {
		t.Errorf("names %s", got)
	}
	if len(pids) != 2 || pids[0] != 1 || pids[1] != 4242 {
		t.Errorf("pids %v, want [1 4242]", pids)
	}

	bad := dirent(nil, 1, "x")
	ne.PutUint16(bad[offDirentReclen:], 200)
	zero := dirent(nil, 1, "x")
	ne.PutUint16(zero[offDirentReclen:], 0)
	for name, b := range map[string][]byte{"truncated": buf[:10], "reclen past end": bad, "reclen zero": zero} {
		if _, _, err := nextDirent(b); err == nil || !strings.HasPrefix(err.Error(), "socket: getdents64: ") {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

func TestParseSocketLink(t *testing.T) {
	for link, want := range map[string]uint64{
		"socket:[37030]":       37030,
		"socket:[4294967295]":  4294967295,
		"socket:[]":            0,
		"socket:[12":           0,
		"pipe:[37030]":         0,
		"/dev/null":            0,
		"anon_inode:[eventfd]": 0,
		"socket:[-1]":          0,
	} {
		got, ok := parseSocketLink([]byte(link))
		if got != want || ok != (want != 0) {
			t.Errorf("parseSocketLink(%q) = %d, %v; want %d", link, got, ok, want)
		}
	}
}
