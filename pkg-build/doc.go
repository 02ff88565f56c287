// Command pkg-build builds the macsensor product archive (flat .pkg) on any
// OS, in pure Go, with no Apple tool and no cgo:
//
//	go run ./pkg-build --version 1.2.3 [--identifier com.macsensor.pkg] [-o dist/macsensor-1.2.3.pkg]
//
// It cross-compiles ./cmd/macsensor for darwin/arm64 and darwin/amd64
// (CGO_ENABLED=0, -trimpath, -buildvcs=false, -ldflags "-s -w -X
// main.version=V"), joins them into a universal binary, and packs that
// binary, the LaunchDaemon plist (package launchd), the rules.d folder, the
// uninstall script and the documentation into a product archive whose
// preinstall and postinstall scripts stop, reload and restart the daemon.
// See docs/INSTALL.md.
//
// For a signed binary (codesign must happen before packaging), build the
// universal binary alone with --binary-out, sign it, and pass it back with
// --binary. Every timestamp comes from SOURCE_DATE_EPOCH (or
// --source-date-epoch): the same sources, Go toolchain and epoch give the
// same bytes.
package main
