package api_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/models"
)

func TestAgentCreateShowsTokenOnce(t *testing.T) {
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		rec := env.admin(http.MethodPost, "/api/agents", map[string]any{"name": " Ann ", "capacity": 3})
		ann := cfgDecode[api.AgentCreatedResponse](t, rec, http.StatusCreated)
		assert.Equal(t, "Ann", ann.Name)
		assert.Equal(t, 3, ann.Capacity)
		assert.Equal(t, "away", ann.Presence)
		assert.Nil(t, ann.PresenceAt)
		assert.Contains(t, rec.Body.String(), `"permittedAccountIds":[]`)
		assert.Contains(t, rec.Body.String(), `"enabledAccountIds":[]`)
		assert.Contains(t, rec.Body.String(), `"queueIds":[]`)
		require.True(t, strings.HasPrefix(ann.Token, "agt_"), ann.Token)
		assert.GreaterOrEqual(t, len(ann.Token), 40, "32 random bytes")

		var row models.Agent
		require.NoError(t, env.db.Take(&row, ann.ID).Error)
		sum := sha256.Sum256([]byte(ann.Token))
		assert.Equal(t, hex.EncodeToString(sum[:]), row.TokenHash, "only the hash is stored")
		assert.NotContains(t, row.TokenHash, ann.Token)

		bob := env.createAgent("Bob")
		assert.Equal(t, 1, bob.Capacity, "default capacity")
		assert.NotEqual(t, ann.Token, bob.Token)

		for _, r := range []struct{ path, token string }{
			{fmt.Sprintf("/api/agents/%d", ann.ID), adminToken},
			{fmt.Sprintf("/api/agents/%d", ann.ID), ann.Token},
			{"/api/agents", adminToken},
		} {
			rec := env.call(http.MethodGet, r.path, r.token, nil)
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			assert.NotContains(t, rec.Body.String(), ann.Token, "the token is shown once")
			assert.NotContains(t, rec.Body.String(), `"token"`)
			assert.NotContains(t, rec.Body.String(), row.TokenHash)
		}
		self := cfgDecode[api.AgentResponse](t, env.call(http.MethodGet, fmt.Sprintf("/api/agents/%d", ann.ID), ann.Token, nil), http.StatusOK)
		assert.Equal(t, ann.AgentResponse, self)

		list := cfgDecode[[]api.AgentResponse](t, env.admin(http.MethodGet, "/api/agents", nil), http.StatusOK)
		require.Len(t, list, 2)
		assert.Equal(t, []uint64{ann.ID, bob.ID}, []uint64{list[0].ID, list[1].ID})

		rec = env.admin(http.MethodGet, "/api/agents/999", nil)
		assert.Equal(t, http.StatusNotFound, rec.Code)
		assert.Equal(t, "agent 999 does not exist", errorBody(t, rec).Message)
	})
}

func TestAgentValidation(t *testing.T) {
	cases := []struct {
		name           string
		body           map[string]any
		field, message string
	}{
		{"name missing", map[string]any{}, "name", "required"},
		{"name blank", map[string]any{"name": "  "}, "name", "required"},
		{"name too long", map[string]any{"name": strings.Repeat("a", 256)}, "name", "at most 255"},
		{"capacity zero", map[string]any{"name": "a", "capacity": 0}, "capacity", "want 1 to 100, got 0"},
		{"capacity too large", map[string]any{"name": "a", "capacity": 101}, "capacity", "got 101"},
		{"capacity not a number", map[string]any{"name": "a", "capacity": "2"}, "capacity", "want an integer"},
	}
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				assertFieldError(t, env.admin(http.MethodPost, "/api/agents", tc.body), tc.field, tc.message)
			})
		}
		var n int64
		require.NoError(t, env.db.Model(&models.Agent{}).Count(&n).Error)
		assert.Zero(t, n)
	})
}

func TestAgentTokenOfDeletedAgentIsRefused(t *testing.T) {
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		ag := env.createAgent("leaver")
		path := fmt.Sprintf("/api/agents/%d", ag.ID)
		require.Equal(t, http.StatusOK, env.call(http.MethodGet, path, ag.Token, nil).Code)
		require.NoError(t, env.db.Delete(&models.Agent{}, ag.ID).Error)
		rec := env.call(http.MethodGet, path, ag.Token, nil)
		assert.Equal(t, http.StatusUnauthorized, rec.Code)
		assert.Equal(t, "unauthorized", errorBody(t, rec).Code)
		rec = env.admin(http.MethodGet, path, nil)
		assert.Equal(t, http.StatusNotFound, rec.Code, "the admin sees it is gone")
	})
}

// TestAgentEnablesAccounts: an agent enables only the accounts an admin
// permitted it on; the admin's enable permits and enables at once; a
// disable keeps the permission.
func TestAgentEnablesAccounts(t *testing.T) {
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		acc := env.createAccount("enable")
		acc2 := env.createAccount("enable2")
		me := env.createAgent("me")
		other := env.createAgent("other")
		env.seedQueuedInteraction(acc.ID)
		mine := fmt.Sprintf("/api/agents/%d/accounts/%d", me.ID, acc.ID)
		links := func() (permitted, enabled int64) {
			t.Helper()
			q := env.db.Model(&models.AgentAccount{}).Where("agent_id = ? AND account_id = ?", me.ID, acc.ID)
			require.NoError(t, q.Session(&gorm.Session{}).Count(&permitted).Error)
			require.NoError(t, q.Session(&gorm.Session{}).Where("enabled = ?", true).Count(&enabled).Error)
			return permitted, enabled
		}

		rec := env.call(http.MethodPut, mine, me.Token, nil)
		require.Equal(t, http.StatusForbidden, rec.Code, "not permitted yet: %s", rec.Body.String())
		assert.Equal(t, "account_not_permitted", errorBody(t, rec).Code)
		p, e := links()
		assert.Zero(t, p+e, "a refused enable writes nothing")

		for i := 1; i <= 2; i++ {
			rec := env.admin(http.MethodPut, fmt.Sprintf("/api/agents/%d/permissions/%d", me.ID, acc.ID), nil)
			require.Equal(t, http.StatusNoContent, rec.Code, "permit #%d: %s", i, rec.Body.String())
		}
		p, e = links()
		assert.Equal(t, [2]int64{1, 0}, [2]int64{p, e}, "permitted once, not enabled")
		env.temporal.expectSignals(t, 0, "a permission alone makes nobody eligible")

		for i := 1; i <= 2; i++ {
			rec := env.call(http.MethodPut, mine, me.Token, nil)
			require.Equal(t, http.StatusNoContent, rec.Code, "PUT #%d: %s", i, rec.Body.String())
		}
		env.temporal.expectSignals(t, 2, "enabling wakes the waiting interaction")
		p, e = links()
		assert.Equal(t, [2]int64{1, 1}, [2]int64{p, e}, "enabled once")

		rec = env.call(http.MethodPut, fmt.Sprintf("/api/agents/%d/accounts/%d", other.ID, acc.ID), me.Token, nil)
		assert.Equal(t, http.StatusForbidden, rec.Code, "not for another agent")
		assert.Equal(t, "forbidden", errorBody(t, rec).Code)
		env.permit(other.ID, acc.ID)
		rec = env.call(http.MethodPut, fmt.Sprintf("/api/agents/%d/accounts/%d", other.ID, acc.ID), other.Token, nil)
		require.Equal(t, http.StatusNoContent, rec.Code, "the other agent for itself")
		rec = env.admin(http.MethodPut, fmt.Sprintf("/api/agents/%d/accounts/%d", me.ID, acc2.ID), nil)
		require.Equal(t, http.StatusNoContent, rec.Code, "the admin for an agent: permits and enables")

		got := cfgDecode[api.AgentResponse](t, env.call(http.MethodGet, fmt.Sprintf("/api/agents/%d", me.ID), me.Token, nil), http.StatusOK)
		assert.Equal(t, []uint64{acc.ID, acc2.ID}, got.PermittedAccountIDs)
		assert.Equal(t, []uint64{acc.ID, acc2.ID}, got.EnabledAccountIDs)

		for i := 1; i <= 2; i++ {
			rec := env.call(http.MethodDelete, mine, me.Token, nil)
			require.Equal(t, http.StatusNoContent, rec.Code, "DELETE #%d: %s", i, rec.Body.String())
		}
		got = cfgDecode[api.AgentResponse](t, env.call(http.MethodGet, fmt.Sprintf("/api/agents/%d", me.ID), me.Token, nil), http.StatusOK)
		assert.Equal(t, []uint64{acc2.ID}, got.EnabledAccountIDs)
		assert.Equal(t, []uint64{acc.ID, acc2.ID}, got.PermittedAccountIDs, "disabling keeps the permission")
		assert.Len(t, env.temporal.releases(t), 2, "each disable takes back what the agent held")
		rec = env.call(http.MethodPut, mine, me.Token, nil)
		require.Equal(t, http.StatusNoContent, rec.Code, "so the agent may enable it again: %s", rec.Body.String())
		signals := env.temporal.settled()

		rec = env.call(http.MethodPut, fmt.Sprintf("/api/agents/%d/accounts/999", me.ID), me.Token, nil)
		assert.Equal(t, http.StatusNotFound, rec.Code)
		assert.Equal(t, "account 999 does not exist", errorBody(t, rec).Message)
		rec = env.admin(http.MethodPut, fmt.Sprintf("/api/agents/999/accounts/%d", acc.ID), nil)
		assert.Equal(t, http.StatusNotFound, rec.Code)
		assert.Equal(t, "agent 999 does not exist", errorBody(t, rec).Message)
		rec = env.call(http.MethodPut, fmt.Sprintf("/api/agents/999/accounts/%d", acc.ID), me.Token, nil)
		assert.Equal(t, http.StatusForbidden, rec.Code, "an agent learns nothing about other ids")

		// A soft-deleted account cannot be enabled, and deleting it removes
		// the permission too.
		require.Equal(t, http.StatusNoContent, env.admin(http.MethodDelete, fmt.Sprintf("/api/whatsapp/accounts/%d", acc2.ID), nil).Code)
		got = cfgDecode[api.AgentResponse](t, env.call(http.MethodGet, fmt.Sprintf("/api/agents/%d", me.ID), me.Token, nil), http.StatusOK)
		assert.Equal(t, []uint64{acc.ID}, got.EnabledAccountIDs)
		assert.Equal(t, []uint64{acc.ID}, got.PermittedAccountIDs)
		rec = env.call(http.MethodPut, fmt.Sprintf("/api/agents/%d/accounts/%d", me.ID, acc2.ID), me.Token, nil)
		assert.Equal(t, http.StatusNotFound, rec.Code)
		assert.Equal(t, fmt.Sprintf("account %d does not exist", acc2.ID), errorBody(t, rec).Message)
		var n int64
		require.NoError(t, env.db.Model(&models.AgentAccount{}).Where("account_id = ?", acc2.ID).Count(&n).Error)
		assert.Zero(t, n)
		assert.Equal(t, signals, env.temporal.settled(), "failed requests wake nobody")
	})
}

func TestAgentPresence(t *testing.T) {
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		acc := env.createAccount("presence")
		me := env.createAgent("me")
		other := env.createAgent("other")
		env.seedQueuedInteraction(acc.ID)
		path := fmt.Sprintf("/api/agents/%d/presence", me.ID)

		before := time.Now().Add(-time.Second)
		got := cfgDecode[api.AgentResponse](t, env.call(http.MethodPut, path, me.Token, map[string]any{"status": "available"}), http.StatusOK)
		assert.Equal(t, "available", got.Presence)
		require.NotNil(t, got.PresenceAt)
		assert.True(t, got.PresenceAt.After(before), "presenceAt %v is now", got.PresenceAt)
		env.temporal.expectSignals(t, 1, "becoming available wakes waiting interactions")
		var row models.Agent
		require.NoError(t, env.db.Take(&row, me.ID).Error)
		assert.Equal(t, models.PresenceAvailable, row.Presence)

		again := cfgDecode[api.AgentResponse](t, env.call(http.MethodPut, path, me.Token, map[string]any{"status": "available"}), http.StatusOK)
		assert.Equal(t, got.PresenceAt, again.PresenceAt, "no change, presenceAt stays")
		env.temporal.expectSignals(t, 1, "no transition, no nudge")

		away := cfgDecode[api.AgentResponse](t, env.admin(http.MethodPut, path, map[string]any{"status": "away"}), http.StatusOK)
		assert.Equal(t, "away", away.Presence)
		require.NotNil(t, away.PresenceAt)
		assert.False(t, away.PresenceAt.Before(*got.PresenceAt))
		env.temporal.expectSignals(t, 1, "going away wakes nobody")

		assertFieldError(t, env.call(http.MethodPut, path, me.Token, map[string]any{"status": "busy"}), "status", `want one of available, away, got "busy"`)
		assertFieldError(t, env.call(http.MethodPut, path, me.Token, map[string]any{}), "status", `got ""`)
		rec := env.call(http.MethodPut, path, me.Token, map[string]any{"status": "away", "since": "now"})
		assert.Equal(t, http.StatusBadRequest, rec.Code)
		assert.Contains(t, errorBody(t, rec).Message, "since")

		rec = env.call(http.MethodPut, fmt.Sprintf("/api/agents/%d/presence", other.ID), me.Token, map[string]any{"status": "available"})
		assert.Equal(t, http.StatusForbidden, rec.Code)
		var otherRow models.Agent
		require.NoError(t, env.db.Take(&otherRow, other.ID).Error)
		assert.Equal(t, models.PresenceAway, otherRow.Presence, "the other agent is untouched")

		rec = env.admin(http.MethodPut, "/api/agents/999/presence", map[string]any{"status": "available"})
		assert.Equal(t, http.StatusNotFound, rec.Code)
		assert.Equal(t, "agent 999 does not exist", errorBody(t, rec).Message)
	})
}
