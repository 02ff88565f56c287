// Package doctor is `macsensor doctor`: live self-checks of every source on
// the host it runs on, a report of what works and what does not, and a
// bundle of the raw kernel buffers the checks read, which a test on Linux
// loads and replays through the decoders (ReadBundle, Bundle.Replay).
//
// Each check has a name, a deadline of its own and a result: pass, fail
// (with the reason and the next step) or skipped (with the reason: not
// root, not installed, not built in this version, an earlier check it
// needs did not pass). The checks start real processes (copies of the
// running binary in a client mode, see RunChild), open a loopback
// listener and a DNS responder, poll the real process and socket tables,
// open the packet capture and run the seed rule through the real engine
// into a temporary alert log. They use a temporary folder of their own and
// share no lock, log or state file with a daemon running on the host.
//
// It is not a monitor: it runs once and exits. It does not read other
// users' arguments (only its own children's) nor any environment.
package doctor
