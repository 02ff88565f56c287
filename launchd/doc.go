// Package launchd holds what macsensor needs from launchd and from MDM on
// macOS: it renders the LaunchDaemon property list that starts
// `macsensor run` as root, and it reads the managed preferences an MDM
// profile installs under /Library/Managed Preferences.
//
// It is not a launchctl wrapper: loading, unloading and restarting the job
// are done by the package's install scripts (pkg-build/scripts) with
// launchctl bootstrap / bootout / kickstart. Everything here is pure Go and
// runs on Linux, where the tests run; only the ownership lookup of a
// preferences file is per-OS (owner_unix.go, owner_other.go).
package launchd
