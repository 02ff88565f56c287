package codesign

// Status values. On macOS Elastic Defend fills process.code_signature.status
// with "trusted" or with the text of the Security framework's error (what
// SecCopyErrorMessageString returns for the OSStatus of the check): Elastic's
// own macOS rule "Untrusted Process Execution with Invalid Plist or Code
// Signature" (elastic/protections-artifacts
// behavior/rules/macos/execution_untrusted_process_execution_with_invalid_plist_or_code_signature.toml)
// matches status == "invalid Info.plist (plist or signature have been modified)",
// the text of errSecCSInfoPlistFailed. The Windows words (errorExpired,
// errorUntrustedRoot, errorBadDigest, errorCode_endpoint…) are Authenticode's
// and do not appear on macOS. The texts below are copied from
// apple-oss-distributions/Security OSX/libsecurity_codesigning/lib/CSCommon.h
// (the comment of each errSecCS* constant is its message).
const (
	StatusTrusted     = "trusted"
	StatusUnsigned    = "code object is not signed at all"                                       // errSecCSUnsigned -67062
	StatusModified    = "invalid signature (code or signature have been modified)"               // errSecCSSignatureFailed -67061
	StatusInvalid     = "invalid or unsupported format for signature"                            // errSecCSSignatureInvalid -67045
	StatusUnsupported = "unsupported type or version of signature"                               // errSecCSSignatureUnsupported -67059
	StatusUntrusted   = "signature is valid but signer is not trusted"                           // errSecCSSignatureUntrusted -66996
	StatusBadTeamID   = "a Team Identifier is wrong or inappropriate"                            // errSecCSBadTeamIdentifier -66997
	StatusBadFormat   = "object file format unrecognized, invalid, or unsuitable"                // errSecCSBadObjectFormat -67049
	StatusUnreadable  = "the code cannot be read by the verifier (file system permissions etc.)" // errSecCSSignatureNotVerifiable -67060
	// StatusExpired is the name the Security framework reports for an
	// expired signer chain (CSSMERR_TP_CERT_EXPIRED, errSecCertificateExpired -67818).
	StatusExpired = "CSSMERR_TP_CERT_EXPIRED"
)

// Statuses of the sensor's own, for files it did not judge. With them
// Info.Checked is false: exists and trusted must not be reported.
const (
	StatusPending  = "pending" // queued, not verified yet (never emitted)
	StatusTooLarge = "not checked: file larger than the configured limit"
	StatusChanged  = "not checked: file changed while it was read"
	StatusNotFound = "not checked: file not found"
	StatusNotFile  = "not checked: not a regular file"
	StatusDropped  = "not checked: verification queue full"
)
