package sinch_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/sinch"
)

// TestAPIErrorString pins the operator-facing format of Error().
func TestAPIErrorString(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  *sinch.APIError
		want string
	}{
		{"sinch error", &sinch.APIError{Op: sinch.OpSend, HTTPStatus: 404, Status: "NOT_FOUND", Message: "app not found in region"},
			"sinch send: 404 NOT_FOUND: app not found in region"},
		{"no grpc status", &sinch.APIError{Op: sinch.OpSend, HTTPStatus: 413, Message: "Request Entity Too Large"},
			"sinch send: 413: Request Entity Too Large"},
		{"validation", &sinch.APIError{Op: sinch.OpSend, Status: "INVALID_ARGUMENT", Message: "text_message.text is empty"},
			"sinch send: INVALID_ARGUMENT: text_message.text is empty"},
		{"network", &sinch.APIError{Op: sinch.OpToken, Message: "request failed", Err: io.ErrUnexpectedEOF},
			"sinch token: request failed: unexpected EOF"},
		{"bare", &sinch.APIError{Err: io.EOF}, "sinch: EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.err.Error())
		})
	}
}

func TestAPIErrorUnwrapAndAs(t *testing.T) {
	cause := io.ErrUnexpectedEOF
	apiErr := &sinch.APIError{Op: sinch.OpSend, Class: sinch.ErrorClassRetryable, Err: cause}
	wrapped := fmt.Errorf("send reply: %w", apiErr)

	assert.ErrorIs(t, wrapped, cause)
	got, ok := sinch.AsAPIError(wrapped)
	require.True(t, ok)
	assert.Same(t, apiErr, got)

	_, ok = sinch.AsAPIError(errors.New("plain"))
	assert.False(t, ok)
	_, ok = sinch.AsAPIError(nil)
	assert.False(t, ok)
}

func TestAPIErrorRetryable(t *testing.T) {
	assert.True(t, (&sinch.APIError{Class: sinch.ErrorClassRetryable}).Retryable())
	assert.True(t, (&sinch.APIError{Class: sinch.ErrorClassRateLimited}).Retryable())
	assert.False(t, (&sinch.APIError{Class: sinch.ErrorClassPermanent}).Retryable())
}

// TestAPIErrorBodyShapes feeds every error body Sinch is known to send (and
// some it might) through the client and checks what an operator would read.
func TestAPIErrorBodyShapes(t *testing.T) {
	longText := strings.Repeat("x", 511) + "ééé" // crosses 512 bytes inside a rune
	for _, tc := range []struct {
		name    string
		status  int
		body    string
		grpc    string
		message string
		details string // JSON, "" for none
	}{
		{"conversation api shape", 400,
			`{"error":{"code":400,"message":"Invalid argument: recipient","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.BadRequest","field_violations":[{"field":"recipient"}]}]}}`,
			"INVALID_ARGUMENT", "Invalid argument: recipient",
			`[{"@type":"type.googleapis.com/google.rpc.BadRequest","field_violations":[{"field":"recipient"}]}]`},
		{"conversation api shape, null details", 404,
			`{"error":{"code":404,"message":"app not found in region","status":"NOT_FOUND","details":null}}`,
			"NOT_FOUND", "app not found in region", ""},
		{"problem shape with extra fields", 401,
			`{"type":"https://developers.sinch.com/docs/errors/invalid-credentials","title":"Invalid credentials","detail":"The token is not valid","status":401,"instance":"/v1/projects/p/messages:send","trace_id":"abc"}`,
			"UNAUTHENTICATED", "Invalid credentials: The token is not valid",
			`{"type":"https://developers.sinch.com/docs/errors/invalid-credentials","title":"Invalid credentials","detail":"The token is not valid","status":401,"instance":"/v1/projects/p/messages:send","trace_id":"abc"}`},
		{"problem shape, title only", 429,
			`{"type":"about:blank","title":"Too many requests","status":"429"}`,
			"RESOURCE_EXHAUSTED", "Too many requests", `{"type":"about:blank","title":"Too many requests","status":"429"}`},
		{"plain text", 502, "  upstream connect error  \n", "UNAVAILABLE", "upstream connect error", ""},
		{"long plain text", 500, longText, "INTERNAL", longText[:511], ""},
		{"unknown json", 500, `{"message":"odd"}`, "INTERNAL", `{"message":"odd"}`, ""},
		{"empty", 503, ``, "UNAVAILABLE", "Service Unavailable", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth := newAuthServer(t)
			srv := newSendServer(t, reply(tc.status, tc.body))
			c, _ := newTestClient(t, auth, srv.URL)

			_, err := c.SendMessage(context.Background(), sinch.TextRequest(whatsApp(), "hi"))
			apiErr, ok := sinch.AsAPIError(err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, tc.status, apiErr.HTTPStatus)
			assert.Equal(t, tc.grpc, apiErr.Status)
			assert.Equal(t, tc.message, apiErr.Message)
			assert.LessOrEqual(t, len(apiErr.Message), 512)
			assert.True(t, utf8.ValidString(apiErr.Message))
			if tc.details == "" {
				assert.Empty(t, apiErr.Details)
			} else {
				assert.JSONEq(t, tc.details, string(apiErr.Details))
				assert.True(t, json.Valid(apiErr.Details))
			}
			assert.Equal(t, fmt.Sprintf("sinch send: %d %s: %s", tc.status, tc.grpc, tc.message), err.Error())
		})
	}
}

// A Retry-After date already past must not become a negative delay.
func TestAPIErrorRetryAfterPast(t *testing.T) {
	auth := newAuthServer(t)
	past := newTestClock().Now().Add(-time.Minute).Format(http.TimeFormat)
	srv := newSendServer(t, reply(http.StatusTooManyRequests, "", "Retry-After", past))
	c, _ := newTestClient(t, auth, srv.URL)
	_, err := c.SendMessage(context.Background(), sinch.TextRequest(whatsApp(), "hi"))
	apiErr, ok := sinch.AsAPIError(err)
	require.True(t, ok, "%v", err)
	assert.Zero(t, apiErr.RetryAfter, "a date in the past means now")
	assert.Equal(t, sinch.ErrorClassRateLimited, apiErr.Class)
}
