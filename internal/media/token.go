package media

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// Media token errors: Verify returns one of them.
var (
	ErrTokenInvalid = errors.New("media token invalid")
	ErrTokenExpired = errors.New("media token expired")
)

// Token layout: version | attachment id (8 bytes, big endian) | expiry in
// Unix seconds (8 bytes, big endian) | HMAC-SHA256 of the bytes before it.
const (
	tokenVersion = 1
	tokenBody    = 1 + 8 + 8
	tokenLen     = tokenBody + sha256.Size
	// tokenKeyLabel binds the derived key to this use, so a SECRET_KEYS key
	// is never used as-is and a MAC made here means nothing elsewhere.
	tokenKeyLabel = "xcally-connector media URL token v1"
)

// tokenEncoding is base64url without padding; Strict refuses non-zero
// trailing bits, so each token has exactly one spelling.
var tokenEncoding = base64.RawURLEncoding.Strict()

// Signer mints and checks the token in the media URLs Sinch fetches
// agents' files from (the "proxy token" of Motion's Sinch V2 guide). It is
// safe for concurrent use.
type Signer struct {
	// keys[0] signs; every one verifies.
	keys [][]byte
}

// NewSigner signs with current and accepts tokens signed with it or with
// any of previous (the older keys of a SECRET_KEYS rotation: tokens
// already handed to Sinch stay valid until they expire). Each HMAC-SHA256
// key is derived from its 32-byte secret with a fixed context label, so
// the secret is not reused as-is: key = HMAC-SHA256(secret, label ||
// 0x01), which is HKDF-Expand (RFC 5869) of one block with the secret,
// already uniformly random, as the pseudorandom key.
func NewSigner(current []byte, previous ...[]byte) *Signer {
	s := &Signer{keys: make([][]byte, 0, 1+len(previous))}
	for _, secret := range append([][]byte{current}, previous...) {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(tokenKeyLabel))
		m.Write([]byte{0x01})
		s.keys = append(s.keys, m.Sum(nil))
	}
	return s
}

// Mint returns an unguessable, URL-safe token for attachment id valid
// until expires (to the second, rounded down): 66 characters.
func (s *Signer) Mint(id uint64, expires time.Time) string {
	b := make([]byte, tokenBody, tokenLen)
	b[0] = tokenVersion
	binary.BigEndian.PutUint64(b[1:], id)
	binary.BigEndian.PutUint64(b[9:], uint64(expires.Unix()))
	return tokenEncoding.EncodeToString(s.sign(b))
}

// Verify checks the MAC in constant time against each key, then the
// expiry, and returns the attachment id. Anything malformed, altered or
// signed with a key the Signer does not hold is ErrTokenInvalid; a genuine
// token at or past its expiry is ErrTokenExpired.
func (s *Signer) Verify(token string, now time.Time) (uint64, error) {
	if tokenEncoding.EncodedLen(tokenLen) != len(token) {
		return 0, ErrTokenInvalid
	}
	b, err := tokenEncoding.DecodeString(token)
	if err != nil || len(b) != tokenLen {
		return 0, ErrTokenInvalid
	}
	valid := false
	for _, key := range s.keys {
		want := signWith(key, b[:tokenBody:tokenBody])
		valid = valid || hmac.Equal(b[tokenBody:], want[tokenBody:])
	}
	if !valid || b[0] != tokenVersion {
		return 0, ErrTokenInvalid
	}
	expires := int64(binary.BigEndian.Uint64(b[9:]))
	if now.Unix() >= expires {
		return 0, ErrTokenExpired
	}
	return binary.BigEndian.Uint64(b[1:]), nil
}

// sign appends the MAC of body under the current key to it.
func (s *Signer) sign(body []byte) []byte { return signWith(s.keys[0], body) }

// signWith appends the MAC of body under key to it.
func signWith(key, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return m.Sum(body)
}
