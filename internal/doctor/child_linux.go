package doctor

import (
	"os/exec"
	"syscall"
)

// setChildAttr makes the kernel kill a child whose parent dies (its stdin
// closing would end it too, a moment later).
func setChildAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
