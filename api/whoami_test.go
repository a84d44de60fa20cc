package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/internal/principal"
)

// TestWhoami names the bearer of a token, and refuses what is no token.
func TestWhoami(t *testing.T) {
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		assert.Equal(t, api.Whoami{Admin: true}, cfgDecode[api.Whoami](t, env.admin(http.MethodGet, "/api/whoami", nil), http.StatusOK))
		ann := env.createAgent("Ann")
		got := cfgDecode[api.Whoami](t, env.call(http.MethodGet, "/api/whoami", ann.Token, nil), http.StatusOK)
		assert.Equal(t, api.Whoami{AgentID: ann.ID, Name: "Ann"}, got)
		assert.Equal(t, http.StatusUnauthorized, env.call(http.MethodGet, "/api/whoami", "no-such-token-0123456789", nil).Code)
		assert.Equal(t, http.StatusUnauthorized, env.call(http.MethodGet, "/api/whoami", "", nil).Code)
	})
}

// TestPrincipalInContext: an in-process caller (the console) hands the
// API its principal in the request's context; the admin routes refuse an
// agent's, and a header on the wire cannot stand for it.
func TestPrincipalInContext(t *testing.T) {
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		ann := env.createAgent("Ann")
		serve := func(p *principal.Principal, path string) *httptest.ResponseRecorder {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			if p != nil {
				req = req.WithContext(principal.With(context.Background(), *p))
			}
			rec := httptest.NewRecorder()
			env.e.ServeHTTP(rec, req)
			return rec
		}
		agent := principal.Principal{AgentID: ann.ID}
		rec := serve(&agent, "/api/whoami")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		assert.Contains(t, rec.Body.String(), `"name":"Ann"`)
		assert.Equal(t, http.StatusForbidden, serve(&agent, "/api/whatsapp/accounts").Code, "an agent's principal on an admin route")
		assert.Equal(t, http.StatusOK, serve(&principal.Principal{Admin: true}, "/api/whatsapp/accounts").Code)
		assert.Equal(t, http.StatusUnauthorized, serve(nil, "/api/whatsapp/accounts").Code, "no principal, no token")
	})
}
