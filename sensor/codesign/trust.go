package codesign

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"
)

// Apple certificate extensions that mark what a certificate may sign.
// Sources: apple-oss-distributions/Security
// OSX/libsecurity_codesigning/lib/drmaker.cpp (Developer ID "Caspian" markers)
// and reqinterp.cpp (macOS Software Signing marker, intermediate name).
var (
	oidDevIDLeaf        = asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 6, 1, 13} // Developer ID Application
	oidDevIDIntermed    = asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 6, 2, 6}  // Developer ID CA
	oidMacAppStoreLeaf  = asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 6, 1, 9}  // Apple Mac OS Application Signing (Mac App Store)
	oidAppleSWSigning   = asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 6, 22}    // macOS Software Signing (Apple's own code)
	appleIntermediateCN = "Apple Code Signing Certification Authority"
)

// Policies a trusted signer fits.
const (
	PolicyApple       = "apple"        // Apple's own software ("Software Signing")
	PolicyDeveloperID = "developer_id" // Developer ID Application
	PolicyMacAppStore = "mac_app_store"
)

var (
	errChain   = errors.New("codesign: certificate chain does not verify to a pinned Apple root")
	errExpired = errors.New("codesign: certificate chain expired")
	errPolicy  = errors.New("codesign: signer certificate fits no Apple code-signing policy")
)

func hasExt(c *x509.Certificate, oid asn1.ObjectIdentifier) bool {
	for _, e := range c.Extensions {
		if e.Id.Equal(oid) {
			return true
		}
	}
	return false
}

// markAppleExtensions tells crypto/x509 that Apple's critical code-signing
// extensions (1.2.840.113635.100.6.*) are handled here: the leaf marks them
// critical, and Verify refuses unhandled critical extensions.
func markAppleExtensions(c *x509.Certificate) {
	kept := c.UnhandledCriticalExtensions[:0]
	for _, id := range c.UnhandledCriticalExtensions {
		if len(id) > len(oidExtAppleCodeSign) && id[:len(oidExtAppleCodeSign)].Equal(oidExtAppleCodeSign) {
			continue
		}
		kept = append(kept, id)
	}
	c.UnhandledCriticalExtensions = kept
}

// verifyChain verifies the signer's certificate to a pinned Apple root with
// crypto/x509 (signatures, validity, basic constraints, path length, the
// code-signing extended key usage through the whole chain) and returns the
// chain, leaf first, and the policy the chain fits.
//
// Expiry: Apple's default validation tolerates an expired chain. Security
// OSX/libsecurity_codesigning/lib/StaticCode.cpp (SecStaticCode::verifySignature):
// with a secure timestamp the chain is evaluated at the timestamp; without
// one, CSSMERR_TP_CERT_EXPIRED is retried with CSSM_TP_ACTION_ALLOW_EXPIRED;
// only a caller passing kSecCSConsiderExpiration gets the error. Here a chain
// that fails at now only because a certificate expired is verified again at
// the CMS signing time (or, when that is outside the certificates' common
// validity, the latest notBefore), and expired reports it. The RFC 3161
// timestamp token is not verified.
func verifyChain(c *cms, roots *x509.CertPool, now time.Time, testRoots bool) (chain []*x509.Certificate, policy string, expired bool, err error) {
	inter := x509.NewCertPool()
	for _, cert := range c.Certs {
		markAppleExtensions(cert)
		if cert != c.Signer {
			inter.AddCert(cert)
		}
	}
	opts := x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	chains, err := c.Signer.Verify(opts)
	if err != nil {
		var inv x509.CertificateInvalidError
		if !errors.As(err, &inv) || inv.Reason != x509.Expired {
			return nil, "", false, fmt.Errorf("%w: %w", errChain, err)
		}
		expired = true
		opts.CurrentTime = validAt(c)
		chains, err = c.Signer.Verify(opts)
		if err != nil {
			return nil, "", true, fmt.Errorf("%w: %w", errExpired, err)
		}
	}
	for _, ch := range chains {
		// The pool holds only the pinned roots; the fingerprint is checked
		// again on the chain's anchor (tests inject their own root).
		if len(ch) < 2 || (!testRoots && rootName(ch[len(ch)-1].Raw) == "") {
			continue
		}
		if p := policyOf(ch); p != "" {
			return ch, p, expired, nil
		}
	}
	return chains[0], "", expired, errPolicy
}

// validAt picks the time an expired chain is judged at: the signing time
// when every certificate of the signature was valid then, else the latest
// notBefore among them.
func validAt(c *cms) time.Time {
	var from, to time.Time
	for _, cert := range c.Certs {
		if cert.NotBefore.After(from) {
			from = cert.NotBefore
		}
		if to.IsZero() || cert.NotAfter.Before(to) {
			to = cert.NotAfter
		}
	}
	if !c.SigningTime.IsZero() && !c.SigningTime.Before(from) && !c.SigningTime.After(to) {
		return c.SigningTime
	}
	return from
}

// policyOf says which Apple code-signing policy a verified chain fits.
func policyOf(ch []*x509.Certificate) string {
	leaf := ch[0]
	// reqinterp.cpp appleSigned(): the first intermediate is Apple's code
	// signing CA and the leaf carries the macOS Software Signing marker.
	if len(ch) >= 3 && ch[1].Subject.CommonName == appleIntermediateCN &&
		len(ch[1].Subject.Organization) == 1 && ch[1].Subject.Organization[0] == "Apple Inc." &&
		hasExt(leaf, oidAppleSWSigning) {
		return PolicyApple
	}
	// Developer ID's designated requirement (drmaker.cpp): the intermediate
	// carries the Developer ID CA marker, the leaf the Developer ID
	// Application marker.
	if len(ch) >= 3 && hasExt(ch[1], oidDevIDIntermed) && hasExt(leaf, oidDevIDLeaf) {
		return PolicyDeveloperID
	}
	// Mac App Store: Apple re-signs the app with a leaf carrying this marker.
	if hasExt(leaf, oidMacAppStoreLeaf) {
		return PolicyMacAppStore
	}
	return ""
}
