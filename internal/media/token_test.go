package media

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testSecret = bytes.Repeat([]byte{0x42}, 32)

func TestTokenValid(t *testing.T) {
	s := NewSigner(testSecret)
	now := time.Unix(1_700_000_000, 0)
	for _, id := range []uint64{0, 1, 42, 1<<63 + 5, ^uint64(0)} {
		tok := s.Mint(id, now.Add(time.Hour))
		assert.Len(t, tok, 66)
		assert.NotContains(t, tok, "=")
		assert.Equal(t, tok, strings.Map(func(r rune) rune {
			if strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", r) {
				return r
			}
			return -1
		}, tok), "URL-safe characters only")
		got, err := s.Verify(tok, now)
		require.NoError(t, err)
		assert.Equal(t, id, got)
	}
	// Deterministic for the same inputs, different for different ids.
	assert.Equal(t, s.Mint(7, now), s.Mint(7, now))
	assert.NotEqual(t, s.Mint(7, now), s.Mint(8, now))
}

func TestTokenExpired(t *testing.T) {
	s := NewSigner(testSecret)
	exp := time.Unix(1_700_000_000, 0)
	tok := s.Mint(9, exp)
	_, err := s.Verify(tok, exp.Add(-time.Second))
	assert.NoError(t, err, "valid before expiry")
	_, err = s.Verify(tok, exp)
	assert.ErrorIs(t, err, ErrTokenExpired, "expired at expiry")
	_, err = s.Verify(tok, exp.Add(time.Hour))
	assert.ErrorIs(t, err, ErrTokenExpired)
}

func TestTokenTampered(t *testing.T) {
	s := NewSigner(testSecret)
	now := time.Unix(1_700_000_000, 0)
	tok := s.Mint(1234, now.Add(time.Hour))
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	require.NoError(t, err)
	require.Len(t, raw, 49)
	regions := map[string][2]int{"version": {0, 1}, "id": {1, 9}, "expiry": {9, 17}, "mac": {17, 49}}
	for name, r := range regions {
		for i := r[0]; i < r[1]; i++ {
			for _, bit := range []byte{0x01, 0x80} {
				b := bytes.Clone(raw)
				b[i] ^= bit
				_, err := s.Verify(base64.RawURLEncoding.EncodeToString(b), now)
				assert.ErrorIs(t, err, ErrTokenInvalid, "%s byte %d bit %#x", name, i, bit)
			}
		}
	}
	// An expiry pushed into the past without a valid MAC is invalid, not
	// expired: the MAC is checked before the expiry is trusted.
	b := bytes.Clone(raw)
	binary.BigEndian.PutUint64(b[9:], 1)
	_, err = s.Verify(base64.RawURLEncoding.EncodeToString(b), now)
	assert.ErrorIs(t, err, ErrTokenInvalid)
}

func TestTokenWrongKeyAndVersion(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tok := NewSigner(testSecret).Mint(5, now.Add(time.Hour))
	other := bytes.Clone(testSecret)
	other[0] ^= 1
	_, err := NewSigner(other).Verify(tok, now)
	assert.ErrorIs(t, err, ErrTokenInvalid)

	// The key is derived, not SECRET_KEY itself: a MAC made with the raw
	// secret does not verify.
	body := make([]byte, 17)
	body[0] = 1
	binary.BigEndian.PutUint64(body[1:], 5)
	binary.BigEndian.PutUint64(body[9:], uint64(now.Add(time.Hour).Unix()))
	m := hmac.New(sha256.New, testSecret)
	m.Write(body)
	_, err = NewSigner(testSecret).Verify(base64.RawURLEncoding.EncodeToString(m.Sum(body)), now)
	assert.ErrorIs(t, err, ErrTokenInvalid)

	// A correctly signed token of another version is refused.
	s := NewSigner(testSecret)
	body[0] = 2
	_, err = s.Verify(base64.RawURLEncoding.EncodeToString(s.sign(body)), now)
	assert.ErrorIs(t, err, ErrTokenInvalid)
}

func TestTokenGarbage(t *testing.T) {
	s := NewSigner(testSecret)
	now := time.Unix(1_700_000_000, 0)
	tok := s.Mint(5, now.Add(time.Hour))
	for _, g := range []string{
		"",
		"x",
		"not a token",
		tok[:65],
		tok + "A",
		tok[:65] + "=",
		strings.Repeat("A", 66),
		strings.Repeat("_", 66),
		tok[:30] + "+" + tok[31:], // standard-alphabet character
		tok[:30] + "." + tok[31:],
		base64.StdEncoding.EncodeToString(make([]byte, 49)),
		base64.RawURLEncoding.EncodeToString(make([]byte, 48)),
		base64.RawURLEncoding.EncodeToString(make([]byte, 50)),
	} {
		_, err := s.Verify(g, now)
		assert.ErrorIs(t, err, ErrTokenInvalid, "%q", g)
	}
	// The last character carries 4 spare bits, zero in a minted token:
	// another spelling of the same bytes is refused (Strict decoding).
	last := tok[65]
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	idx := strings.IndexByte(alphabet, last)
	require.Zero(t, idx&0x0F)
	alt := tok[:65] + string(alphabet[idx|1])
	_, err := s.Verify(alt, now)
	assert.ErrorIs(t, err, ErrTokenInvalid)
}

// TestTokenKeyRotation: after a SECRET_KEYS rotation the signer mints with
// the new key and still accepts links signed with the old one until they
// expire; once the old key is dropped, its links are refused.
func TestTokenKeyRotation(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	oldKey, newKey := testSecret, bytes.Repeat([]byte{0x43}, 32)
	handedOut := NewSigner(oldKey).Mint(11, now.Add(time.Hour))

	rotated := NewSigner(newKey, oldKey)
	id, err := rotated.Verify(handedOut, now)
	require.NoError(t, err, "a link signed before the rotation still works")
	assert.Equal(t, uint64(11), id)
	_, err = rotated.Verify(handedOut, now.Add(time.Hour))
	assert.ErrorIs(t, err, ErrTokenExpired, "and expires as it would have")

	fresh := rotated.Mint(12, now.Add(time.Hour))
	assert.Equal(t, NewSigner(newKey).Mint(12, now.Add(time.Hour)), fresh, "the first key signs")
	_, err = NewSigner(oldKey).Verify(fresh, now)
	assert.ErrorIs(t, err, ErrTokenInvalid, "not the old key")

	afterDrop := NewSigner(newKey)
	_, err = afterDrop.Verify(fresh, now)
	assert.NoError(t, err)
	_, err = afterDrop.Verify(handedOut, now)
	assert.ErrorIs(t, err, ErrTokenInvalid, "the dropped key's links are refused")

	// Several old keys: each one's links verify.
	third := bytes.Repeat([]byte{0x44}, 32)
	ring := NewSigner(newKey, oldKey, third)
	for _, k := range [][]byte{newKey, oldKey, third} {
		got, err := ring.Verify(NewSigner(k).Mint(13, now.Add(time.Minute)), now)
		require.NoError(t, err)
		assert.Equal(t, uint64(13), got)
	}
}
