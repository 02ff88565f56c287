package main

import "golang.org/x/sys/unix"

// isTerminal reports whether fd is a terminal: the terminal-attributes
// ioctl (TIOCGETA) succeeds only on one.
func isTerminal(fd uintptr) bool {
	_, err := unix.IoctlGetTermios(int(fd), unix.TIOCGETA)
	return err == nil
}
