package protocol

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"strings"
)

// MySQL 8 stores a caching_sha2_password account as
// "$A$005$" + 20 salt characters + 43 characters of SHA-256 crypt
// (Drepper's "Unix crypt using SHA-256", 5000 rounds for "005"), the value
// `SELECT authentication_string FROM mysql.user` prints. ssld accepts the
// same string as password_hash for a caching_sha2_password account, so an
// account can be copied from MySQL, and `ssld passwd --plugin
// caching_sha2_password` prints it.
const (
	sha2CryptPrefix   = "$A$"
	sha2CryptSaltLen  = 20
	sha2CryptDigestSz = 43
	cryptAlphabet     = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// sha2CryptHash is a parsed "$A$NNN$salt+digest" value.
type sha2CryptHash struct {
	rounds int
	salt   []byte
	digest string
}

func parseSHA2Crypt(s string) (*sha2CryptHash, error) {
	const want = `"$A$" + 3 digits (rounds/1000) + "$" + 20 salt characters + 43 digest characters (MySQL's caching_sha2_password authentication_string)`
	if !strings.HasPrefix(s, sha2CryptPrefix) || len(s) != len(sha2CryptPrefix)+4+sha2CryptSaltLen+sha2CryptDigestSz || s[6] != '$' {
		return nil, fmt.Errorf("want %s", want)
	}
	var k int
	if _, err := fmt.Sscanf(s[3:6], "%03X", &k); err != nil || k < 5 || k > 0xFFF {
		return nil, fmt.Errorf("rounds %q: want 005 or more; %s", s[3:6], want)
	}
	rest := s[7:]
	h := &sha2CryptHash{rounds: k * 1000, salt: []byte(rest[:sha2CryptSaltLen]), digest: rest[sha2CryptSaltLen:]}
	for _, c := range []byte(h.digest) {
		if strings.IndexByte(cryptAlphabet, c) < 0 {
			return nil, fmt.Errorf("digest has %q, not in the crypt alphabet; %s", c, want)
		}
	}
	return h, nil
}

func (h *sha2CryptHash) String() string {
	return fmt.Sprintf("%s%03X$%s%s", sha2CryptPrefix, h.rounds/1000, h.salt, h.digest)
}

// matches reports, in constant time over the digest, whether password
// produces this hash.
func (h *sha2CryptHash) matches(password string) bool {
	got := sha256Crypt([]byte(password), h.salt, h.rounds)
	return subtle.ConstantTimeCompare([]byte(got), []byte(h.digest)) == 1
}

// CachingSHA2PasswordHash returns a new caching_sha2_password hash of
// password in MySQL 8's authentication_string form, with a random salt.
func CachingSHA2PasswordHash(password string) (string, error) {
	salt := make([]byte, sha2CryptSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	// Printable, never '$' or NUL, as MySQL's generate_user_salt.
	for i, b := range salt {
		salt[i] = cryptAlphabet[int(b)%len(cryptAlphabet)]
	}
	h := &sha2CryptHash{rounds: 5000, salt: salt}
	h.digest = sha256Crypt([]byte(password), salt, h.rounds)
	return h.String(), nil
}

// sha256Crypt is the SHA-256 variant of Drepper's SHA-crypt
// (https://www.akkadia.org/drepper/SHA-crypt.txt), without the 16-byte salt
// limit (MySQL uses 20) and without the "$5$" framing: it returns the 43
// characters of the encoded digest.
func sha256Crypt(pw, salt []byte, rounds int) string {
	b := sha256.New()
	b.Write(pw)
	b.Write(salt)
	b.Write(pw)
	sumB := b.Sum(nil)

	a := sha256.New()
	a.Write(pw)
	a.Write(salt)
	for i := len(pw); i > 0; i -= 32 {
		a.Write(sumB[:min(i, 32)])
	}
	for i := len(pw); i > 0; i >>= 1 {
		if i&1 != 0 {
			a.Write(sumB)
		} else {
			a.Write(pw)
		}
	}
	sumA := a.Sum(nil)

	dp := sha256.New()
	for range pw {
		dp.Write(pw)
	}
	p := repeatTo(dp.Sum(nil), len(pw))

	ds := sha256.New()
	for i := 0; i < 16+int(sumA[0]); i++ {
		ds.Write(salt)
	}
	s := repeatTo(ds.Sum(nil), len(salt))

	c := sumA
	for r := 0; r < rounds; r++ {
		h := sha256.New()
		if r&1 != 0 {
			h.Write(p)
		} else {
			h.Write(c)
		}
		if r%3 != 0 {
			h.Write(s)
		}
		if r%7 != 0 {
			h.Write(p)
		}
		if r&1 != 0 {
			h.Write(c)
		} else {
			h.Write(p)
		}
		c = h.Sum(nil)
	}

	var out strings.Builder
	enc := func(b2, b1, b0 byte, n int) {
		w := uint(b2)<<16 | uint(b1)<<8 | uint(b0)
		for ; n > 0; n-- {
			out.WriteByte(cryptAlphabet[w&0x3f])
			w >>= 6
		}
	}
	for _, g := range sha256CryptOrder {
		enc(c[g[0]], c[g[1]], c[g[2]], 4)
	}
	enc(0, c[31], c[30], 3)
	return out.String()
}

// sha256CryptOrder is the order in which Drepper's encoding takes the digest
// bytes, three at a time; bytes 30 and 31 follow as the last group.
var sha256CryptOrder = [10][3]int{
	{0, 10, 20}, {21, 1, 11}, {12, 22, 2}, {3, 13, 23}, {24, 4, 14},
	{15, 25, 5}, {6, 16, 26}, {27, 7, 17}, {18, 28, 8}, {9, 19, 29},
}

func repeatTo(block []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, block[:min(32, n-len(out))]...)
	}
	return out
}
