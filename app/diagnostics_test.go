package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
)

// TestAccountDiagnosticsEndToEnd: on the dev stack (real engine, worker,
// HTTP server and emulator), a signed callback and a badly signed one show
// in the account diagnostics as the last callback and the last signature
// failure; the probes go through the public URL to the running server.
func TestAccountDiagnosticsEndToEnd(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) { testAccountDiagnosticsEndToEnd(t, engine) })
	}
}

func testAccountDiagnosticsEndToEnd(t *testing.T, engine models.Engine) {
	s := newReplyStack(t, engine, nil)
	s.admin(http.MethodPatch, fmt.Sprintf("/api/whatsapp/accounts/%d", s.account), map[string]any{"publicUrl": s.dev.APIURL()}, nil, http.StatusOK)
	diagnose := func() map[string]api.DiagnosticCheck {
		var res api.AccountDiagnosticsResponse
		s.admin(http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d/diagnostics", s.account), nil, &res, http.StatusOK)
		require.Equal(t, s.account, res.AccountID)
		out := map[string]api.DiagnosticCheck{}
		for _, c := range res.Checks {
			out[c.Name] = c
		}
		return out
	}

	before := time.Now().UTC().Truncate(time.Second)
	code, body := s.postSigned(inboundBody("01HDIAGMSG1", "393331112222", "hello", time.Now()), webhookSecret)
	require.Equal(t, http.StatusOK, code, body)
	code, body = s.postSigned(inboundBody("01HDIAGMSG2", "393331112222", "forged", time.Now()), "not-the-secret")
	require.Equal(t, http.StatusUnauthorized, code, body)
	after := time.Now().UTC()

	c := diagnose()
	last := c[api.CheckLastCallback]
	assert.Equal(t, api.CheckPass, last.Status, last.Message)
	stamp, _, _ := strings.Cut(strings.TrimPrefix(last.Message, "the last verified callback was received at "), " ")
	at, err := time.Parse(time.RFC3339, stamp)
	require.NoError(t, err, last.Message)
	assert.False(t, at.Before(before) || at.After(after), "last callback %s within [%s, %s]", at, before, after)

	sig := c[api.CheckSignatureFailure]
	assert.Equal(t, api.CheckFail, sig.Status, sig.Message)
	assert.Contains(t, sig.Message, "signature_invalid")
	assert.Contains(t, sig.Message, "(1 refused in all)")
	assert.Contains(t, sig.Fix, "webhook secret differs")

	assert.Equal(t, api.CheckSkip, c[api.CheckPublicURLTLS].Status, "http on loopback in dev")
	for _, name := range []string{api.CheckReceiveURL, api.CheckMediaProxy, api.CheckCredentials, api.CheckWebhookSecret,
		api.CheckBaseURLRegion, api.CheckProcessingMode, api.CheckDiskSpace} {
		assert.Equal(t, api.CheckPass, c[name].Status, "%s: %s (fix: %s)", name, c[name].Message, c[name].Fix)
	}

	// Callbacks pass again: the failure is now history (a warning).
	code, body = s.postSigned(inboundBody("01HDIAGMSG3", "393331112222", "again", time.Now()), webhookSecret)
	require.Equal(t, http.StatusOK, code, body)
	sig = diagnose()[api.CheckSignatureFailure]
	assert.Equal(t, api.CheckWarn, sig.Status, sig.Message)
	assert.Contains(t, sig.Message, "callbacks were verified since")
}
