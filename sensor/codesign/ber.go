package codesign

import (
	"errors"
	"fmt"
)

// Apple's codesign writes the CMS ContentInfo in BER with indefinite
// lengths (the Security framework's SecCMS encoder streams), which
// encoding/asn1 refuses. berToDER rewrites such an encoding into DER
// lengths, bounded in depth and in output size, so that the same strict
// decoder reads both. Content bytes are copied unchanged: the signed
// attributes, which the signature covers, are definite-length already.

const (
	maxBERDepth = 32
	tagOctetStr = 4
)

var errBER = errors.New("codesign: malformed BER")

// berToDER converts one BER element at the start of in; trailing bytes
// (codesign pads the blob with zeros) are ignored.
func berToDER(in []byte) ([]byte, error) {
	out, _, err := berElem(in, 0)
	return out, err
}

// berElem converts the element at the start of b and reports how many
// bytes of b it used.
func berElem(b []byte, depth int) ([]byte, int, error) {
	if depth > maxBERDepth {
		return nil, 0, fmt.Errorf("%w: nested deeper than %d", errBER, maxBERDepth)
	}
	if len(b) < 2 {
		return nil, 0, fmt.Errorf("%w: element of %d bytes", errBER, len(b))
	}
	// Identifier octets (X.690 8.1.2), high tag numbers included.
	id := 1
	if b[0]&0x1f == 0x1f {
		for {
			if id >= len(b) || id > 5 {
				return nil, 0, fmt.Errorf("%w: tag number too long", errBER)
			}
			id++
			if b[id-1]&0x80 == 0 {
				break
			}
		}
	}
	tag := b[:id]
	constructed := b[0]&0x20 != 0
	if id >= len(b) {
		return nil, 0, fmt.Errorf("%w: no length", errBER)
	}
	// Length octets (X.690 8.1.3).
	l0 := b[id]
	pos := id + 1
	indefinite := false
	length := 0
	switch {
	case l0 == 0x80:
		if !constructed {
			return nil, 0, fmt.Errorf("%w: indefinite length on a primitive", errBER)
		}
		indefinite = true
	case l0 < 0x80:
		length = int(l0)
	default:
		n := int(l0 & 0x7f)
		if n > 4 || pos+n > len(b) {
			return nil, 0, fmt.Errorf("%w: length of %d octets", errBER, n)
		}
		for _, c := range b[pos : pos+n] {
			length = length<<8 | int(c)
		}
		pos += n
	}
	if !indefinite && (length < 0 || length > len(b)-pos) {
		return nil, 0, fmt.Errorf("%w: length %d past the end", errBER, length)
	}
	if !constructed {
		return appendTLV(nil, tag, b[pos:pos+length]), pos + length, nil
	}
	var content []byte
	end := pos + length
	octets := b[0] == 0x20|tagOctetStr // constructed OCTET STRING: DER wants it primitive
	for {
		if indefinite {
			if pos+2 > len(b) {
				return nil, 0, fmt.Errorf("%w: no end-of-contents", errBER)
			}
			if b[pos] == 0 && b[pos+1] == 0 {
				pos += 2
				break
			}
		} else if pos >= end {
			break
		}
		lim := len(b)
		if !indefinite {
			lim = end
		}
		child, n, err := berElem(b[pos:lim], depth+1)
		if err != nil {
			return nil, 0, err
		}
		if octets {
			if child[0] != tagOctetStr {
				return nil, 0, fmt.Errorf("%w: constructed octet string holds tag %#x", errBER, child[0])
			}
			_, hl := derHeaderLen(child)
			child = child[hl:]
		}
		content = append(content, child...)
		pos += n
	}
	if octets {
		return appendTLV(nil, []byte{tagOctetStr}, content), pos, nil
	}
	return appendTLV(nil, tag, content), pos, nil
}

// appendTLV appends tag, a DER length and content.
func appendTLV(dst, tag, content []byte) []byte {
	dst = append(dst, tag...)
	n := len(content)
	switch {
	case n < 0x80:
		dst = append(dst, byte(n))
	case n < 1<<8:
		dst = append(dst, 0x81, byte(n))
	case n < 1<<16:
		dst = append(dst, 0x82, byte(n>>8), byte(n))
	case n < 1<<24:
		dst = append(dst, 0x83, byte(n>>16), byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, content...)
}

// derHeaderLen returns the tag and header length of a DER element made by
// appendTLV (single-byte tag).
func derHeaderLen(b []byte) (byte, int) {
	if b[1] < 0x80 {
		return b[0], 2
	}
	return b[0], 2 + int(b[1]&0x7f)
}
