// Package secretbox encrypts secrets at rest (Sinch key secrets, webhook
// secrets) with AES-256-GCM under the connector's SECRET_KEY.
//
// A sealed value is version byte 1 || 12-byte random nonce || ciphertext+tag.
// The additional data binds a ciphertext to its row and column, so a value
// copied to another account or field does not decrypt.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
)

const version byte = 1

// ErrDecrypt is returned when a value was not sealed under this key and
// additional data (wrong SECRET_KEY, tampering, or a value moved between rows).
var ErrDecrypt = errors.New("secretbox: cannot decrypt: wrong SECRET_KEY or tampered value")

// Box seals and opens secrets under one key.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secretbox: key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

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

// SealBytes encrypts plaintext (empty too) bound to aad, in the format
// above.
func (b *Box) SealBytes(plaintext, aad []byte) ([]byte, error) {
	ns := b.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plaintext)+b.aead.Overhead())
	out[0] = version
	nonce := out[1 : 1+ns]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("secretbox: nonce: %w", err)
	}
	return b.aead.Seal(out, nonce, plaintext, aad), nil
}

// Overhead is how many bytes sealing adds: version, nonce and tag. A shorter
// value cannot have been sealed.
func (b *Box) Overhead() int { return 1 + b.aead.NonceSize() + b.aead.Overhead() }

// OpenBytes decrypts a value sealed by SealBytes with the same aad;
// ErrDecrypt for anything else.
func (b *Box) OpenBytes(sealed, aad []byte) ([]byte, error) {
	ns := b.aead.NonceSize()
	if len(sealed) < b.Overhead() || sealed[0] != version {
		return nil, ErrDecrypt
	}
	plain, err := b.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return plain, nil
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
