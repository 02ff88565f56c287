package rootfile

import (
	"errors"
	"io/fs"
	"testing"
)

// The checks themselves, without root: owner, mode and type as fstat gives
// them.
func TestCheck(t *testing.T) {
	const p = "/Library/Managed Preferences/com.macsensor.daemon.plist"
	for _, tc := range []struct {
		uid  uint32
		mode fs.FileMode
		dir  bool
		opt  Options
		want string // "" = accepted
	}{
		{0, 0o644, false, Options{}, ""},
		{0, 0o600, false, Options{}, ""},
		{0, 0o444, false, Options{}, ""},
		{0, fs.ModeDir | 0o755, true, Options{}, ""},
		{501, 0o644, false, Options{}, "rootfile: " + p + ": unsafe file: owned by uid 501, not root (sudo chown root " + p + ")"},
		{501, 0o644, false, Options{AnyOwner: true}, ""},
		{0, 0o664, false, Options{}, "rootfile: " + p + ": unsafe file: writable by group or others (mode 0664; sudo chmod go-w " + p + ")"},
		{0, 0o646, false, Options{}, "rootfile: " + p + ": unsafe file: writable by group or others (mode 0646; sudo chmod go-w " + p + ")"},
		{501, 0o666, false, Options{AnyOwner: true}, "rootfile: " + p + ": unsafe file: writable by group or others (mode 0666; sudo chmod go-w " + p + ")"},
		{0, fs.ModeDir | 0o775, true, Options{}, "rootfile: " + p + ": unsafe file: writable by group or others (mode 0775; sudo chmod go-w " + p + ")"},
		{0, fs.ModeSymlink | 0o777, false, Options{}, "rootfile: " + p + ": unsafe file: is a symbolic link; the daemon runs as root and reads only files root controls"},
		{0, fs.ModeDir | 0o755, false, Options{}, "rootfile: " + p + ": unsafe file: not a regular file (mode drwxr-xr-x)"},
		{0, 0o755, true, Options{}, "rootfile: " + p + ": unsafe file: not a folder (mode -rwxr-xr-x)"},
		{0, fs.ModeNamedPipe | 0o644, false, Options{}, "rootfile: " + p + ": unsafe file: not a regular file (mode prw-r--r--)"},
	} {
		err := Check(p, tc.uid, tc.mode, tc.dir, tc.opt)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("uid %d mode %v: %v", tc.uid, tc.mode, err)
		case tc.want != "" && (err == nil || err.Error() != tc.want):
			t.Errorf("uid %d mode %v: err = %v, want %q", tc.uid, tc.mode, err, tc.want)
		case tc.want != "" && !errors.Is(err, ErrUnsafe):
			t.Errorf("uid %d mode %v: %v does not wrap ErrUnsafe", tc.uid, tc.mode, err)
		}
	}
}
