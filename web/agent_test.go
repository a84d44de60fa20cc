package web_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/models"
)

func TestAgentPagesAreAgentsOnly(t *testing.T) {
	v := newEnv(t, models.SQLite)
	admin, _ := v.signin(adminToken)
	require.NotNil(t, admin)
	for _, p := range []string{"/console/agent/inbox", "/console/agent/settings", "/console/agent/conversations/1"} {
		rec := v.do(http.MethodGet, p, nil, []*http.Cookie{admin}, nil)
		assert.Equal(t, http.StatusForbidden, rec.Code, p)
		assert.Contains(t, rec.Body.String(), "This page is an agent&#39;s", p)
	}
}

func TestAgentSettingsAndInbox(t *testing.T) {
	v := newEnv(t, models.SQLite)
	ck, _ := v.signin(v.token)
	require.NotNil(t, ck)

	rec := v.do(http.MethodGet, "/console/agent/settings", nil, []*http.Cookie{ck}, nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	body := rec.Body.String()
	assert.Contains(t, body, `role="switch"`)
	assert.Contains(t, body, `id="presence-label"`)
	assert.Contains(t, body, "Your admin has not permitted you on any account yet.")
	assert.NotContains(t, body, " style=")

	// The presence switch goes through the API.
	var sess models.ConsoleSession
	require.NoError(t, v.db.Take(&sess).Error)
	rec = v.do(http.MethodPost, "/console/agent/settings/presence", url.Values{"csrf": {sess.CSRF}, "presence": {"available"}}, []*http.Cookie{ck}, nil)
	assert.Equal(t, http.StatusSeeOther, rec.Code, rec.Body.String())
	var a models.Agent
	require.NoError(t, v.db.Take(&a, v.agent).Error)
	assert.Equal(t, models.PresenceAvailable, a.Presence)
	rec = v.do(http.MethodPost, "/console/agent/settings/presence", url.Values{"presence": {"away"}}, []*http.Cookie{ck},
		map[string]string{"HX-Request": "true", "X-CSRF-Token": sess.CSRF})
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Body.String(), "You are away.")
	assert.Contains(t, rec.Body.String(), `aria-checked="false"`)

	// Enabling an account the admin did not permit: the API's refusal.
	rec = v.do(http.MethodPost, "/console/agent/settings/accounts/99", url.Values{"enabled": {"true"}}, []*http.Cookie{ck},
		map[string]string{"HX-Request": "true", "X-CSRF-Token": sess.CSRF})
	assert.Equal(t, http.StatusNotFound, rec.Code, rec.Body.String())
	assert.Contains(t, rec.Body.String(), `class="error"`)

	// The inbox, empty, and its live list.
	rec = v.do(http.MethodGet, "/console/agent/inbox", nil, []*http.Cookie{ck}, nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	body = rec.Body.String()
	assert.Contains(t, body, `sse-connect="/console/events"`)
	assert.Contains(t, body, "No conversations yet")
	assert.Contains(t, body, `/console/static/agent.js`)
	assert.NotContains(t, body, " style=")
	rec = v.do(http.MethodGet, "/console/agent/inbox/list?unread=1&channel=INSTAGRAM", nil, []*http.Cookie{ck}, map[string]string{"HX-Request": "true"})
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Contains(t, rec.Body.String(), `id="inbox"`)
	assert.Contains(t, rec.Body.String(), "No conversation matches these filters.")

	// Another account's conversation and file are the API's 404.
	rec = v.do(http.MethodGet, "/console/agent/conversations/4242", nil, []*http.Cookie{ck}, nil)
	assert.Equal(t, http.StatusNotFound, rec.Code)
	rec = v.do(http.MethodGet, "/console/agent/attachments/4242", nil, []*http.Cookie{ck}, nil)
	assert.Equal(t, http.StatusNotFound, rec.Code)
}
