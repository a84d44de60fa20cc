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
	// tokenKeyLabel binds the derived key to this use, so SECRET_KEY is
	// never used as-is and a MAC made here means nothing elsewhere.
	tokenKeyLabel = "xcally-connector media URL token v1"
)

// tokenEncoding is base64url without padding; Strict refuses non-zero
// trailing bits, so each token has exactly one spelling.
var tokenEncoding = base64.RawURLEncoding.Strict()

// Signer mints and checks the token in the media URLs Sinch fetches
// agents' files from (the seeds' "proxy token"). It is safe for concurrent
// use.
type Signer struct {
	key []byte
}

// NewSigner derives its HMAC-SHA256 key from secret (the connector's
// 32-byte SECRET_KEY) with a fixed context label, so the key is not reused
// as-is: key = HMAC-SHA256(secret, label || 0x01), which is HKDF-Expand
// (RFC 5869) of one block with SECRET_KEY, already uniformly random, as
// the pseudorandom key.
func NewSigner(secret []byte) *Signer {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(tokenKeyLabel))
	m.Write([]byte{0x01})
	return &Signer{key: m.Sum(nil)}
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

// Verify checks the MAC in constant time, then the expiry, and returns the
// attachment id. Anything malformed, altered or signed with another key is
// ErrTokenInvalid; a genuine token at or past its expiry is
// ErrTokenExpired.
func (s *Signer) Verify(token string, now time.Time) (uint64, error) {
	if tokenEncoding.EncodedLen(tokenLen) != len(token) {
		return 0, ErrTokenInvalid
	}
	b, err := tokenEncoding.DecodeString(token)
	if err != nil || len(b) != tokenLen {
		return 0, ErrTokenInvalid
	}
	want := s.sign(b[:tokenBody:tokenBody])
	if !hmac.Equal(b[tokenBody:], want[tokenBody:]) || b[0] != tokenVersion {
		return 0, ErrTokenInvalid
	}
	expires := int64(binary.BigEndian.Uint64(b[9:]))
	if now.Unix() >= expires {
		return 0, ErrTokenExpired
	}
	return binary.BigEndian.Uint64(b[1:]), nil
}

// sign appends the MAC of body to it.
func (s *Signer) sign(body []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write(body)
	return m.Sum(body)
}
