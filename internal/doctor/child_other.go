//go:build !linux

package doctor

import "os/exec"

// setChildAttr does nothing: the child ends when its stdin closes, which
// happens when the doctor exits or dies.
func setChildAttr(cmd *exec.Cmd) {}
