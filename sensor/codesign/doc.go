// Package codesign reads the code signature of a Mach-O executable in pure
// Go (no cgo, no call to codesign) and says what Elastic Defend reports in
// process.code_signature.* and process.hash.sha256. It runs on any OS: the
// decoders are untagged; only the stat/open of the cache (stat_unix.go) is
// tagged.
//
// # What Verify checks
//
// For the slice the host runs (Options.Arch, default HostArch(): arm64 on
// Apple silicon, x86_64 on Intel; a thin file's only slice otherwise),
// Trusted is true when all of these hold:
//
//   - the Mach-O header, the fat table and LC_CODE_SIGNATURE are in bounds;
//   - the SuperBlob and every CodeDirectory parse (version 0x20001 up to
//     0x2F000, hash type SHA-1/SHA-256/SHA-256-truncated/SHA-384, no scatter
//     vector, slot counts consistent with codeLimit and the page size);
//   - every page hash of the slice (the best CodeDirectory: strongest hash)
//     matches the file, up to codeLimit, which must end where the signature
//     starts;
//   - the requirements, entitlements, DER entitlements and application
//     special slots match the blobs present;
//   - the flags are not CS_ADHOC and a CMS SignedData (RFC 5652; BER is
//     accepted) is present, whose signed messageDigest equals the digest
//     of the slot-0 CodeDirectory and whose RSA or ECDSA signature over the
//     signed attributes verifies with the signer certificate's key;
//   - Apple's CDHashes attributes (plist 1.2.840.113635.100.9.1 and
//     1.2.840.113635.100.9.2), when present, list every CodeDirectory of
//     the signature; without them an alternate CodeDirectory is refused;
//   - crypto/x509 verifies the signer to one of the two pinned roots
//     (Apple Root CA, Apple Root CA - G3; SHA-256 pinned in roots.go) with
//     the codeSigning extended key usage; an expired or not-yet-valid chain
//     is judged at the signing time instead, as Apple's default validation
//     does (Options.ConsiderExpiration makes it StatusExpired);
//   - the chain fits one of Apple's policies: Apple's own software
//     (intermediate "Apple Code Signing Certification Authority", leaf
//     marker 1.2.840.113635.100.6.22), Developer ID (intermediate marker
//     1.2.840.113635.100.6.2.6, leaf 1.2.840.113635.100.6.1.13) or the Mac
//     App Store (leaf 1.2.840.113635.100.6.1.9);
//   - outside Apple's own software, the leaf's subject OU equals the
//     CodeDirectory's team identifier.
//
// What Apple checks and this package does not: notarization tickets
// (stapled or online), certificate revocation (OCSP/CRL), the
// com.apple.quarantine attribute and Gatekeeper's assessment, the
// designated and other requirements (the requirement language is not
// evaluated), an app bundle's Info.plist and CodeResources (special slots 1
// and 3: a bare executable has none), the RFC 3161 timestamp token's own
// signature, Apple Development and enterprise certificates (they are
// reported untrusted), and the kernel's trust caches (Apple's platform
// binaries on the sealed system volume are signed too, so they verify
// here from their own signature).
//
// # Mapping to ECS
//
// The integrator maps an Info to an event this way (prefix "process." for
// the process, "process.parent." for its parent; a network event carries
// the owning process's Info, kept with the process, not looked up again):
//
//	prefix+"code_signature.exists"       = Info.Exists      only when Info.Checked
//	prefix+"code_signature.trusted"      = Info.Trusted     only when Info.Checked
//	prefix+"code_signature.status"       = Info.Status      when != "" and != StatusPending
//	prefix+"code_signature.signing_id"   = Info.SigningID   when != ""
//	prefix+"code_signature.team_id"      = Info.TeamID      when != ""
//	prefix+"code_signature.subject_name" = Info.SubjectName when != ""
//	"process.hash.sha256"                = Info.SHA256      when != "" (process events only)
//
// Status is "trusted" or the text of the Security framework error Defend
// reports on macOS (see status.go); the sensor's own "not checked: …"
// statuses come with Checked false, so a rule testing trusted == false
// does not fire on a file that was not judged.
//
// # The cache and its budget
//
// Cache.Lookup costs one stat(2) and a map lookup; it never reads the file.
// A miss queues the file (bounded queue, StatusDropped when full) for a
// worker goroutine (Workers, default 1) and returns StatusPending; Ready
// delivers each result and Await waits for one with a timeout. Results
// are keyed by (device, inode, size, mtime, ctime) and kept in a bounded
// LRU. A file larger than MaxFileSize is not read (StatusTooLarge); one that
// changes between the stat, the open (O_NOFOLLOW, fstat of the
// descriptor) and the end of the read is reported StatusChanged and not
// cached. See docs/CODESIGN.md for the measured costs.
package codesign
