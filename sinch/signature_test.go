package sinch_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/sinch"
)

// The test vector of the fixtures README (from the Sinch Python SDK).
const (
	vectorSecret    = "foo_secret1234"
	vectorNonce     = "01FJA8B4A7BM43YGWSG9GBV067"
	vectorTimestamp = "1634579353"
	vectorSignature = "Yc+3R1pIS78xLASybulhs8BsSo9BPB3Pr92QCUoczfk="
)

// vectorBody returns signature-vector-body.json exactly as stored.
func vectorBody(t *testing.T) []byte {
	t.Helper()
	body := readFixture(t, "signature-vector-body.json")
	// The README says the file has no trailing newline; a re-saved file
	// with one would make the vector fail for the wrong reason.
	require.Equal(t, byte('}'), body[len(body)-1], "signature-vector-body.json must end without a newline")
	require.Len(t, body, 322)
	return body
}

func vectorHeaders() sinch.SignatureHeaders {
	return sinch.SignatureHeaders{Signature: vectorSignature, Nonce: vectorNonce, Timestamp: vectorTimestamp, Algorithm: "HmacSHA256"}
}

func TestSignatureTestVector(t *testing.T) {
	body := vectorBody(t)
	assert.Equal(t, vectorSignature, sinch.Sign(vectorSecret, body, vectorNonce, vectorTimestamp))
	assert.NoError(t, sinch.VerifySignature(vectorSecret, vectorHeaders(), body))

	// The body also decodes: a delivery report without channel_identity.
	cb := mustDecode(t, body)
	assert.Equal(t, sinch.TriggerMessageDelivery, cb.Trigger)
	assert.Equal(t, "QUEUED_ON_CHANNEL", cb.MessageDeliveryReport.Status)
}

func TestVerifySignatureTampered(t *testing.T) {
	body := vectorBody(t)

	t.Run("every body byte", func(t *testing.T) {
		for i := range body {
			tampered := bytes.Clone(body)
			tampered[i] ^= 0x01
			assert.ErrorIs(t, sinch.VerifySignature(vectorSecret, vectorHeaders(), tampered), sinch.ErrSignatureMismatch, "byte %d", i)
		}
	})
	t.Run("trailing newline", func(t *testing.T) {
		assert.ErrorIs(t, sinch.VerifySignature(vectorSecret, vectorHeaders(), append(bytes.Clone(body), '\n')), sinch.ErrSignatureMismatch)
	})
	t.Run("re-encoded JSON", func(t *testing.T) {
		var buf bytes.Buffer
		require.NoError(t, json.Indent(&buf, body, "", " "))
		assert.ErrorIs(t, sinch.VerifySignature(vectorSecret, vectorHeaders(), buf.Bytes()), sinch.ErrSignatureMismatch)
	})
	t.Run("nonce", func(t *testing.T) {
		sh := vectorHeaders()
		sh.Nonce = "01FJA8B4A7BM43YGWSG9GBV068"
		assert.ErrorIs(t, sinch.VerifySignature(vectorSecret, sh, body), sinch.ErrSignatureMismatch)
	})
	t.Run("timestamp", func(t *testing.T) {
		sh := vectorHeaders()
		sh.Timestamp = "1634579354"
		assert.ErrorIs(t, sinch.VerifySignature(vectorSecret, sh, body), sinch.ErrSignatureMismatch)
	})
	t.Run("secret", func(t *testing.T) {
		assert.ErrorIs(t, sinch.VerifySignature("foo_secret1235", vectorHeaders(), body), sinch.ErrSignatureMismatch)
	})
	t.Run("signature", func(t *testing.T) {
		sh := vectorHeaders()
		sh.Signature = "Zc+3R1pIS78xLASybulhs8BsSo9BPB3Pr92QCUoczfk="
		assert.ErrorIs(t, sinch.VerifySignature(vectorSecret, sh, body), sinch.ErrSignatureMismatch)
	})
	t.Run("truncated signature", func(t *testing.T) {
		sh := vectorHeaders()
		sh.Signature = vectorSignature[:20]
		assert.ErrorIs(t, sinch.VerifySignature(vectorSecret, sh, body), sinch.ErrSignatureMismatch)
	})
	t.Run("not base64", func(t *testing.T) {
		sh := vectorHeaders()
		sh.Signature = "not base64!"
		assert.ErrorIs(t, sinch.VerifySignature(vectorSecret, sh, body), sinch.ErrSignatureMismatch)
	})
	t.Run("hex instead of base64", func(t *testing.T) {
		sh := vectorHeaders()
		sh.Signature = "61cfb747"
		assert.ErrorIs(t, sinch.VerifySignature(vectorSecret, sh, body), sinch.ErrSignatureMismatch)
	})
}

func TestVerifySignatureMissing(t *testing.T) {
	body := vectorBody(t)
	for name, clear := range map[string]func(*sinch.SignatureHeaders){
		"signature": func(sh *sinch.SignatureHeaders) { sh.Signature = "" },
		"nonce":     func(sh *sinch.SignatureHeaders) { sh.Nonce = "" },
		"timestamp": func(sh *sinch.SignatureHeaders) { sh.Timestamp = "" },
		"all":       func(sh *sinch.SignatureHeaders) { *sh = sinch.SignatureHeaders{} },
	} {
		sh := vectorHeaders()
		clear(&sh)
		assert.ErrorIs(t, sinch.VerifySignature(vectorSecret, sh, body), sinch.ErrSignatureMissing, name)
	}
	assert.ErrorIs(t, sinch.VerifySignature(vectorSecret, sinch.SignatureHeadersFrom(http.Header{}), body), sinch.ErrSignatureMissing)
}

func TestVerifySignatureEmptySecret(t *testing.T) {
	body := []byte(`{"app_id":"a"}`)
	sh := sinch.SignatureHeaders{Signature: sinch.Sign("", body, "n", "1"), Nonce: "n", Timestamp: "1"}
	assert.ErrorIs(t, sinch.VerifySignature("", sh, body), sinch.ErrSignatureNoSecret,
		"an HMAC under an empty key is forgeable and must not verify")
}

func TestVerifySignatureAlgorithm(t *testing.T) {
	body := vectorBody(t)
	for _, alg := range []string{"", "HmacSHA256", "hmacsha256", "HMACSHA256"} {
		sh := vectorHeaders()
		sh.Algorithm = alg
		assert.NoError(t, sinch.VerifySignature(vectorSecret, sh, body), "algorithm %q", alg)
	}
	for _, alg := range []string{"HmacSHA1", "HmacSHA512", "sha256", "none"} {
		sh := vectorHeaders()
		sh.Algorithm = alg
		assert.ErrorIs(t, sinch.VerifySignature(vectorSecret, sh, body), sinch.ErrSignatureAlgorithm, "algorithm %q", alg)
	}
}

func TestVerifySignatureUnpadded(t *testing.T) {
	body := vectorBody(t)
	sh := vectorHeaders()
	sh.Signature = strings.TrimRight(vectorSignature, "=")
	require.NotEqual(t, vectorSignature, sh.Signature)
	assert.NoError(t, sinch.VerifySignature(vectorSecret, sh, body))
}

func TestSignatureHeadersFromIgnoresCase(t *testing.T) {
	want := vectorHeaders()

	h := http.Header{}
	h.Set("X-SINCH-WEBHOOK-SIGNATURE", vectorSignature)
	h.Set("x-sinch-webhook-signature-nonce", vectorNonce)
	h.Set("X-Sinch-Webhook-Signature-Timestamp", vectorTimestamp)
	h.Set("x-sinch-WEBHOOK-signature-algorithm", "HmacSHA256")
	assert.Equal(t, want, sinch.SignatureHeadersFrom(h))

	// A map built by hand keeps non-canonical keys; they are still found.
	raw := http.Header{
		"x-sinch-webhook-signature":           {vectorSignature},
		"X-SINCH-WEBHOOK-SIGNATURE-NONCE":     {vectorNonce},
		"x-sinch-webhook-signature-timestamp": {vectorTimestamp},
		"x-sinch-webhook-signature-algorithm": {"HmacSHA256"},
	}
	assert.Equal(t, want, sinch.SignatureHeadersFrom(raw))

	// And through a real request, as a handler sees it.
	req := httptest.NewRequest(http.MethodPost, "/webhooks/sinch", bytes.NewReader(vectorBody(t)))
	for k, v := range raw {
		req.Header[k] = v
	}
	assert.NoError(t, sinch.VerifySignature(vectorSecret, sinch.SignatureHeadersFrom(req.Header), vectorBody(t)))
}

func TestSetSignatureHeadersRoundTrip(t *testing.T) {
	body := []byte(waInboundText)
	ts := time.Date(2024, 6, 15, 14, 23, 46, 900e6, time.UTC)
	h := http.Header{}
	sinch.SetSignatureHeaders(h, "s3cret", body, "01HNONCE", ts)

	assert.Equal(t, "1718461426", h.Get(sinch.HeaderTimestamp), "Unix seconds, sub-second part dropped")
	assert.Equal(t, "01HNONCE", h.Get(sinch.HeaderNonce))
	assert.Equal(t, sinch.SignatureAlgorithm, h.Get(sinch.HeaderAlgorithm))
	assert.Equal(t, sinch.Sign("s3cret", body, "01HNONCE", "1718461426"), h.Get(sinch.HeaderSignature))

	sh := sinch.SignatureHeadersFrom(h)
	require.NoError(t, sinch.VerifySignature("s3cret", sh, body))
	assert.ErrorIs(t, sinch.VerifySignature("other", sh, body), sinch.ErrSignatureMismatch)

	got, err := sh.Time()
	require.NoError(t, err)
	assert.True(t, got.Equal(ts.Truncate(time.Second)), "Time() = %v", got)

	// Signing the vector through SetSignatureHeaders gives the vector.
	h = http.Header{}
	sinch.SetSignatureHeaders(h, vectorSecret, vectorBody(t), vectorNonce, time.Unix(1634579353, 0))
	assert.Equal(t, vectorSignature, h.Get(sinch.HeaderSignature))
}

func TestSignatureHeadersTime(t *testing.T) {
	got, err := sinch.SignatureHeaders{Timestamp: vectorTimestamp}.Time()
	require.NoError(t, err)
	assert.Equal(t, time.Date(2021, 10, 18, 17, 49, 13, 0, time.UTC), got.UTC())

	_, err = sinch.SignatureHeaders{}.Time()
	assert.ErrorIs(t, err, sinch.ErrSignatureMissing)

	for _, bad := range []string{"abc", "1634579353.5", "2021-10-18T17:49:13Z"} {
		_, err = sinch.SignatureHeaders{Timestamp: bad}.Time()
		assert.Error(t, err, bad)
	}
}
