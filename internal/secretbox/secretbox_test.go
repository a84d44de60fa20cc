package secretbox

import (
	"bytes"
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
