package secretbox

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestSealOpenRoundTrip(t *testing.T) {
	box, err := New(testKey(1))
	require.NoError(t, err)
	sealed, err := box.Seal("s3cret-value", "account:1:key_secret")
	require.NoError(t, err)
	assert.NotContains(t, string(sealed), "s3cret-value")
	got, err := box.Open(sealed, "account:1:key_secret")
	require.NoError(t, err)
	assert.Equal(t, "s3cret-value", got)

	again, err := box.Seal("s3cret-value", "account:1:key_secret")
	require.NoError(t, err)
	assert.NotEqual(t, sealed, again, "a fresh nonce per seal")
}

func TestOpenRejectsWrongKeyAADAndTampering(t *testing.T) {
	box, _ := New(testKey(1))
	other, _ := New(testKey(2))
	sealed, err := box.Seal("v", "account:1:webhook_secret")
	require.NoError(t, err)

	_, err = other.Open(sealed, "account:1:webhook_secret")
	assert.ErrorIs(t, err, ErrDecrypt)
	_, err = box.Open(sealed, "account:2:webhook_secret")
	assert.ErrorIs(t, err, ErrDecrypt, "a value moved to another row must not open")

	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1
	_, err = box.Open(tampered, "account:1:webhook_secret")
	assert.ErrorIs(t, err, ErrDecrypt)
	_, err = box.Open([]byte{9, 9, 9}, "x")
	assert.ErrorIs(t, err, ErrDecrypt)
}

func TestEmptyMeansUnset(t *testing.T) {
	box, _ := New(testKey(1))
	sealed, err := box.Seal("", "a")
	require.NoError(t, err)
	assert.Nil(t, sealed)
	got, err := box.Open(nil, "a")
	require.NoError(t, err)
	assert.Equal(t, "", got)
}

func TestNewRejectsShortKey(t *testing.T) {
	_, err := New([]byte("short"))
	assert.ErrorContains(t, err, "32 bytes")
}

func TestMigrationAADKeepsMigrationAndAccountSecretsApart(t *testing.T) {
	box, _ := New(testKey(1))
	assert.Equal(t, "migration:7:key_secret", MigrationAAD(7, "key_secret"))
	sealed, err := box.Seal("ks", MigrationAAD(7, "key_secret"))
	require.NoError(t, err)
	got, err := box.Open(sealed, MigrationAAD(7, "key_secret"))
	require.NoError(t, err)
	assert.Equal(t, "ks", got)
	_, err = box.Open(sealed, AccountAAD(7, "key_secret"))
	assert.ErrorIs(t, err, ErrDecrypt, "a migration's secret does not open as account 7's")
	_, err = box.Open(sealed, MigrationAAD(8, "key_secret"))
	assert.ErrorIs(t, err, ErrDecrypt, "nor as another migration's")
}

func mustKeys(t *testing.T, keys ...Key) *Box {
	t.Helper()
	box, err := NewKeys(keys)
	require.NoError(t, err)
	return box
}

// sealV1 writes a version 1 value with the standard library alone, as every
// Box did before key ids: byte 1 || nonce || ciphertext+tag.
func sealV1(t *testing.T, key []byte, plaintext, aad string) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	require.NoError(t, err)
	aead, err := cipher.NewGCM(block)
	require.NoError(t, err)
	nonce := bytes.Repeat([]byte{0xA5}, aead.NonceSize())
	return aead.Seal(append([]byte{1}, nonce...), nonce, []byte(plaintext), []byte(aad))
}

func TestVersion2CarriesTheKeyID(t *testing.T) {
	box := mustKeys(t, Key{ID: "k2", Key: testKey(2)}, Key{ID: "k1", Key: testKey(1)})
	assert.Equal(t, "k2", box.CurrentKeyID())
	sealed, err := box.Seal("s3cret", "account:1:key_secret")
	require.NoError(t, err)
	require.Len(t, sealed, 2+2+12+len("s3cret")+16)
	assert.Equal(t, byte(2), sealed[0], "version 2")
	assert.Equal(t, byte(2), sealed[1], "id length")
	assert.Equal(t, "k2", string(sealed[2:4]), "the id of the sealing key")
	assert.Equal(t, len(sealed)-len("s3cret"), box.Overhead())

	got, err := box.Open(sealed, "account:1:key_secret")
	require.NoError(t, err)
	assert.Equal(t, "s3cret", got)
	got, err = mustKeys(t, Key{ID: "k9", Key: testKey(9)}, Key{ID: "k2", Key: testKey(2)}).Open(sealed, "account:1:key_secret")
	require.NoError(t, err, "an older key still opens what it sealed")
	assert.Equal(t, "s3cret", got)
}

func TestVersion1ValuesStillOpen(t *testing.T) {
	old := sealV1(t, testKey(1), "webhook-secret", "account:3:webhook_secret")
	for name, box := range map[string]*Box{
		"New, as before":            func() *Box { b, err := New(testKey(1)); require.NoError(t, err); return b }(),
		"the key alone, named":      mustKeys(t, Key{ID: "k0", Key: testKey(1)}),
		"after a new current key":   mustKeys(t, Key{ID: "k2", Key: testKey(2)}, Key{ID: "k0", Key: testKey(1)}),
		"behind several other keys": mustKeys(t, Key{ID: "a", Key: testKey(3)}, Key{ID: "b", Key: testKey(4)}, Key{ID: "c", Key: testKey(1)}),
	} {
		got, err := box.Open(old, "account:3:webhook_secret")
		require.NoError(t, err, name)
		assert.Equal(t, "webhook-secret", got, name)
		_, err = box.Open(old, "account:4:webhook_secret")
		assert.ErrorIs(t, err, ErrDecrypt, "%s: still bound to its row", name)
	}
	_, err := mustKeys(t, Key{ID: "k2", Key: testKey(2)}).Open(old, "account:3:webhook_secret")
	assert.ErrorIs(t, err, ErrDecrypt, "no key of the box opens it")

	box, err := New(testKey(1))
	require.NoError(t, err)
	sealed, err := box.Seal("v", "a")
	require.NoError(t, err)
	assert.Equal(t, byte(1), sealed[0], "New keeps sealing version 1 (the PII codec's format)")
	assert.Equal(t, 1+12+16, box.Overhead())
}

func TestUnknownKeyIDIsNamed(t *testing.T) {
	sealed, err := mustKeys(t, Key{ID: "k1", Key: testKey(1)}).Seal("v", "a")
	require.NoError(t, err)
	_, err = mustKeys(t, Key{ID: "k2", Key: testKey(2)}).Open(sealed, "a")
	var unknown *UnknownKeyError
	require.ErrorAs(t, err, &unknown)
	assert.Equal(t, "k1", unknown.ID)
	assert.Contains(t, err.Error(), "sealed with key k1, which SECRET_KEYS does not hold")
	assert.ErrorIs(t, err, ErrDecrypt, "callers that check ErrDecrypt still see a decryption failure")

	_, err = mustKeys(t, Key{ID: "k1", Key: testKey(7)}).Open(sealed, "a")
	assert.ErrorIs(t, err, ErrDecrypt)
	assert.Contains(t, err.Error(), "sealed with key k1, which does not open it", "same id, other key bytes")

	for name, bad := range map[string][]byte{
		"no id length":   {2},
		"empty id":       append([]byte{2, 0}, sealed[4:]...),
		"id past end":    {2, 9, 'k'},
		"no nonce":       {2, 2, 'k', '1'},
		"version 3":      append([]byte{3}, sealed[1:]...),
		"tampered tag":   append(bytes.Clone(sealed[:len(sealed)-1]), sealed[len(sealed)-1]^1),
		"renamed key id": append([]byte{2, 2, 'k', '2'}, sealed[4:]...),
	} {
		_, err := mustKeys(t, Key{ID: "k1", Key: testKey(1)}, Key{ID: "k2", Key: testKey(2)}).Open(bad, "a")
		assert.ErrorIs(t, err, ErrDecrypt, name)
	}
}

func TestIsCurrentAndReseal(t *testing.T) {
	a := Key{ID: "a", Key: testKey(1)}
	b := Key{ID: "b", Key: testKey(2)}
	underA, err := mustKeys(t, a).Seal("ks", "account:1:key_secret")
	require.NoError(t, err)
	v1 := sealV1(t, testKey(1), "ks", "account:1:key_secret")
	aad := []byte("account:1:key_secret")

	ba := mustKeys(t, b, a)
	assert.False(t, ba.IsCurrent(underA), "sealed under a, b is current")
	assert.False(t, ba.IsCurrent(v1), "a version 1 value names no key")
	for name, old := range map[string][]byte{"under a": underA, "version 1": v1} {
		out, changed, err := ba.Reseal(old, aad)
		require.NoError(t, err, name)
		assert.True(t, changed, name)
		assert.True(t, ba.IsCurrent(out), name)
		assert.Equal(t, "b", string(out[2:3]), name)
		got, err := mustKeys(t, b).Open(out, string(aad))
		require.NoError(t, err, "%s: b alone opens it now", name)
		assert.Equal(t, "ks", got)

		again, changed, err := ba.Reseal(out, aad)
		require.NoError(t, err)
		assert.False(t, changed, "%s: already current", name)
		assert.Equal(t, out, again, "%s: left as it is", name)
	}

	_, _, err = mustKeys(t, b).Reseal(underA, aad)
	assert.ErrorContains(t, err, "sealed with key a, which SECRET_KEYS does not hold")
	forged := append([]byte{2, 1, 'b'}, make([]byte, 40)...)
	assert.True(t, ba.IsCurrent(forged), "IsCurrent reads the header only")
	_, _, err = ba.Reseal(forged, aad)
	assert.ErrorIs(t, err, ErrDecrypt, "Reseal opens even a current value")

	single, err := New(testKey(1))
	require.NoError(t, err)
	assert.True(t, single.IsCurrent(v1), "New seals version 1")
	assert.False(t, single.IsCurrent(underA))
}

func TestNewKeysRejectsBadKeys(t *testing.T) {
	for name, keys := range map[string][]Key{
		"none":      nil,
		"empty id":  {{ID: "", Key: testKey(1)}},
		"bad id":    {{ID: "k 1", Key: testKey(1)}},
		"long id":   {{ID: strings.Repeat("k", 65), Key: testKey(1)}},
		"twice":     {{ID: "k1", Key: testKey(1)}, {ID: "k1", Key: testKey(2)}},
		"short key": {{ID: "k1", Key: testKey(1)[:16]}},
	} {
		_, err := NewKeys(keys)
		assert.Error(t, err, name)
	}
	_, err := NewKeys([]Key{{ID: strings.Repeat("k", 64), Key: testKey(1)}})
	assert.NoError(t, err, "64 characters is the longest id")
}
