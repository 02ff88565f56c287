package main

import "golang.org/x/sys/unix"

// isTerminal reports whether fd is a terminal: the terminal-attributes
// ioctl (TCGETS) succeeds only on one.
func isTerminal(fd uintptr) bool {
	_, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
	return err == nil
}
