//go:build !linux && !darwin

package main

// isTerminal is false where macsensor does not know how to ask: replay
// shows no progress there.
func isTerminal(fd uintptr) bool { return false }
