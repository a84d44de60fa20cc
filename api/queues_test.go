package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/models"
)

func TestQueueCreateGetList(t *testing.T) {
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		rec := env.admin(http.MethodPost, "/api/queues", map[string]any{"name": " Sales ", "strategy": "least_busy"})
		first := cfgDecode[api.QueueResponse](t, rec, http.StatusCreated)
		assert.Equal(t, api.QueueResponse{ID: first.ID, Name: "Sales", Strategy: "least_busy", TimeoutSeconds: 0,
			AccountIDs: []uint64{}, AgentIDs: []uint64{}, CreatedAt: first.CreatedAt, UpdatedAt: first.UpdatedAt}, first)
		assert.Contains(t, rec.Body.String(), `"overflowQueueId":null`)
		assert.Contains(t, rec.Body.String(), `"accountIds":[]`)
		assert.Contains(t, rec.Body.String(), `"agentIds":[]`)

		second := cfgDecode[api.QueueResponse](t, env.admin(http.MethodPost, "/api/queues", map[string]any{
			"name": "Overflowing", "strategy": "ring_all", "timeoutSeconds": 86400, "overflowQueueId": first.ID}), http.StatusCreated)
		require.NotNil(t, second.OverflowQueueID)
		assert.Equal(t, first.ID, *second.OverflowQueueID)
		assert.Equal(t, 86400, second.TimeoutSeconds)
		assert.Equal(t, "ring_all", second.Strategy)

		var row models.Queue
		require.NoError(t, env.db.Take(&row, second.ID).Error)
		assert.Equal(t, models.StrategyRingAll, row.Strategy)
		require.NotNil(t, row.OverflowQueueID)
		assert.Equal(t, first.ID, *row.OverflowQueueID)

		got := cfgDecode[api.QueueResponse](t, env.admin(http.MethodGet, fmt.Sprintf("/api/queues/%d", second.ID), nil), http.StatusOK)
		assert.Equal(t, second, got)

		list := cfgDecode[[]api.QueueResponse](t, env.admin(http.MethodGet, "/api/queues", nil), http.StatusOK)
		require.Len(t, list, 2)
		assert.Equal(t, []api.QueueResponse{first, second}, list, "ordered by id")

		rec = env.admin(http.MethodGet, "/api/queues/999", nil)
		assert.Equal(t, http.StatusNotFound, rec.Code)
		assert.Equal(t, "queue 999 does not exist", errorBody(t, rec).Message)
	})
}

func TestQueueValidation(t *testing.T) {
	cases := []struct {
		name           string
		body           map[string]any
		field, message string
	}{
		{"name missing", map[string]any{"strategy": "ring_all"}, "name", "required"},
		{"name blank", map[string]any{"name": " ", "strategy": "ring_all"}, "name", "required"},
		{"name too long", map[string]any{"name": strings.Repeat("q", 256), "strategy": "ring_all"}, "name", "at most 255"},
		{"strategy missing", map[string]any{"name": "q"}, "strategy", "required"},
		{"strategy unknown", map[string]any{"name": "q", "strategy": "random"}, "strategy", `want one of round_robin, least_busy, ring_all, got "random"`},
		{"timeout negative", map[string]any{"name": "q", "strategy": "ring_all", "timeoutSeconds": -1}, "timeoutSeconds", "got -1"},
		{"timeout too long", map[string]any{"name": "q", "strategy": "ring_all", "timeoutSeconds": 86401}, "timeoutSeconds", "86400"},
		{"timeout not an integer", map[string]any{"name": "q", "strategy": "ring_all", "timeoutSeconds": "10"}, "timeoutSeconds", "want an integer"},
		{"overflow missing", map[string]any{"name": "q", "strategy": "ring_all", "overflowQueueId": 999}, "overflowQueueId", "queue 999 does not exist"},
		{"overflow zero", map[string]any{"name": "q", "strategy": "ring_all", "overflowQueueId": 0}, "overflowQueueId", "positive"},
	}
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				assertFieldError(t, env.admin(http.MethodPost, "/api/queues", tc.body), tc.field, tc.message)
			})
		}
		var n int64
		require.NoError(t, env.db.Model(&models.Queue{}).Count(&n).Error)
		assert.Zero(t, n)

		// A deleted queue is no overflow target either.
		q := env.createQueue("deleted")
		require.Equal(t, http.StatusNoContent, env.admin(http.MethodDelete, fmt.Sprintf("/api/queues/%d", q.ID), nil).Code)
		assertFieldError(t, env.admin(http.MethodPost, "/api/queues", map[string]any{"name": "q", "strategy": "ring_all", "overflowQueueId": q.ID}),
			"overflowQueueId", "does not exist")
	})
}

func TestQueueDuplicateName(t *testing.T) {
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		q := env.createQueue("support")
		rec := env.admin(http.MethodPost, "/api/queues", map[string]any{"name": "support", "strategy": "ring_all"})
		require.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())
		d := errorBody(t, rec)
		assert.Equal(t, "conflict", d.Code)
		assert.True(t, strings.HasPrefix(d.Message, "name: "), d.Message)

		require.Equal(t, http.StatusNoContent, env.admin(http.MethodDelete, fmt.Sprintf("/api/queues/%d", q.ID), nil).Code)
		again := env.createQueue("support")
		assert.NotEqual(t, q.ID, again.ID, "a deleted queue's name is free again")
	})
}

func TestQueueLinks(t *testing.T) {
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		acc := env.createAccount("links")
		acc2 := env.createAccount("links2")
		ag := env.createAgent("ann")
		q := env.createQueue("links")
		env.seedQueuedInteraction(acc.ID)
		qPath := fmt.Sprintf("/api/queues/%d", q.ID)
		accPath := fmt.Sprintf("%s/accounts/%d", qPath, acc.ID)
		agPath := fmt.Sprintf("%s/agents/%d", qPath, ag.ID)

		nudges := 0
		for i := 1; i <= 2; i++ {
			for _, p := range []string{accPath, agPath, fmt.Sprintf("%s/accounts/%d", qPath, acc2.ID)} {
				rec := env.admin(http.MethodPut, p, nil)
				require.Equal(t, http.StatusNoContent, rec.Code, "PUT %s #%d: %s", p, i, rec.Body.String())
				nudges++
				env.temporal.expectSignals(t, nudges, "every PUT wakes the waiting interaction")
			}
		}
		var n int64
		require.NoError(t, env.db.Model(&models.QueueAccount{}).Where("queue_id = ?", q.ID).Count(&n).Error)
		assert.EqualValues(t, 2, n, "PUT twice links once")
		require.NoError(t, env.db.Model(&models.QueueAgent{}).Where("queue_id = ?", q.ID).Count(&n).Error)
		assert.EqualValues(t, 1, n)

		got := cfgDecode[api.QueueResponse](t, env.admin(http.MethodGet, qPath, nil), http.StatusOK)
		assert.Equal(t, []uint64{acc.ID, acc2.ID}, got.AccountIDs)
		assert.Equal(t, []uint64{ag.ID}, got.AgentIDs)
		agent := cfgDecode[api.AgentResponse](t, env.admin(http.MethodGet, fmt.Sprintf("/api/agents/%d", ag.ID), nil), http.StatusOK)
		assert.Equal(t, []uint64{q.ID}, agent.QueueIDs)

		for i := 1; i <= 2; i++ {
			for _, p := range []string{accPath, agPath} {
				rec := env.admin(http.MethodDelete, p, nil)
				require.Equal(t, http.StatusNoContent, rec.Code, "DELETE %s #%d: %s", p, i, rec.Body.String())
			}
		}
		env.temporal.expectSignals(t, 6, "removing a link makes nobody eligible")
		got = cfgDecode[api.QueueResponse](t, env.admin(http.MethodGet, qPath, nil), http.StatusOK)
		assert.Equal(t, []uint64{acc2.ID}, got.AccountIDs)
		assert.Equal(t, []uint64{}, got.AgentIDs)

		notFound := []struct{ method, path, message string }{
			{http.MethodPut, fmt.Sprintf("/api/queues/999/accounts/%d", acc.ID), "queue 999 does not exist"},
			{http.MethodDelete, fmt.Sprintf("/api/queues/999/agents/%d", ag.ID), "queue 999 does not exist"},
			{http.MethodPut, qPath + "/accounts/999", "account 999 does not exist"},
			{http.MethodDelete, qPath + "/accounts/999", "account 999 does not exist"},
			{http.MethodPut, qPath + "/agents/999", "agent 999 does not exist"},
			{http.MethodDelete, qPath + "/agents/999", "agent 999 does not exist"},
		}
		for _, tc := range notFound {
			rec := env.admin(tc.method, tc.path, nil)
			require.Equal(t, http.StatusNotFound, rec.Code, "%s %s: %s", tc.method, tc.path, rec.Body.String())
			assert.Equal(t, tc.message, errorBody(t, rec).Message)
		}

		// A soft-deleted account cannot be linked, and deleting it unlinks it.
		require.Equal(t, http.StatusNoContent, env.admin(http.MethodDelete, fmt.Sprintf("/api/whatsapp/accounts/%d", acc2.ID), nil).Code)
		got = cfgDecode[api.QueueResponse](t, env.admin(http.MethodGet, qPath, nil), http.StatusOK)
		assert.Equal(t, []uint64{}, got.AccountIDs)
		rec := env.admin(http.MethodPut, fmt.Sprintf("%s/accounts/%d", qPath, acc2.ID), nil)
		assert.Equal(t, http.StatusNotFound, rec.Code)
		assert.Contains(t, errorBody(t, rec).Message, "account")
	})
}

func TestQueueDelete(t *testing.T) {
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		acc := env.createAccount("qd")
		ag := env.createAgent("qd")
		q := env.createQueue("doomed")
		kept := cfgDecode[api.QueueResponse](t, env.admin(http.MethodPost, "/api/queues", map[string]any{
			"name": "kept", "strategy": "round_robin", "overflowQueueId": q.ID}), http.StatusCreated)
		qPath := fmt.Sprintf("/api/queues/%d", q.ID)
		require.Equal(t, http.StatusNoContent, env.admin(http.MethodPut, fmt.Sprintf("%s/accounts/%d", qPath, acc.ID), nil).Code)
		require.Equal(t, http.StatusNoContent, env.admin(http.MethodPut, fmt.Sprintf("%s/agents/%d", qPath, ag.ID), nil).Code)

		rec := env.admin(http.MethodDelete, qPath, nil)
		require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
		assert.Equal(t, http.StatusNotFound, env.admin(http.MethodGet, qPath, nil).Code)
		assert.Equal(t, http.StatusNotFound, env.admin(http.MethodDelete, qPath, nil).Code)

		var n int64
		require.NoError(t, env.db.Model(&models.QueueAccount{}).Where("queue_id = ?", q.ID).Count(&n).Error)
		assert.Zero(t, n, "account links removed")
		require.NoError(t, env.db.Model(&models.QueueAgent{}).Where("queue_id = ?", q.ID).Count(&n).Error)
		assert.Zero(t, n, "agent links removed")
		require.NoError(t, env.db.Unscoped().Model(&models.Queue{}).Where("id = ?", q.ID).Count(&n).Error)
		assert.EqualValues(t, 1, n, "soft delete keeps the row")

		got := cfgDecode[api.QueueResponse](t, env.admin(http.MethodGet, fmt.Sprintf("/api/queues/%d", kept.ID), nil), http.StatusOK)
		assert.Nil(t, got.OverflowQueueID, "nothing overflows into a deleted queue")
		list := cfgDecode[[]api.QueueResponse](t, env.admin(http.MethodGet, "/api/queues", nil), http.StatusOK)
		require.Len(t, list, 1)
		assert.Equal(t, kept.ID, list[0].ID)
	})
}
