package doctor

import (
	"context"
	"fmt"
	"os"
	"runtime"

	"github.com/macsensor/macsensor/sensor/codesign"
)

// checkCodesign reads code signatures with sensor/codesign (pure Go, the
// reader the daemon uses): the doctor's own binary must be judged (on
// macOS it must carry a signature, ad-hoc at least: arm64 runs nothing
// else; the verdict is reported), and on macOS /bin/ls must read as
// Apple-signed and trusted. On other systems the binary is not a Mach-O:
// the reader must say so.
func checkCodesign(ctx context.Context, d *Doctor) (string, error) {
	exe := d.opt.Executable
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return "", failf(nextBundle, "cannot find the running binary: %v", err)
		}
	}
	return judgeCodesign(runtime.GOOS, exe, "/bin/ls")
}

// judgeCodesign is checkCodesign for goos, with the two files named.
func judgeCodesign(goos, exe, ls string) (string, error) {
	self := codesign.VerifyFile(exe, codesign.Options{})
	value := "self: " + describeSignature(self)
	if goos != "darwin" {
		if !self.Checked || self.Status != codesign.StatusBadFormat {
			return value, failf(nextBundle, "%s is not a Mach-O on %s, yet the reader says %q (%s)", exe, goos, self.Status, self.Detail)
		}
		return value + " (not a Mach-O: nothing to verify on " + goos + "); " + ls + ": macOS only", nil
	}
	if !self.Checked || !self.Exists {
		return value, failf("reinstall the package; build with codesign (docs/INSTALL.md, Signing)",
			"%s: %s (%s)", exe, self.Status, self.Detail)
	}
	li := codesign.VerifyFile(ls, codesign.Options{})
	value += "; " + ls + ": " + describeSignature(li)
	if !li.Trusted || li.Policy != codesign.PolicyApple {
		return value, failf(nextBundle, "%s is not read as Apple-signed and trusted: %s (%s)", ls, li.Status, li.Detail)
	}
	return value, nil
}

// describeSignature says what the reader found, in a few words.
func describeSignature(i codesign.Info) string {
	switch {
	case !i.Checked:
		return i.Status
	case i.Trusted:
		return fmt.Sprintf("trusted (%s, %s, team %q, %s)", i.Policy, i.SigningID, i.TeamID, i.Arch)
	case i.Exists && i.AdHoc:
		return fmt.Sprintf("ad-hoc signed (%s, %s)", i.SigningID, i.Arch)
	}
	return i.Status
}
