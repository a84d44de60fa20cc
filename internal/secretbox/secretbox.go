// Package secretbox encrypts secrets at rest (Sinch key secrets, webhook
// secrets) with AES-256-GCM under the connector's SECRET_KEYS.
//
// A Box holds one or more keys: the first seals, every one opens, so keys
// rotate. Two formats exist:
//
//   - version 2, written by a Box of named keys (NewKeys):
//     byte 2 || key id length (1 byte) || key id || 12-byte nonce || ciphertext+tag
//   - version 1, written by New (one unnamed key) and by every Box before key
//     ids existed: byte 1 || 12-byte nonce || ciphertext+tag
//
// A version 2 value is opened with the key its id names; a version 1 value
// with each key in turn (GCM's tag makes a wrong key fail cleanly).
//
// The additional data binds a ciphertext to its row and column, so a value
// copied to another account or field does not decrypt.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"strconv"
)

// Format versions: the first byte of a sealed value.
const (
	versionUnnamed byte = 1
	versionNamed   byte = 2
)

// ErrDecrypt is returned when a value was not sealed under these keys and
// additional data (wrong key, tampering, or a value moved between rows).
var ErrDecrypt = errors.New("secretbox: cannot decrypt: wrong key (SECRET_KEYS) or tampered value")

// UnknownKeyError is returned when a value names a key id the Box does not
// hold. It matches ErrDecrypt with errors.Is.
type UnknownKeyError struct {
	ID string
}

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("secretbox: sealed with key %s, which SECRET_KEYS does not hold (add it after the current key)", e.ID)
}

// Unwrap makes errors.Is(err, ErrDecrypt) hold.
func (e *UnknownKeyError) Unwrap() error { return ErrDecrypt }

// wrongKeyError is a version 2 value its named key does not open. It
// matches ErrDecrypt with errors.Is.
type wrongKeyError string

func (e wrongKeyError) Error() string {
	return fmt.Sprintf("secretbox: sealed with key %s, which does not open it (other key bytes under that id, a value moved between rows, or tampering)", string(e))
}

func (wrongKeyError) Unwrap() error { return ErrDecrypt }

// Key is one 32-byte AES-256 key and the id version 2 values name it by.
type Key struct {
	ID  string
	Key []byte
}

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

type boxKey struct {
	id   string
	aead cipher.AEAD
}

// Box seals under its first key and opens with any of its keys.
type Box struct {
	keys []boxKey
	// named: the Box was built by NewKeys and seals version 2.
	named bool
}

// New returns a Box of one unnamed 32-byte key: it seals version 1 values,
// which carry no key id (the PII codec names its keys itself).
func New(key []byte) (*Box, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	return &Box{keys: []boxKey{{aead: aead}}}, nil
}

// NewKeys returns a Box of named keys: the first one seals, in version 2
// with its id; every one opens.
func NewKeys(keys []Key) (*Box, error) {
	if len(keys) == 0 {
		return nil, errors.New("secretbox: no key")
	}
	b := &Box{named: true, keys: make([]boxKey, 0, len(keys))}
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if !keyIDPattern.MatchString(k.ID) {
			return nil, fmt.Errorf("secretbox: key id %q: want 1 to 64 letters, digits, '.', '_' or '-'", k.ID)
		}
		if seen[k.ID] {
			return nil, fmt.Errorf("secretbox: key id %q given twice", k.ID)
		}
		seen[k.ID] = true
		aead, err := newAEAD(k.Key)
		if err != nil {
			return nil, fmt.Errorf("secretbox: key %s: %w", k.ID, err)
		}
		b.keys = append(b.keys, boxKey{id: k.ID, aead: aead})
	}
	return b, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secretbox: key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// CurrentKeyID is the id of the key Seal uses ("" for a Box of New).
func (b *Box) CurrentKeyID() string { return b.keys[0].id }

// Seal encrypts plaintext bound to aad. An empty plaintext seals to nil
// (no secret set).
func (b *Box) Seal(plaintext, aad string) ([]byte, error) {
	if plaintext == "" {
		return nil, nil
	}
	return b.SealBytes([]byte(plaintext), []byte(aad))
}

// Open decrypts a value sealed by Seal with the same aad. A nil or empty
// value opens to "" (no secret set).
func (b *Box) Open(sealed []byte, aad string) (string, error) {
	if len(sealed) == 0 {
		return "", nil
	}
	plain, err := b.OpenBytes(sealed, []byte(aad))
	return string(plain), err
}

// header is the format's prefix before the nonce under the current key.
func (b *Box) header() []byte {
	if !b.named {
		return []byte{versionUnnamed}
	}
	id := b.keys[0].id
	return append([]byte{versionNamed, byte(len(id))}, id...)
}

// SealBytes encrypts plaintext (empty too) bound to aad under the current
// key, in the format described above.
func (b *Box) SealBytes(plaintext, aad []byte) ([]byte, error) {
	k := b.keys[0]
	h := b.header()
	ns := k.aead.NonceSize()
	out := make([]byte, len(h)+ns, len(h)+ns+len(plaintext)+k.aead.Overhead())
	copy(out, h)
	nonce := out[len(h):]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("secretbox: nonce: %w", err)
	}
	return k.aead.Seal(out, nonce, plaintext, aad), nil
}

// Overhead is how many bytes SealBytes adds: header, nonce and tag. For a
// Box of New (version 1) a shorter value cannot have been sealed.
func (b *Box) Overhead() int {
	return len(b.header()) + b.keys[0].aead.NonceSize() + b.keys[0].aead.Overhead()
}

// OpenBytes decrypts a value sealed by SealBytes of a Box holding the same
// key, with the same aad: a version 2 value with the key its id names
// (*UnknownKeyError when the Box does not hold it), a version 1 value with
// whichever key opens it. Anything else is ErrDecrypt.
func (b *Box) OpenBytes(sealed, aad []byte) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, ErrDecrypt
	}
	switch sealed[0] {
	case versionUnnamed:
		for _, k := range b.keys {
			if plain, err := openWith(k.aead, sealed[1:], aad); err == nil {
				return plain, nil
			}
		}
		return nil, ErrDecrypt
	case versionNamed:
		id, rest, ok := parseNamed(sealed)
		if !ok {
			return nil, ErrDecrypt
		}
		for _, k := range b.keys {
			if k.id == id {
				plain, err := openWith(k.aead, rest, aad)
				if err != nil {
					return nil, wrongKeyError(id)
				}
				return plain, nil
			}
		}
		return nil, &UnknownKeyError{ID: id}
	}
	return nil, ErrDecrypt
}

// parseNamed splits a version 2 value into its key id and nonce||ciphertext.
func parseNamed(sealed []byte) (id string, rest []byte, ok bool) {
	if len(sealed) < 2 || sealed[0] != versionNamed {
		return "", nil, false
	}
	n := int(sealed[1])
	if n == 0 || len(sealed) < 2+n {
		return "", nil, false
	}
	return string(sealed[2 : 2+n]), sealed[2+n:], true
}

// openWith opens nonce||ciphertext+tag.
func openWith(aead cipher.AEAD, body, aad []byte) ([]byte, error) {
	ns := aead.NonceSize()
	if len(body) < ns+aead.Overhead() {
		return nil, ErrDecrypt
	}
	return aead.Open(nil, body[:ns], body[ns:], aad)
}

// IsCurrent reports whether sealed is already in the format and under the
// key SealBytes uses now (a version 2 value naming the current key; for a
// Box of New, a version 1 value), so re-sealing it would change nothing
// but the nonce. It does not check that the value opens.
func (b *Box) IsCurrent(sealed []byte) bool {
	if !b.named {
		return len(sealed) > 0 && sealed[0] == versionUnnamed
	}
	id, _, ok := parseNamed(sealed)
	return ok && id == b.keys[0].id
}

// Reseal opens sealed (with any key of the Box) and, unless it is already
// current (IsCurrent), seals its plaintext again under the current key.
// changed says whether out differs from sealed. A value no key opens is an
// error, current or not.
func (b *Box) Reseal(sealed, aad []byte) (out []byte, changed bool, err error) {
	plain, err := b.OpenBytes(sealed, aad)
	if err != nil {
		return nil, false, err
	}
	if b.IsCurrent(sealed) {
		return sealed, false, nil
	}
	out, err = b.SealBytes(plain, aad)
	return out, err == nil, err
}

// AccountAAD is the additional data that binds an account's sealed secret to
// its row and field ("key_secret" or "webhook_secret").
func AccountAAD(accountID uint64, field string) string {
	return "account:" + strconv.FormatUint(accountID, 10) + ":" + field
}

// MigrationAAD is the additional data that binds a secret a migration holds
// for the account it will create ("key_secret" or "webhook_secret") to the
// migration's row and field: the create-account step opens it and seals it
// again under AccountAAD of the new account.
func MigrationAAD(migrationID uint64, field string) string {
	return "migration:" + strconv.FormatUint(migrationID, 10) + ":" + field
}
