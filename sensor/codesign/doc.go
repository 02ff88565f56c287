// Package codesign reads the code signature of a Mach-O executable in pure
// Go and says what Elastic Defend reports in process.code_signature.* and
// process.hash.sha256. See docs/CODESIGN.md.
package codesign
