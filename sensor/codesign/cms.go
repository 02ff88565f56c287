package codesign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"howett.net/plist"
)

// Object identifiers of RFC 5652 (CMS), RFC 5911/8017 (algorithms) and
// Apple's code-signing attributes (Security SecCMS / CMSUtils).
var (
	oidSignedData       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidData             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidAttrContentType  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidAttrMsgDigest    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidAttrSigningTime  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidAttrCDHashes     = asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 9, 1} // plist {cdhashes: [data]}
	oidAttrCDHashes2    = asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 9, 2} // SEQUENCE {alg, OCTET STRING}
	oidSHA1             = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256           = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384           = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512           = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidRSA              = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidSHA1WithRSA      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	oidSHA256WithRSA    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidECPublicKey      = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidECDSAWithSHA256  = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384  = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidExtAppleCodeSign = asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 6} // Apple certificate extension arc
)

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"explicit,optional,tag:0"`
}

type encapContentInfo struct {
	EContentType asn1.ObjectIdentifier
	EContent     asn1.RawValue `asn1:"explicit,optional,tag:0"`
}

type signedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	EncapContentInfo encapContentInfo
	Certificates     asn1.RawValue   `asn1:"optional,tag:0"`
	CRLs             asn1.RawValue   `asn1:"optional,tag:1"`
	SignerInfos      []asn1.RawValue `asn1:"set"`
}

type issuerAndSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

type signerInfo struct {
	Version            int
	SID                asn1.RawValue
	DigestAlgorithm    pkix.AlgorithmIdentifier
	SignedAttrs        asn1.RawValue `asn1:"optional,tag:0"`
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          []byte
	UnsignedAttrs      asn1.RawValue `asn1:"optional,tag:1"`
}

type attribute struct {
	Type   asn1.ObjectIdentifier
	Values asn1.RawValue `asn1:"set"`
}

type cdHashAlg struct {
	Alg    asn1.ObjectIdentifier
	Digest []byte
}

// cms is a parsed CMS SignedData with one signer, as codesign writes it.
type cms struct {
	Certs       []*x509.Certificate
	Signer      *x509.Certificate // the certificate named by the signer's sid
	DigestAlg   asn1.ObjectIdentifier
	SigAlg      asn1.ObjectIdentifier
	Signature   []byte
	SignedAttrs []byte // DER of the SET OF attributes (the bytes that are signed)
	MsgDigest   []byte
	SigningTime time.Time
	CDHashes    [][]byte          // from the plist attribute (truncated to 20 bytes)
	CDHashes2   map[string][]byte // hash OID (dotted) → full CDHash
	Unsigned    []attribute       // unsigned attributes (the timestamp token)
}

// Errors of the CMS layer; verify maps them to statuses.
var (
	errCMSMalformed = errors.New("codesign: malformed CMS signature")
	errCMSSignature = errors.New("codesign: CMS signature does not verify")
	errCMSDigest    = errors.New("codesign: CMS message digest does not match the CodeDirectory")
)

// parseCMS decodes the DER ContentInfo of a code signature. It does not
// verify anything.
func parseCMS(der []byte) (*cms, error) {
	der, err := berToDER(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errCMSMalformed, err)
	}
	var ci contentInfo
	if _, err := asn1.Unmarshal(der, &ci); err != nil {
		return nil, fmt.Errorf("%w: content info: %w", errCMSMalformed, err)
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("%w: content type %v is not signedData", errCMSMalformed, ci.ContentType)
	}
	var sd signedData
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		return nil, fmt.Errorf("%w: signed data: %w", errCMSMalformed, err)
	}
	if !sd.EncapContentInfo.EContentType.Equal(oidData) {
		return nil, fmt.Errorf("%w: encapsulated content type %v", errCMSMalformed, sd.EncapContentInfo.EContentType)
	}
	if len(sd.EncapContentInfo.EContent.Bytes) != 0 {
		return nil, fmt.Errorf("%w: content is attached; a code signature's is detached", errCMSMalformed)
	}
	if len(sd.SignerInfos) != 1 {
		return nil, fmt.Errorf("%w: %d signers", errCMSMalformed, len(sd.SignerInfos))
	}
	c := &cms{}
	if len(sd.Certificates.Bytes) > 0 {
		c.Certs, err = x509.ParseCertificates(sd.Certificates.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: certificates: %w", errCMSMalformed, err)
		}
	}
	var si signerInfo
	if _, err := asn1.Unmarshal(sd.SignerInfos[0].FullBytes, &si); err != nil {
		return nil, fmt.Errorf("%w: signer info: %w", errCMSMalformed, err)
	}
	c.DigestAlg = si.DigestAlgorithm.Algorithm
	c.SigAlg = si.SignatureAlgorithm.Algorithm
	c.Signature = si.Signature
	// The signer: issuerAndSerialNumber (version 1) or [0] subjectKeyIdentifier (version 3).
	switch {
	case si.SID.Class == asn1.ClassUniversal && si.SID.Tag == asn1.TagSequence:
		var ias issuerAndSerial
		if _, err := asn1.Unmarshal(si.SID.FullBytes, &ias); err != nil {
			return nil, fmt.Errorf("%w: signer id: %w", errCMSMalformed, err)
		}
		for _, cert := range c.Certs {
			if cert.SerialNumber.Cmp(ias.Serial) == 0 && bytes.Equal(cert.RawIssuer, ias.Issuer.FullBytes) {
				c.Signer = cert
				break
			}
		}
	case si.SID.Class == asn1.ClassContextSpecific && si.SID.Tag == 0:
		for _, cert := range c.Certs {
			if len(cert.SubjectKeyId) > 0 && bytes.Equal(cert.SubjectKeyId, si.SID.Bytes) {
				c.Signer = cert
				break
			}
		}
	default:
		return nil, fmt.Errorf("%w: signer id of class %d tag %d", errCMSMalformed, si.SID.Class, si.SID.Tag)
	}
	if c.Signer == nil {
		return nil, fmt.Errorf("%w: the signer's certificate is not in the signature", errCMSMalformed)
	}
	if len(si.SignedAttrs.FullBytes) == 0 {
		return nil, fmt.Errorf("%w: no signed attributes", errCMSMalformed)
	}
	// RFC 5652 5.4: the signature is over the DER of the attributes with
	// the SET OF tag (0x31), not the [0] IMPLICIT tag they carry here.
	c.SignedAttrs = append([]byte{0x31}, si.SignedAttrs.FullBytes[1:]...)
	if err := c.readSignedAttrs(si.SignedAttrs.Bytes); err != nil {
		return nil, err
	}
	if len(si.UnsignedAttrs.Bytes) > 0 {
		c.Unsigned, err = attributes(si.UnsignedAttrs.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: unsigned attributes: %w", errCMSMalformed, err)
		}
	}
	return c, nil
}

func attributes(b []byte) ([]attribute, error) {
	var out []attribute
	for len(b) > 0 {
		var a attribute
		var err error
		if b, err = asn1.Unmarshal(b, &a); err != nil {
			return nil, err
		}
		if len(out) >= 64 {
			return nil, errors.New("more than 64 attributes")
		}
		out = append(out, a)
	}
	return out, nil
}

func (c *cms) readSignedAttrs(b []byte) error {
	attrs, err := attributes(b)
	if err != nil {
		return fmt.Errorf("%w: signed attributes: %w", errCMSMalformed, err)
	}
	for _, a := range attrs {
		switch {
		case a.Type.Equal(oidAttrMsgDigest):
			if c.MsgDigest != nil {
				return fmt.Errorf("%w: two message digests", errCMSMalformed)
			}
			if _, err := asn1.Unmarshal(a.Values.Bytes, &c.MsgDigest); err != nil {
				return fmt.Errorf("%w: message digest: %w", errCMSMalformed, err)
			}
		case a.Type.Equal(oidAttrSigningTime):
			if _, err := asn1.Unmarshal(a.Values.Bytes, &c.SigningTime); err != nil {
				return fmt.Errorf("%w: signing time: %w", errCMSMalformed, err)
			}
		case a.Type.Equal(oidAttrContentType):
			var ct asn1.ObjectIdentifier
			if _, err := asn1.Unmarshal(a.Values.Bytes, &ct); err != nil || !ct.Equal(oidData) {
				return fmt.Errorf("%w: content type attribute", errCMSMalformed)
			}
		case a.Type.Equal(oidAttrCDHashes):
			var pl []byte
			if _, err := asn1.Unmarshal(a.Values.Bytes, &pl); err != nil {
				return fmt.Errorf("%w: cdhashes attribute: %w", errCMSMalformed, err)
			}
			var doc struct {
				CDHashes [][]byte `plist:"cdhashes"`
			}
			if _, err := plist.Unmarshal(pl, &doc); err != nil {
				return fmt.Errorf("%w: cdhashes plist: %w", errCMSMalformed, err)
			}
			c.CDHashes = doc.CDHashes
		case a.Type.Equal(oidAttrCDHashes2):
			c.CDHashes2 = map[string][]byte{}
			rest := a.Values.Bytes
			for len(rest) > 0 {
				var h cdHashAlg
				if rest, err = asn1.Unmarshal(rest, &h); err != nil {
					return fmt.Errorf("%w: cdhashes2 attribute: %w", errCMSMalformed, err)
				}
				c.CDHashes2[h.Alg.String()] = h.Digest
			}
		}
	}
	if c.MsgDigest == nil {
		return fmt.Errorf("%w: no message digest attribute", errCMSMalformed)
	}
	return nil
}

// digestOf maps a digest algorithm OID to a crypto.Hash.
func digestOf(oid asn1.ObjectIdentifier) (crypto.Hash, bool) {
	switch {
	case oid.Equal(oidSHA1):
		return crypto.SHA1, true
	case oid.Equal(oidSHA256):
		return crypto.SHA256, true
	case oid.Equal(oidSHA384):
		return crypto.SHA384, true
	case oid.Equal(oidSHA512):
		return crypto.SHA512, true
	}
	return 0, false
}

// cdHashOID is the digest OID that names a CodeDirectory hash type in the
// CDHashes2 attribute.
func cdHashOID(t uint8) asn1.ObjectIdentifier {
	switch t {
	case hashSHA1:
		return oidSHA1
	case hashSHA256, hashSHA256Truncated:
		return oidSHA256
	case hashSHA384:
		return oidSHA384
	}
	return nil
}

// verifySignature checks the signer's signature over the signed attributes
// and that the message digest is the digest of content (the CodeDirectory
// of slot 0). It returns errCMSDigest or errCMSSignature on mismatch.
func (c *cms) verifySignature(content []byte) error {
	h, ok := digestOf(c.DigestAlg)
	if !ok {
		return fmt.Errorf("%w: digest algorithm %v", errUnsupported, c.DigestAlg)
	}
	d := h.New()
	d.Write(content)
	if !bytes.Equal(d.Sum(nil), c.MsgDigest) {
		return errCMSDigest
	}
	d.Reset()
	d.Write(c.SignedAttrs)
	sum := d.Sum(nil)
	switch pub := c.Signer.PublicKey.(type) {
	case *rsa.PublicKey:
		if !(c.SigAlg.Equal(oidRSA) || c.SigAlg.Equal(oidSHA1WithRSA) || c.SigAlg.Equal(oidSHA256WithRSA) ||
			c.SigAlg.Equal(oidSHA384WithRSA) || c.SigAlg.Equal(oidSHA512WithRSA)) {
			return fmt.Errorf("%w: signature algorithm %v with an RSA key", errUnsupported, c.SigAlg)
		}
		if err := rsa.VerifyPKCS1v15(pub, h, sum, c.Signature); err != nil {
			return fmt.Errorf("%w: %w", errCMSSignature, err)
		}
	case *ecdsa.PublicKey:
		if !(c.SigAlg.Equal(oidECPublicKey) || c.SigAlg.Equal(oidECDSAWithSHA256) || c.SigAlg.Equal(oidECDSAWithSHA384)) {
			return fmt.Errorf("%w: signature algorithm %v with an EC key", errUnsupported, c.SigAlg)
		}
		if !ecdsa.VerifyASN1(pub, sum, c.Signature) {
			return errCMSSignature
		}
	default:
		return fmt.Errorf("%w: signer key of type %T", errUnsupported, pub)
	}
	return nil
}

// verifyCDHashes checks Apple's hash-agility attributes: every
// CodeDirectory in the signature must be the one the signer listed.
// Without these attributes only slot 0 is bound by the signature, so
// alternates are then refused.
func (c *cms) verifyCDHashes(cds []*codeDirectory) error {
	if c.CDHashes == nil && c.CDHashes2 == nil {
		if len(cds) > 1 {
			return fmt.Errorf("%w: %d CodeDirectories but no cdhashes attribute binds the alternates", errCMSDigest, len(cds))
		}
		return nil
	}
	if c.CDHashes != nil {
		if len(c.CDHashes) != len(cds) {
			return fmt.Errorf("%w: cdhashes attribute lists %d CodeDirectories, the signature has %d", errCMSDigest, len(c.CDHashes), len(cds))
		}
		for i, cd := range cds {
			full := cd.cdHash()
			if len(c.CDHashes[i]) != 20 || !bytes.Equal(full[:20], c.CDHashes[i]) {
				return fmt.Errorf("%w: CodeDirectory %d (%s) differs from the signed cdhashes", errCMSDigest, i, hashName(cd.HashType))
			}
		}
	}
	if c.CDHashes2 != nil {
		for i, cd := range cds {
			want, ok := c.CDHashes2[cdHashOID(cd.HashType).String()]
			if !ok {
				if c.CDHashes != nil {
					continue // the plist attribute already bound this one
				}
				return fmt.Errorf("%w: CodeDirectory %d (%s) is not in the signed cdhashes2", errCMSDigest, i, hashName(cd.HashType))
			}
			full := cd.cdHash()
			if !bytes.Equal(full, want) && !bytes.Equal(full[:min(len(full), len(want))], want) {
				return fmt.Errorf("%w: CodeDirectory %d (%s) differs from the signed cdhashes2", errCMSDigest, i, hashName(cd.HashType))
			}
		}
	}
	return nil
}
