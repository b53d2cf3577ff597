package tlsctx

import (
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"math/big"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// derCRL is one parsed CRL. Its own fields (issuer, dates, number,
// signature) come from x509.ParseRevocationList run on a copy of the CRL
// without its list of revoked certificates; the list is walked here,
// straight into the lookup map. x509.ParseRevocationList builds a struct,
// a big.Int and a time.Time per entry: for a CRL of a million serials
// that is about 4.6 s and 1 GiB of garbage on the 2-core VM, against
// about 0.4 s this way (docs/performance.md).
type derCRL struct {
	rl      *x509.RevocationList // RawTBSRevocationList is the whole TBS, for CheckSignatureFrom
	revoked cryptobyte.String    // the content of revokedCertificates; empty when none
	count   int
}

var errMalformedCRL = errors.New("malformed CRL")

// parseCRLDER parses one DER CRL.
func parseCRLDER(der []byte) (*derCRL, error) {
	input := cryptobyte.String(der)
	var outer cryptobyte.String
	if !input.ReadASN1(&outer, cbasn1.SEQUENCE) || !input.Empty() {
		return nil, errMalformedCRL
	}
	var tbsElem cryptobyte.String
	if !outer.ReadASN1Element(&tbsElem, cbasn1.SEQUENCE) {
		return nil, errMalformedCRL
	}
	trailer := []byte(outer) // signatureAlgorithm, signatureValue
	tbs := tbsElem
	var fields cryptobyte.String
	if !tbs.ReadASN1(&fields, cbasn1.SEQUENCE) {
		return nil, errMalformedCRL
	}
	// TBSCertList: [version INTEGER], signature SEQUENCE, issuer SEQUENCE,
	// thisUpdate, [nextUpdate], [revokedCertificates SEQUENCE],
	// [crlExtensions [0]]. The third SEQUENCE is the revoked list.
	var out derCRL
	var b cryptobyte.Builder
	var walkErr error
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			sequences := 0
			for !fields.Empty() {
				var elem cryptobyte.String
				var tag cbasn1.Tag
				if !fields.ReadAnyASN1Element(&elem, &tag) {
					walkErr = errMalformedCRL
					return
				}
				if tag == cbasn1.SEQUENCE {
					sequences++
					if sequences == 3 {
						if !elem.ReadASN1(&out.revoked, cbasn1.SEQUENCE) {
							walkErr = errMalformedCRL
							return
						}
						continue
					}
				}
				b.AddBytes(elem)
			}
		})
		b.AddBytes(trailer)
	})
	if walkErr != nil {
		return nil, walkErr
	}
	small, err := b.Bytes()
	if err != nil {
		return nil, errMalformedCRL
	}
	rl, err := x509.ParseRevocationList(small)
	if err != nil {
		return nil, err
	}
	rl.RawTBSRevocationList = []byte(tbsElem)
	rl.Raw = der
	out.rl = rl
	// Count (and so validate the shape of) the entries once: the map is
	// then made at its final size.
	list := out.revoked
	for !list.Empty() {
		var entry cryptobyte.String
		if !list.ReadASN1(&entry, cbasn1.SEQUENCE) {
			return nil, errMalformedCRL
		}
		out.count++
	}
	return &out, nil
}

// entries calls fn with the serial key and the revocation time of every
// revoked certificate, in order.
func (c *derCRL) entries(fn func(serial serialKey, revokedAt time.Time)) error {
	list := c.revoked
	for !list.Empty() {
		var entry, serial cryptobyte.String
		if !list.ReadASN1(&entry, cbasn1.SEQUENCE) || !entry.ReadASN1(&serial, cbasn1.INTEGER) {
			return errMalformedCRL
		}
		var at time.Time
		switch {
		case entry.PeekASN1Tag(cbasn1.UTCTime):
			if !entry.ReadASN1UTCTime(&at) {
				return errMalformedCRL
			}
		case entry.PeekASN1Tag(cbasn1.GeneralizedTime):
			if !entry.ReadASN1GeneralizedTime(&at) {
				return errMalformedCRL
			}
		default:
			return errMalformedCRL
		}
		fn(serialKeyDER(serial), at)
	}
	return nil
}

// serialKey is a serial number as a map key: the bytes of its absolute
// value (big.Int.Bytes), up to 20 (RFC 5280's limit); a longer one (which
// no conforming CA issues) is keyed by its SHA-256.
type serialKey struct {
	n     uint8 // length; 255 for a hashed serial
	bytes [20]byte
}

func makeSerialKey(abs []byte) serialKey {
	var k serialKey
	if len(abs) > len(k.bytes) {
		sum := sha256.Sum256(abs)
		k.n = 255
		copy(k.bytes[:], sum[:])
		return k
	}
	k.n = uint8(len(abs))
	copy(k.bytes[:], abs)
	return k
}

// serialKeyDER is the key of a DER INTEGER's content.
func serialKeyDER(v []byte) serialKey {
	if len(v) > 0 && v[0]&0x80 != 0 { // negative: non-conforming, keyed as big.Int.Bytes does
		n := new(big.Int).SetBytes(v)
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(v))))
		return makeSerialKey(n.Bytes())
	}
	for len(v) > 0 && v[0] == 0 {
		v = v[1:]
	}
	return makeSerialKey(v)
}

// serialKeyOf is the key of a certificate's serial number.
func serialKeyOf(c *x509.Certificate) serialKey { return makeSerialKey(c.SerialNumber.Bytes()) }
