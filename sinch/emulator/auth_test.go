package emulator_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/sinch/emulator"
)

func TestTokenEndpoint(t *testing.T) {
	e := newEnv(t, fastOptions(), emulator.ModeConversation)

	res, body := e.tokenRequest(e.app.KeyID, e.app.KeySecret, "client_credentials")
	require.Equal(t, http.StatusOK, res.StatusCode)
	var tr sinch.TokenResponse
	require.NoError(t, json.Unmarshal(body, &tr))
	assert.NotEmpty(t, tr.AccessToken)
	assert.NotEqual(t, e.token, tr.AccessToken, "tokens are random")
	assert.Equal(t, "Bearer", tr.TokenType)
	assert.Equal(t, 3600, tr.ExpiresIn)
	assert.Contains(t, string(body), `"scope":""`)

	for name, tc := range map[string]struct {
		key, secret, grant string
		code               int
		oauthErr           string
	}{
		"bad secret":    {e.app.KeyID, "wrong", "client_credentials", http.StatusUnauthorized, "invalid_client"},
		"unknown key":   {"nope", "x", "client_credentials", http.StatusUnauthorized, "invalid_client"},
		"no basic auth": {"", "", "client_credentials", http.StatusUnauthorized, "invalid_client"},
		"bad grant":     {e.app.KeyID, e.app.KeySecret, "password", http.StatusBadRequest, "unsupported_grant_type"},
		"no grant":      {e.app.KeyID, e.app.KeySecret, "", http.StatusBadRequest, "invalid_request"},
	} {
		t.Run(name, func(t *testing.T) {
			res, body := e.tokenRequest(tc.key, tc.secret, tc.grant)
			assert.Equal(t, tc.code, res.StatusCode)
			var oe struct {
				Error string `json:"error"`
			}
			require.NoError(t, json.Unmarshal(body, &oe), string(body))
			assert.Equal(t, tc.oauthErr, oe.Error)
		})
	}
}

func TestSendAuthorization(t *testing.T) {
	opts := fastOptions()
	opts.TokenTTL = 50 * time.Millisecond
	e := newEnv(t, opts, emulator.ModeConversation)
	req := textTo(e.app.AppID, "393331234567", "hi")

	res, body := e.sendAt("", req, http.Header{"Authorization": {"Bearer not-a-token"}})
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
	requireSinchError(t, body, 401, "UNAUTHENTICATED")
	assert.NotContains(t, res.Header.Get("WWW-Authenticate"), "expired")

	res, body = e.sendAt("", req, http.Header{"Authorization": {"Basic eDp5"}})
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
	requireSinchError(t, body, 401, "UNAUTHENTICATED")

	// A token of another project's key is forbidden.
	require.NoError(t, e.emu.CreateApp(emulator.App{AppID: "other", ProjectID: "proj-2", Region: "eu",
		WebhookURL: e.rcv.srv.URL, KeyID: "key-2", KeySecret: "s2"}))
	res, body = e.sendAt("", req, http.Header{"Authorization": {"Bearer " + e.fetchToken("key-2", "s2")}})
	assert.Equal(t, http.StatusForbidden, res.StatusCode)
	requireSinchError(t, body, 403, "PERMISSION_DENIED")

	// The token works, then expires.
	res, body = e.sendAt("", req, nil)
	require.Equal(t, http.StatusOK, res.StatusCode, string(body))
	require.Eventually(t, func() bool {
		res, body = e.sendAt("", req, nil)
		return res.StatusCode == http.StatusUnauthorized
	}, waitFor, 10*time.Millisecond)
	requireSinchError(t, body, 401, "UNAUTHENTICATED")
	assert.Equal(t, `Bearer error="invalid_token", error_description="token expired"`, res.Header.Get("WWW-Authenticate"))
}
