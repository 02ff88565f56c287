package proc

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// vnodePathInfo builds a struct proc_vnodepathinfo as xnu lays it out
// (vnodepath.go): a directory vnode for the cwd, with a few stat fields set
// so that an offset error would read them as the path.
func vnodePathInfo(cwd, root string) []byte {
	b := make([]byte, vnodePathInfoSize)
	ne := binary.LittleEndian // arm64 and x86_64 Macs
	for _, base := range []int{0, vnodeInfoPathSize} {
		ne.PutUint32(b[base:], 0x1000004)        // vst_dev
		ne.PutUint16(b[base+4:], 0o40755)        // vst_mode: a directory
		ne.PutUint64(b[base+8:], 0x1234567)      // vst_ino
		ne.PutUint32(b[base+16:], 501)           // vst_uid
		ne.PutUint32(b[base+136:], vnodeTypeDir) // vi_type
		ne.PutUint32(b[base+144:], 0x1000004)    // vi_fsid[0]
	}
	copy(b[offCdirPath:offCdirPath+maxPathLen-1], cwd)
	copy(b[offRdirPath:offRdirPath+maxPathLen-1], root)
	return b
}

func TestParseVnodePathInfo(t *testing.T) {
	// testdata/vnodepathinfo/*.bin are vnodePathInfo's output (written
	// with -update), kept so that the layout is pinned by bytes in git.
	for _, tc := range []struct {
		name, cwd, root string
	}{
		{"users_alice", "/Users/alice/Library/Application Support", ""},
		{"chrooted", "/private/var/empty/sub", "/private/var/empty"},
		{"kernel_task", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join("testdata", "vnodepathinfo", tc.name+".bin")
			if *update {
				os.MkdirAll(filepath.Dir(file), 0o755)
				b := vnodePathInfo(tc.cwd, tc.root)
				if tc.name == "kernel_task" {
					b = make([]byte, vnodePathInfoSize)
				}
				if err := os.WriteFile(file, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			cwd, root, err := ParseVnodePathInfo(b, len(b))
			if err != nil || cwd != tc.cwd || root != tc.root {
				t.Errorf("got %q %q %v, want %q %q", cwd, root, err, tc.cwd, tc.root)
			}
		})
	}
}

func TestParseVnodePathInfoHostile(t *testing.T) {
	good := vnodePathInfo("/tmp", "")
	full := vnodePathInfo(strings.Repeat("a", maxPathLen), "")
	copy(full[offCdirPath:], strings.Repeat("a", maxPathLen)) // no NUL at all
	for _, tc := range []struct {
		name string
		buf  []byte
		n    int
		want string
	}{
		{"short", good[:100], 100, "of 100 bytes"},
		{"n past buffer", good[:2000], vnodePathInfoSize, "(buffer 2000)"},
		{"n larger", append(good, 0, 0, 0, 0), vnodePathInfoSize + 4, "want 2352"},
		{"negative", good, -1, "of -1 bytes"},
		{"no NUL", full, vnodePathInfoSize, "pvi_cdir path at offset 152 has no NUL"},
	} {
		_, _, err := ParseVnodePathInfo(tc.buf, tc.n)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "proc: ") {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func FuzzParseVnodePathInfo(f *testing.F) {
	f.Add(vnodePathInfo("/Users/alice", ""), vnodePathInfoSize)
	f.Add(vnodePathInfo("/a", "/b"), vnodePathInfoSize)
	f.Add([]byte{}, 0)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		cwd, root, err := ParseVnodePathInfo(b, n)
		if err != nil {
			return
		}
		if len(cwd) >= maxPathLen || len(root) >= maxPathLen || strings.IndexByte(cwd, 0) >= 0 {
			t.Fatalf("%q %q", cwd, root)
		}
	})
}
