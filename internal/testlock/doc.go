// Package testlock serialises, across processes, the tests and measurement
// programs that must not run at the same time on one host: the end-to-end
// tests of cmd/macsensor and tools/lifetime run sensors that see every
// process and connection of the host, so two of them at once would see
// each other's helpers.
//
// A lock is an flock(2) on a file named after it in os.TempDir(); closing
// the descriptor (or the process ending) releases it. It is for tests and
// tools, not for the daemon.
package testlock
