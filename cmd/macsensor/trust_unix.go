//go:build unix

package main

import (
	"fmt"
	"os"
	"syscall"
)

// checkRootOnly refuses a path that anyone but root could have written or
// redirected: a symlink, a file or folder not owned by root, or one
// writable by group or others. It is applied to the daemon's configuration
// and rule files on their real (installed) paths.
func checkRootOnly(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("%s: refusing a symbolic link: the daemon runs as root and reads only files root controls", path)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: cannot read its owner", path)
	}
	if st.Uid != 0 {
		return fmt.Errorf("%s: refusing a file owned by uid %d: it must be owned by root (sudo chown root %s)", path, st.Uid, path)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s: refusing a file writable by group or others (mode %04o): sudo chmod go-w %s", path, fi.Mode().Perm(), path)
	}
	return nil
}
