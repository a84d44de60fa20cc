package piicodec_test

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/xcally-connector/connector/internal/piicodec"
)

func key(t *testing.T, id string) piicodec.Key {
	t.Helper()
	b := make([]byte, 32)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return piicodec.Key{ID: id, Key: b}
}

func newCodec(t *testing.T, keys ...piicodec.Key) *piicodec.Codec {
	t.Helper()
	c, err := piicodec.New(keys)
	require.NoError(t, err)
	return c
}

func clearPayload(t *testing.T, v any) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	require.NoError(t, err)
	return p
}

func TestRoundTrip(t *testing.T) {
	c := newCodec(t, key(t, "k1"))
	in := []*commonpb.Payload{clearPayload(t, map[string]string{"Text": "ciao Mario Rossi"}), clearPayload(t, nil), clearPayload(t, []byte{0, 1, 2})}
	enc, err := c.Encode(in)
	require.NoError(t, err)
	require.Len(t, enc, len(in))
	for _, p := range enc {
		assert.Equal(t, "binary/encrypted", string(p.Metadata["encoding"]))
		assert.Equal(t, "k1", string(p.Metadata["encryption-key-id"]))
		assert.NotContains(t, string(p.Data), "Mario", "no clear text in the encoded payload")
		assert.Len(t, p.Metadata, 2, "the original metadata is inside the ciphertext")
	}
	again, err := c.Encode(in[:1])
	require.NoError(t, err)
	assert.NotEqual(t, enc[0].Data, again[0].Data, "a fresh nonce for every payload")

	dec, err := c.Decode(enc)
	require.NoError(t, err)
	require.Len(t, dec, len(in))
	for i := range in {
		assert.Equal(t, in[i].Metadata, dec[i].Metadata)
		assert.True(t, bytes.Equal(in[i].Data, dec[i].Data), "payload %d", i)
	}

	// Through the SDK's data converter, as the clients use it.
	dc := c.DataConverter()
	p, err := dc.ToPayload("https://media.example.com/cat.jpg")
	require.NoError(t, err)
	assert.Equal(t, "binary/encrypted", string(p.Metadata["encoding"]))
	var got string
	require.NoError(t, dc.FromPayload(p, &got))
	assert.Equal(t, "https://media.example.com/cat.jpg", got)
}

func TestClearPayloadsPassThrough(t *testing.T) {
	c := newCodec(t, key(t, "k1"))
	old := clearPayload(t, "recorded before the codec")
	dec, err := c.Decode([]*commonpb.Payload{old})
	require.NoError(t, err)
	assert.Same(t, old, dec[0], "a payload without binary/encrypted is returned as it is")
}

func TestKeyRotation(t *testing.T) {
	k1, k2 := key(t, "k1"), key(t, "k2")
	before := newCodec(t, k1)
	old, err := before.Encode([]*commonpb.Payload{clearPayload(t, "written under k1")})
	require.NoError(t, err)

	rotated := newCodec(t, k2, k1)
	assert.Equal(t, "k2", rotated.CurrentKeyID())
	dec, err := rotated.Decode(old)
	require.NoError(t, err, "old payloads still decode with k1 as an old key")
	var s string
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(dec[0], &s))
	assert.Equal(t, "written under k1", s)

	fresh, err := rotated.Encode([]*commonpb.Payload{clearPayload(t, "written under k2")})
	require.NoError(t, err)
	assert.Equal(t, "k2", string(fresh[0].Metadata["encryption-key-id"]), "new payloads carry the current key")

	// A process that lost k1 cannot read the old payloads and says why.
	onlyK2 := newCodec(t, k2)
	_, err = onlyK2.Decode(old)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"k1"`)
	assert.Contains(t, err.Error(), "PII_CODEC_KEYS")
	_, err = onlyK2.Decode(fresh)
	assert.NoError(t, err)
}

func TestTamperingAndWrongKeyFail(t *testing.T) {
	k1 := key(t, "k1")
	c := newCodec(t, k1)
	enc, err := c.Encode([]*commonpb.Payload{clearPayload(t, "secret")})
	require.NoError(t, err)

	flipped := &commonpb.Payload{Metadata: enc[0].Metadata, Data: bytes.Clone(enc[0].Data)}
	flipped.Data[len(flipped.Data)-1] ^= 1
	_, err = c.Decode([]*commonpb.Payload{flipped})
	assert.ErrorContains(t, err, "does not decrypt")

	impostor := newCodec(t, piicodec.Key{ID: "k1", Key: key(t, "x").Key})
	_, err = impostor.Decode(enc)
	assert.ErrorContains(t, err, "does not decrypt", "same id, other bytes")

	// The key id is authenticated: relabelling the payload fails.
	k2 := key(t, "k2")
	both := newCodec(t, k1, k2)
	relabelled := &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("binary/encrypted"), "encryption-key-id": []byte("k2")}, Data: enc[0].Data}
	_, err = both.Decode([]*commonpb.Payload{relabelled})
	assert.Error(t, err)

	_, err = c.Decode([]*commonpb.Payload{{Metadata: enc[0].Metadata, Data: []byte{1, 2}}})
	assert.ErrorContains(t, err, "truncated")
}

func TestNewRefusesBadKeys(t *testing.T) {
	_, err := piicodec.New(nil)
	assert.Error(t, err)
	_, err = piicodec.New([]piicodec.Key{{ID: "k1", Key: []byte("short")}})
	assert.ErrorContains(t, err, "32 bytes")
	k := key(t, "k1")
	_, err = piicodec.New([]piicodec.Key{k, k})
	assert.ErrorContains(t, err, "twice")
	_, err = piicodec.New([]piicodec.Key{{ID: "bad id", Key: k.Key}})
	assert.ErrorContains(t, err, "key id")
}

func TestFailureConverterEncryptsMessages(t *testing.T) {
	c := newCodec(t, key(t, "k1"))
	fc := piicodec.FailureConverter(c.DataConverter())
	f := fc.ErrorToFailure(assert.AnError)
	assert.NotContains(t, f.GetMessage(), assert.AnError.Error(), "the message is moved into the encoded attributes")
	require.NotNil(t, f.GetEncodedAttributes())
	assert.Equal(t, "binary/encrypted", string(f.GetEncodedAttributes().Metadata["encoding"]))
	back := fc.FailureToError(f)
	assert.Contains(t, back.Error(), assert.AnError.Error())
}

// BenchmarkEncodeDecode is the cost the codec adds to one payload of the
// size of an inbound message signal.
func BenchmarkEncodeDecode(b *testing.B) {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	c, err := piicodec.New([]piicodec.Key{{ID: "k1", Key: k}})
	if err != nil {
		b.Fatal(err)
	}
	p, err := converter.GetDefaultDataConverter().ToPayload(map[string]string{"Text": string(bytes.Repeat([]byte("a"), 1024))})
	if err != nil {
		b.Fatal(err)
	}
	in := []*commonpb.Payload{p}
	b.ReportAllocs()
	for b.Loop() {
		enc, err := c.Encode(in)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}
