package sinch

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Webhook signature headers and the one algorithm Sinch uses. Sinch signs
// callbacks only when the webhook has a secret.
const (
	HeaderSignature    = "x-sinch-webhook-signature"
	HeaderNonce        = "x-sinch-webhook-signature-nonce"
	HeaderTimestamp    = "x-sinch-webhook-signature-timestamp"
	HeaderAlgorithm    = "x-sinch-webhook-signature-algorithm"
	SignatureAlgorithm = "HmacSHA256"
)

// Errors returned by VerifySignature and SignatureHeaders.Time.
var (
	// ErrSignatureMissing: the signature, nonce or timestamp header is empty.
	ErrSignatureMissing = errors.New("sinch: webhook signature headers missing")
	// ErrSignatureMismatch: the signature is not base64 or does not match.
	ErrSignatureMismatch = errors.New("sinch: webhook signature mismatch")
	// ErrSignatureAlgorithm: the algorithm header names something other
	// than HmacSHA256.
	ErrSignatureAlgorithm = errors.New("sinch: unsupported webhook signature algorithm")
	// ErrSignatureNoSecret: the caller passed an empty secret. Anyone can
	// compute an HMAC with an empty key, so it never verifies.
	ErrSignatureNoSecret = errors.New("sinch: webhook secret is empty")
)

// SignatureHeaders are the signature headers of one callback request.
type SignatureHeaders struct {
	Signature string
	Nonce     string
	Timestamp string
	Algorithm string
}

// SignatureHeadersFrom reads the signature headers, ignoring the case of
// their names.
func SignatureHeadersFrom(h http.Header) SignatureHeaders {
	return SignatureHeaders{
		Signature: headerValue(h, HeaderSignature),
		Nonce:     headerValue(h, HeaderNonce),
		Timestamp: headerValue(h, HeaderTimestamp),
		Algorithm: headerValue(h, HeaderAlgorithm),
	}
}

// headerValue is h.Get, falling back to a case-insensitive scan for maps
// built by hand with non-canonical keys (net/http canonicalizes its own).
func headerValue(h http.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	for k, vs := range h {
		if len(vs) > 0 && strings.EqualFold(k, name) {
			return vs[0]
		}
	}
	return ""
}

// Time parses the timestamp header (Unix seconds), for the caller's
// freshness check.
func (sh SignatureHeaders) Time() (time.Time, error) {
	ts := strings.TrimSpace(sh.Timestamp)
	if ts == "" {
		return time.Time{}, fmt.Errorf("%w: no timestamp", ErrSignatureMissing)
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("sinch: webhook signature timestamp %q is not Unix seconds", sh.Timestamp)
	}
	return time.Unix(secs, 0), nil
}

// Sign returns the signature of a callback: base64 (standard, padded) of
// HMAC-SHA256 keyed with secret over body + "." + nonce + "." + timestamp.
func Sign(secret string, body []byte, nonce, timestamp string) string {
	return base64.StdEncoding.EncodeToString(mac(secret, body, nonce, timestamp))
}

// SetSignatureHeaders signs body and sets the four signature headers, with
// ts as Unix seconds, the way Sinch does. The emulator and tests use it.
func SetSignatureHeaders(h http.Header, secret string, body []byte, nonce string, ts time.Time) {
	timestamp := strconv.FormatInt(ts.Unix(), 10)
	h.Set(HeaderSignature, Sign(secret, body, nonce, timestamp))
	h.Set(HeaderNonce, nonce)
	h.Set(HeaderTimestamp, timestamp)
	h.Set(HeaderAlgorithm, SignatureAlgorithm)
}

// VerifySignature checks the signature of the raw request body. It returns
// ErrSignatureNoSecret, ErrSignatureMissing, ErrSignatureAlgorithm (only
// when the algorithm header is present; Sinch may omit it) or
// ErrSignatureMismatch. The signature is accepted with or without base64
// padding and compared in constant time. Freshness of the timestamp and
// replay of the nonce are the caller's checks.
func VerifySignature(secret string, sh SignatureHeaders, body []byte) error {
	if secret == "" {
		return ErrSignatureNoSecret
	}
	if sh.Signature == "" || sh.Nonce == "" || sh.Timestamp == "" {
		return ErrSignatureMissing
	}
	if sh.Algorithm != "" && !strings.EqualFold(strings.TrimSpace(sh.Algorithm), SignatureAlgorithm) {
		return fmt.Errorf("%w: %q", ErrSignatureAlgorithm, sh.Algorithm)
	}
	sig := strings.TrimSpace(sh.Signature)
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		got, err = base64.RawStdEncoding.DecodeString(sig)
	}
	if err != nil {
		return fmt.Errorf("%w: signature is not base64", ErrSignatureMismatch)
	}
	if !hmac.Equal(got, mac(secret, body, sh.Nonce, sh.Timestamp)) {
		return ErrSignatureMismatch
	}
	return nil
}

// mac is the raw HMAC-SHA256 Sinch signs with.
func mac(secret string, body []byte, nonce, timestamp string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	m.Write([]byte("." + nonce + "." + timestamp))
	return m.Sum(nil)
}
