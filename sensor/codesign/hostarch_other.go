//go:build !darwin

package codesign

import "runtime"

// hostArch is the running binary's architecture: off macOS there is no
// Rosetta to see through, and the files judged are not run here.
func hostArch() string { return runtime.GOARCH }
