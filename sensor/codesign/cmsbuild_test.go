package codesign

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"
)

// A test PKI shaped like Apple's: root → intermediate → leaf, with the
// Developer ID markers as options, and a CMS signer like codesign's.
type testPKI struct {
	root, inter, leaf *x509.Certificate
	leafKey           *rsa.PrivateKey
	pool              *x509.CertPool
}

var marker = []byte{0x05, 0x00} // ASN.1 NULL, what Apple's markers hold

func newPKI(t testing.TB, team string, devID bool) *testPKI {
	t.Helper()
	key := func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	from, to := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(tmpl, parent *x509.Certificate, pub *rsa.PublicKey, priv *rsa.PrivateKey) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, priv)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	rk, ik, lk := key(), key(), key()
	rootT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Root CA"}, NotBefore: from, NotAfter: to,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	root := mk(rootT, rootT, &rk.PublicKey, rk)
	interT := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Developer ID Certification Authority"}, NotBefore: from, NotAfter: to,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	leafT := &x509.Certificate{SerialNumber: big.NewInt(3), NotBefore: from, NotAfter: to,
		Subject:     pkix.Name{CommonName: "Developer ID Application: Example (" + team + ")", OrganizationalUnit: []string{team}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
	if devID {
		interT.ExtraExtensions = []pkix.Extension{{Id: oidDevIDIntermed, Value: marker}}
		leafT.ExtraExtensions = []pkix.Extension{{Id: oidDevIDLeaf, Critical: true, Value: marker}}
	}
	inter := mk(interT, root, &ik.PublicKey, rk)
	leaf := mk(leafT, inter, &lk.PublicKey, ik)
	pool := x509.NewCertPool()
	pool.AddCert(root)
	return &testPKI{root: root, inter: inter, leaf: leaf, leafKey: lk, pool: pool}
}

type tAttr struct {
	Type   asn1.ObjectIdentifier
	Values []asn1.RawValue `asn1:"set"`
}

// sign returns a DER ContentInfo signing cd (detached) like codesign.
func (p *testPKI) sign(t testing.TB, cd []byte) []byte {
	t.Helper()
	must := func(b []byte, err error) []byte {
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	dig := sha256.Sum256(cd)
	attrs := []tAttr{
		{oidAttrContentType, []asn1.RawValue{{FullBytes: must(asn1.Marshal(oidData))}}},
		{oidAttrSigningTime, []asn1.RawValue{{FullBytes: must(asn1.Marshal(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)))}}},
		{oidAttrMsgDigest, []asn1.RawValue{{FullBytes: must(asn1.Marshal(dig[:]))}}},
	}
	set := must(asn1.MarshalWithParams(attrs, "set"))
	h := sha256.Sum256(set)
	sig := must(rsa.SignPKCS1v15(rand.Reader, p.leafKey, crypto.SHA256, h[:]))
	signedAttrs := append([]byte{0xa0}, set[1:]...) // [0] IMPLICIT
	type algo struct{ Algorithm asn1.ObjectIdentifier }
	si := struct {
		Version int
		SID     struct {
			Issuer asn1.RawValue
			Serial *big.Int
		}
		DigestAlgorithm algo
		SignedAttrs     asn1.RawValue
		SigAlg          algo
		Signature       []byte
	}{Version: 1, DigestAlgorithm: algo{oidSHA256}, SignedAttrs: asn1.RawValue{FullBytes: signedAttrs}, SigAlg: algo{oidRSA}, Signature: sig}
	si.SID.Issuer = asn1.RawValue{FullBytes: p.leaf.RawIssuer}
	si.SID.Serial = p.leaf.SerialNumber
	var certs []byte
	for _, c := range []*x509.Certificate{p.leaf, p.inter, p.root} {
		certs = append(certs, c.Raw...)
	}
	sd := struct {
		Version    int
		Digests    []algo `asn1:"set"`
		Encap      struct{ Type asn1.ObjectIdentifier }
		Certs      asn1.RawValue
		SignerInfo []asn1.RawValue `asn1:"set"`
	}{Version: 1, Digests: []algo{{oidSHA256}}, Certs: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: certs}}
	sd.Encap.Type = oidData
	sd.SignerInfo = []asn1.RawValue{{FullBytes: must(asn1.Marshal(si))}}
	return must(asn1.Marshal(struct {
		Type    asn1.ObjectIdentifier
		Content asn1.RawValue
	}{oidSignedData, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: must(asn1.Marshal(sd))}}))
}

func verifyWith(b []byte, roots *x509.CertPool) Info {
	return Verify(bytesReader(b), int64(len(b)), Options{Arch: "arm64", Now: testNow, roots: roots})
}

// The trust decision on a chain the test controls: the signature verifies
// in every case; what differs is the root, the policy markers and the team.
func TestSynthSignedChain(t *testing.T) {
	pki := newPKI(t, "TEAM123456", true)
	sign := func(cd []byte) []byte { return pki.sign(t, cd) }
	good := synth{codeLen: 9000, ident: "com.example.tool", team: "TEAM123456", flags: FlagRuntime, cms: sign}.build()

	// With the test root pinned, the Developer ID policy is met.
	got := verifyWith(good, pki.pool)
	if !got.Trusted || got.Status != StatusTrusted || got.Policy != PolicyDeveloperID || got.SubjectName != "Developer ID Application: Example (TEAM123456)" {
		t.Fatalf("test root: %+v", got)
	}
	// With the real pinned roots, the same signature is not trusted.
	got = verifyWith(good, nil)
	if got.Trusted || got.Status != StatusUntrusted || !got.Exists || got.SubjectName == "" || !contains(got.Detail, "pinned Apple root") {
		t.Fatalf("apple roots: %+v", got)
	}
	// The CodeDirectory names another team than the certificate.
	other := synth{codeLen: 9000, ident: "com.example.tool", team: "OTHERTEAM1", flags: FlagRuntime, cms: sign}.build()
	if got := verifyWith(other, pki.pool); got.Trusted || got.Status != StatusBadTeamID {
		t.Fatalf("team mismatch: %+v", got)
	}
	// A chain without Apple's policy markers.
	plain := newPKI(t, "TEAM123456", false)
	b := synth{codeLen: 9000, ident: "com.example.tool", team: "TEAM123456", flags: FlagRuntime, cms: func(cd []byte) []byte { return plain.sign(t, cd) }}.build()
	if got := verifyWith(b, plain.pool); got.Trusted || got.Status != StatusUntrusted || !contains(got.Detail, "fits no Apple code-signing policy") {
		t.Fatalf("no markers: %+v", got)
	}
	// Signed by one key, the CMS names another certificate: the signature
	// does not verify.
	b = synth{codeLen: 9000, ident: "com.example.tool", team: "TEAM123456", flags: FlagRuntime, cms: func(cd []byte) []byte {
		der := pki.sign(t, cd)
		return der
	}}.build()
	sl, sb, _ := sigOf(t, b, "arm64")
	c, err := parseCMS(sb.CMS)
	if err != nil {
		t.Fatal(err)
	}
	sigAt := offsetIn(t, b[sl.SigOff:], c.Signature) + sl.SigOff
	b[sigAt+100] ^= 0x10
	if got := verifyWith(b, pki.pool); got.Trusted || got.Status != StatusModified || !contains(got.Detail, "CMS signature does not verify") {
		t.Fatalf("bad signature: %+v", got)
	}
}
