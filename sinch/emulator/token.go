package emulator

import (
	"math"
	"net/http"
	"strings"

	"github.com/xcally-connector/connector/sinch"
)

// handleToken is Sinch's OAuth2 client-credentials endpoint.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	keyID, secret, ok := r.BasicAuth()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="sinch"`)
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "client authentication with HTTP Basic (key id and key secret) is required")
		return
	}
	s.mu.Lock()
	key, known := s.keys[keyID]
	s.mu.Unlock()
	if !known || key.secret != secret {
		w.Header().Set("WWW-Authenticate", `Basic realm="sinch"`)
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "bad key id or key secret")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "malformed form body")
		return
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "client_credentials":
	case "":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "grant_type is required")
		return
	default:
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "only client_credentials is supported")
		return
	}

	token, now := newToken(), s.now()
	s.mu.Lock()
	// Prune tokens that expired long ago so long benches do not grow the map.
	for t, info := range s.tokens {
		if now.Sub(info.expires) > s.opts.TokenTTL+DefaultTokenTTL {
			delete(s.tokens, t)
		}
	}
	s.tokens[token] = tokenInfo{keyID: keyID, projectID: key.projectID, expires: now.Add(s.opts.TokenTTL)}
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, sinch.TokenResponse{
		AccessToken: token, TokenType: "Bearer", Scope: "",
		ExpiresIn: int(math.Ceil(s.opts.TokenTTL.Seconds())),
	})
}

// writeOAuthError writes an RFC 6749 error body.
func writeOAuthError(w http.ResponseWriter, code int, errCode, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, code, map[string]string{"error": errCode, "error_description": desc})
}

// authorize checks the bearer token of a send to projectID and writes the
// Sinch error itself when it fails.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, projectID string) bool {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sinch"`)
		writeSinchError(w, http.StatusUnauthorized, "Request is missing a valid bearer access token.")
		return false
	}
	s.mu.Lock()
	info, ok := s.tokens[token]
	s.mu.Unlock()
	switch {
	case !ok:
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="token not recognised"`)
		writeSinchError(w, http.StatusUnauthorized, "Request had invalid authentication credentials.")
		return false
	case !s.now().Before(info.expires):
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="token expired"`)
		writeSinchError(w, http.StatusUnauthorized, "Request had invalid authentication credentials: access token expired.")
		return false
	case info.projectID != projectID:
		writeSinchError(w, http.StatusForbidden, "The access key "+info.keyID+" has no access to project "+projectID+".")
		return false
	}
	return true
}
