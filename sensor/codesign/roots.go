package codesign

import (
	"crypto/sha256"
	"crypto/x509"
	"embed"
	"encoding/pem"
	"fmt"
	"sync"
)

// The pinned anchors. Both certificates are public; their SHA-256
// fingerprints are those Apple publishes on https://www.apple.com/certificateauthority/
// ("Apple Inc. Root" and "Apple Root CA - G3 Root"). TestPinnedRoots checks
// that the embedded files hash to them, and rootPool refuses a file that does
// not.
//
//go:embed roots/AppleRootCA.pem roots/AppleRootCA-G3.pem
var rootFiles embed.FS

// pinnedRoots maps a root's SHA-256 fingerprint to its name and file.
var pinnedRoots = []struct {
	Name        string
	File        string
	Fingerprint string // SHA-256 of the DER, upper-case hex
}{
	{"Apple Root CA", "roots/AppleRootCA.pem", "B0B1730ECBC7FF4505142C49F1295E6EDA6BCAED7E2C68C5BE91B5A11001F024"},
	{"Apple Root CA - G3", "roots/AppleRootCA-G3.pem", "63343ABFB89A6A03EBB57E9B3F5FA7BE7C4F5C756F3017B3A8C488C3653E9179"},
}

// appleRoots parses the embedded anchors once. A file whose fingerprint is
// not the pinned one is an error (a build that embeds the wrong file must
// not trust anything).
var appleRoots = sync.OnceValues(func() (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	for _, r := range pinnedRoots {
		b, err := rootFiles.ReadFile(r.File)
		if err != nil {
			return nil, fmt.Errorf("codesign: embedded root %s: %w", r.Name, err)
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("codesign: embedded root %s: no PEM block", r.Name)
		}
		if got := fmt.Sprintf("%X", sha256.Sum256(blk.Bytes)); got != r.Fingerprint {
			return nil, fmt.Errorf("codesign: embedded root %s has fingerprint %s, pinned %s", r.Name, got, r.Fingerprint)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("codesign: embedded root %s: %w", r.Name, err)
		}
		pool.AddCert(c)
	}
	return pool, nil
})

// rootName names a pinned root by the SHA-256 of its DER, "" if not pinned.
func rootName(der []byte) string {
	fp := fmt.Sprintf("%X", sha256.Sum256(der))
	for _, r := range pinnedRoots {
		if r.Fingerprint == fp {
			return r.Name
		}
	}
	return ""
}
