// Package flatpkg assembles a macOS product archive ("flat package",
// .pkg) from files in memory: a xar archive holding a Distribution file and
// one component package directory with its Bom, PackageInfo, Payload
// (gzip'd odc cpio) and Scripts (gzip'd odc cpio of preinstall and
// postinstall). It is what productbuild --package would produce from a
// pkgbuild component, minus the signature, which productsign or rcodesign
// adds afterwards.
//
// Every member is owned by root:wheel (uid 0, gid 0), as in Apple's own
// packages. bomutils' tutorial packs with "cpio --owner 0:80" and calls
// that root/wheel, but gid 80 is admin on macOS (wheel is 0). File modes
// are what the caller gives (0755 for directories and executables, 0644
// for the rest). Every timestamp is Package.ModTime, so the same inputs
// give the same bytes.
//
// References: Apple's Distribution XML Reference (installer-gui-script,
// options, domains, volume-check/allowed-os-versions, choices-outline,
// pkg-ref); bomutils' tutorial on building flat packages without Apple
// tools (hogliux/bomutils: Payload is "find . | cpio -o --format odc" then
// gzip, PackageInfo's payload numberOfFiles/installKBytes); xar, bom and
// cpio in the sibling packages.
package flatpkg
