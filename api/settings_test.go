package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/workflows"
)

// updateTemporal records the updates the API sends to conversations and
// answers them as a workflow that accepted them would.
type updateTemporal struct {
	cfgTemporal
	updMu   sync.Mutex
	updates []client.UpdateWorkflowOptions
	// result is the update's answer (nil: none).
	result func(opts client.UpdateWorkflowOptions) any
}

func (f *updateTemporal) UpdateWorkflow(_ context.Context, opts client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	f.updMu.Lock()
	defer f.updMu.Unlock()
	f.updates = append(f.updates, opts)
	var res any
	if f.result != nil {
		res = f.result(opts)
	}
	return fakeUpdateHandle{res: res}, nil
}

// last is the argument of the latest update named name.
func (f *updateTemporal) last(t *testing.T, name string) any {
	t.Helper()
	f.updMu.Lock()
	defer f.updMu.Unlock()
	for i := len(f.updates) - 1; i >= 0; i-- {
		if f.updates[i].UpdateName == name {
			require.Len(t, f.updates[i].Args, 1)
			return f.updates[i].Args[0]
		}
	}
	t.Fatalf("no %s update sent", name)
	return nil
}

func (f *updateTemporal) count() int {
	f.updMu.Lock()
	defer f.updMu.Unlock()
	return len(f.updates)
}

// fakeUpdateHandle answers Get with res, as JSON round trips it.
type fakeUpdateHandle struct {
	client.WorkflowUpdateHandle
	res any
}

func (h fakeUpdateHandle) Get(_ context.Context, out any) error {
	if h.res == nil || out == nil {
		return nil
	}
	raw, err := json.Marshal(h.res)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, out)
}

// newSettingsEnv is a cfgEnv whose Temporal also accepts updates; its
// signals and workflow starts are recorded in env.temporal as usual.
func newSettingsEnv(t *testing.T, engine models.Engine) (*cfgEnv, *updateTemporal) {
	t.Helper()
	ut := &updateTemporal{}
	env := newCfgEnvWith(t, engine, func(d *api.Deps) { d.Temporal = ut })
	env.temporal = &ut.cfgTemporal
	return env, ut
}

// forEachSettingsEngine runs fn on a fresh settings server per engine.
func forEachSettingsEngine(t *testing.T, fn func(t *testing.T, env *cfgEnv, ut *updateTemporal)) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			env, ut := newSettingsEnv(t, engine)
			fn(t, env, ut)
		})
	}
}

func settingsPath(accountID uint64) string {
	return fmt.Sprintf("/api/whatsapp/accounts/%d/settings", accountID)
}

// seedAssigned stores an interaction of the account assigned to agentID
// (0: queued), with a contact named name (may be "").
func (env *cfgEnv) seedAssigned(accountID, agentID uint64, identity, name string) models.Interaction {
	env.t.Helper()
	c := models.Contact{AccountID: accountID, Channel: models.ChannelWhatsApp, Identity: identity, DisplayName: name}
	require.NoError(env.t, env.db.Create(&c).Error)
	in := models.Interaction{Key: "wf-" + identity + "#1", WorkflowID: "wf-" + identity, AccountID: accountID, ContactID: c.ID,
		Channel: models.ChannelWhatsApp, Status: models.InteractionQueued, OpenedAt: time.Now()}
	if agentID != 0 {
		in.Status, in.AgentID = models.InteractionAssigned, &agentID
	}
	require.NoError(env.t, env.db.Create(&in).Error)
	return in
}

const emptySettings = `{"dispositions":[],"cannedAnswers":[],"transferOptions":null,
	"routing":{"strategy":"","agentNotifyTimeoutSeconds":0,"inactivityTimeoutSeconds":0},"actionFlow":[]}`

func TestSettingsRoundTrip(t *testing.T) {
	forEachSettingsEngine(t, func(t *testing.T, env *cfgEnv, _ *updateTemporal) {
		acc := env.createAccount("settings")
		q1, q2 := env.createQueue("first"), env.createQueue("second")
		ag := env.createAgent("ann")

		rec := env.admin(http.MethodGet, settingsPath(acc.ID), nil)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		assert.JSONEq(t, emptySettings, rec.Body.String(), "a fresh account: empty lists, no options")

		doc := map[string]any{
			"dispositions": []string{" Solved ", "Call back"},
			"cannedAnswers": []map[string]any{
				{"title": "Greeting", "text": "Hello {{contact.name}}, I am {{agent.name}}"},
				{"title": " Bye ", "text": "{{#account}}{{name}}{{/account}} thanks you{{#contact.name}}, {{contact.name}}{{/contact.name}}"},
			},
			"transferOptions": map[string]any{"queues": []uint64{q2.ID}, "agents": []uint64{ag.ID}, "returnToQueueAfterSeconds": 60},
			"routing":         map[string]any{"strategy": "ring_all", "agentNotifyTimeoutSeconds": 30, "inactivityTimeoutSeconds": 3600},
			"actionFlow": []map[string]any{
				{"queue": q1.ID, "seconds": 60}, {"reply": "All our agents are busy, we will answer soon"}, {"queue": q2.ID},
			},
		}
		put := cfgDecode[api.AccountSettings](t, env.admin(http.MethodPut, settingsPath(acc.ID), doc), http.StatusOK)
		assert.Equal(t, []string{"Solved", "Call back"}, put.Dispositions, "trimmed, in the given order")
		require.Len(t, put.CannedAnswers, 2)
		assert.NotZero(t, put.CannedAnswers[0].ID)
		assert.Equal(t, "Greeting", put.CannedAnswers[0].Title)
		assert.Equal(t, "Bye", put.CannedAnswers[1].Title, "title trimmed")
		assert.Equal(t, &models.TransferOptions{Queues: []uint64{q2.ID}, Agents: []uint64{ag.ID}, ReturnToQueueAfterSeconds: 60}, put.TransferOptions)
		assert.Equal(t, api.RoutingSettings{Strategy: "ring_all", AgentNotifyTimeoutSeconds: 30, InactivityTimeoutSeconds: 3600}, put.Routing)
		raw, err := json.Marshal(put.ActionFlow)
		require.NoError(t, err)
		assert.JSONEq(t, fmt.Sprintf(`[{"queue":%d,"seconds":60},{"reply":"All our agents are busy, we will answer soon"},{"queue":%d}]`, q1.ID, q2.ID), string(raw))

		rec = env.admin(http.MethodGet, settingsPath(acc.ID), nil)
		require.Equal(t, http.StatusOK, rec.Code)
		want, err := json.Marshal(put)
		require.NoError(t, err)
		assert.JSONEq(t, string(want), rec.Body.String(), "GET returns what PUT answered")

		// The rows the workflow and the close check read.
		var stored models.Account
		require.NoError(t, env.db.Take(&stored, acc.ID).Error)
		assert.Equal(t, models.StrategyRingAll, stored.RoutingStrategy)
		assert.Equal(t, 30, stored.AgentNotifyTimeoutSeconds)
		assert.Equal(t, 3600, stored.InactivityTimeoutSeconds)
		flow, err := stored.Flow()
		require.NoError(t, err)
		assert.Equal(t, []models.FlowStep{{Queue: q1.ID, Seconds: 60}, {Reply: "All our agents are busy, we will answer soon"}, {Queue: q2.ID}}, flow)
		opts, err := stored.Transfer()
		require.NoError(t, err)
		assert.Equal(t, 60, opts.ReturnToQueueAfterSeconds)
		var answers []models.CannedAnswer
		require.NoError(t, env.db.Where("account_id = ?", acc.ID).Order("position").Find(&answers).Error)
		require.Len(t, answers, 2)
		assert.Equal(t, []string{"greeting", "bye"}, []string{answers[0].Key, answers[1].Key}, "key: the lower-cased title")
		assert.Equal(t, []int{0, 1}, []int{answers[0].Position, answers[1].Position})

		// GET, modify, PUT: the pattern to change one setting.
		put.Dispositions = append(put.Dispositions, "Spam")
		put.TransferOptions.Queues = []uint64{}
		again := cfgDecode[api.AccountSettings](t, env.admin(http.MethodPut, settingsPath(acc.ID), put), http.StatusOK)
		assert.Equal(t, []string{"Solved", "Call back", "Spam"}, again.Dispositions)
		assert.Equal(t, put.CannedAnswers, again.CannedAnswers, "unchanged answers keep their ids")
		assert.Equal(t, []uint64{}, again.TransferOptions.Queues, "an empty list (no queue allowed) stays empty, not null")

		// Absent fields are cleared.
		rec = env.admin(http.MethodPut, settingsPath(acc.ID), map[string]any{})
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		assert.JSONEq(t, emptySettings, rec.Body.String())
		require.NoError(t, env.db.Take(&stored, acc.ID).Error)
		assert.Empty(t, stored.ActionFlow)
		assert.Empty(t, stored.TransferOptions)
		var n int64
		require.NoError(t, env.db.Model(&models.CannedAnswer{}).Where("account_id = ?", acc.ID).Count(&n).Error)
		assert.Zero(t, n)
		require.NoError(t, env.db.Model(&models.Disposition{}).Where("account_id = ?", acc.ID).Count(&n).Error)
		assert.Zero(t, n)

		rec = env.admin(http.MethodGet, settingsPath(9999), nil)
		assert.Equal(t, http.StatusNotFound, rec.Code)
		rec = env.admin(http.MethodPut, settingsPath(9999), map[string]any{})
		assert.Equal(t, http.StatusNotFound, rec.Code)
	})
}

func TestSettingsValidation(t *testing.T) {
	forEachSettingsEngine(t, func(t *testing.T, env *cfgEnv, _ *updateTemporal) {
		acc := env.createAccount("valid")
		q := env.createQueue("valid")
		ag := env.createAgent("val")
		good := map[string]any{"dispositions": []string{"Kept"}}
		require.Equal(t, http.StatusOK, env.admin(http.MethodPut, settingsPath(acc.ID), good).Code)
		before := env.admin(http.MethodGet, settingsPath(acc.ID), nil).Body.String()

		canned := func(answers ...map[string]any) map[string]any { return map[string]any{"cannedAnswers": answers} }
		answer := func(title, text string) map[string]any { return map[string]any{"title": title, "text": text} }
		transfer := func(t map[string]any) map[string]any { return map[string]any{"transferOptions": t} }
		routing := func(r map[string]any) map[string]any { return map[string]any{"routing": r} }
		flow := func(steps ...map[string]any) map[string]any { return map[string]any{"actionFlow": steps} }
		many := func(n int, f func(i int) any) []any {
			out := make([]any, n)
			for i := range out {
				out[i] = f(i)
			}
			return out
		}
		long := strings.Repeat("x", 4097)

		cases := []struct {
			name     string
			body     map[string]any
			field    string
			contains string
		}{
			{"blank disposition", map[string]any{"dispositions": []string{"Solved", "  "}}, "dispositions[1]", "required"},
			{"long disposition", map[string]any{"dispositions": []string{strings.Repeat("é", 256)}}, "dispositions[0]", "at most 255 characters, got 256"},
			{"duplicate disposition", map[string]any{"dispositions": []string{"Solved", "SOLVED "}}, "dispositions[1]", "repeats dispositions[0]"},
			{"too many dispositions", map[string]any{"dispositions": many(201, func(i int) any { return fmt.Sprint("d", i) })}, "dispositions", "at most 200, got 201"},

			{"blank title", canned(answer("ok", "a"), answer(" ", "b")), "cannedAnswers[1].title", "required"},
			{"long title", canned(answer(strings.Repeat("t", 101), "a")), "cannedAnswers[0].title", "at most 100 characters"},
			{"duplicate title", canned(answer("Hello", "a"), answer("hello", "b")), "cannedAnswers[1].title", "repeats cannedAnswers[0].title"},
			{"blank text", canned(answer("t", "  ")), "cannedAnswers[0].text", "required"},
			{"long text", canned(answer("t", long)), "cannedAnswers[0].text", "at most 4096 characters"},
			{"unparsable text", canned(answer("t", "Hi {{#contact}}")), "cannedAnswers[0].text", "invalid mustache template"},
			{"partial", canned(answer("t", "Hi {{> header}}")), "cannedAnswers[0].text", "partials"},
			{"unknown variable", canned(answer("a", "x"), answer("b", "x"), answer("c", "Hi {{contact.email}}")), "cannedAnswers[2].text",
				"unknown variable {{contact.email}}: want contact.name, contact.mobile, agent.name, account.name"},
			{"bare field outside its section", canned(answer("t", "Hi {{name}}")), "cannedAnswers[0].text", "unknown variable {{name}}"},
			{"unknown field in a section", canned(answer("t", "{{#agent}}{{mobile}}{{/agent}}")), "cannedAnswers[0].text", "unknown variable {{mobile}}"},
			{"unknown section", canned(answer("t", "{{#queue}}x{{/queue}}")), "cannedAnswers[0].text", "unknown section {{#queue}}"},
			{"unknown id", canned(map[string]any{"id": 987654, "title": "t", "text": "x"}), "cannedAnswers[0].id", "is not one of account"},
			{"too many answers", map[string]any{"cannedAnswers": many(501, func(i int) any { return answer(fmt.Sprint("a", i), "x") })}, "cannedAnswers", "at most 500, got 501"},

			{"unknown queue", transfer(map[string]any{"queues": []uint64{q.ID, 987654}}), "transferOptions.queues[1]", "queue 987654 does not exist"},
			{"duplicate queue", transfer(map[string]any{"queues": []uint64{q.ID, q.ID}}), "transferOptions.queues[1]", "already transferOptions.queues[0]"},
			{"zero queue", transfer(map[string]any{"queues": []uint64{0}}), "transferOptions.queues[0]", "positive integer"},
			{"unknown agent", transfer(map[string]any{"agents": []uint64{987654}}), "transferOptions.agents[0]", "agent 987654 does not exist"},
			{"duplicate agent", transfer(map[string]any{"agents": []uint64{ag.ID, ag.ID}}), "transferOptions.agents[1]", "already"},
			{"negative return", transfer(map[string]any{"returnToQueueAfterSeconds": -1}), "transferOptions.returnToQueueAfterSeconds", "want 0"},
			{"long return", transfer(map[string]any{"returnToQueueAfterSeconds": 86401}), "transferOptions.returnToQueueAfterSeconds", "to 86400 seconds, got 86401"},

			{"strategy", routing(map[string]any{"strategy": "random"}), "routing.strategy", `round_robin, least_busy or ring_all, got "random"`},
			{"notify timeout", routing(map[string]any{"agentNotifyTimeoutSeconds": 3601}), "routing.agentNotifyTimeoutSeconds", "to 3600 seconds"},
			{"negative notify timeout", routing(map[string]any{"agentNotifyTimeoutSeconds": -1}), "routing.agentNotifyTimeoutSeconds", "got -1"},
			{"short inactivity", routing(map[string]any{"inactivityTimeoutSeconds": 59}), "routing.inactivityTimeoutSeconds", "60 to 2592000"},
			{"long inactivity", routing(map[string]any{"inactivityTimeoutSeconds": 2592001}), "routing.inactivityTimeoutSeconds", "got 2592001"},

			{"too many steps", map[string]any{"actionFlow": many(21, func(int) any { return map[string]any{"queue": q.ID, "seconds": 1} })}, "actionFlow", "at most 20 steps, got 21"},
			{"empty step", flow(map[string]any{"queue": q.ID, "seconds": 5}, map[string]any{}), "actionFlow[1]", "exactly one of queue"},
			{"queue and reply", flow(map[string]any{"queue": q.ID, "reply": "hi"}), "actionFlow[0]", "exactly one of queue"},
			{"seconds on a reply", flow(map[string]any{"queue": q.ID, "seconds": 5}, map[string]any{"reply": "hi", "seconds": 5}, map[string]any{"queue": q.ID}), "actionFlow[1].seconds", "only a queue step waits"},
			{"unknown flow queue", flow(map[string]any{"queue": 987654}), "actionFlow[0].queue", "queue 987654 does not exist"},
			{"zero flow queue", flow(map[string]any{"queue": 0}), "actionFlow[0].queue", "positive integer"},
			{"blank reply", flow(map[string]any{"reply": " "}, map[string]any{"queue": q.ID}), "actionFlow[0].reply", "required"},
			{"long reply", flow(map[string]any{"reply": long}, map[string]any{"queue": q.ID}), "actionFlow[0].reply", "at most 4096 characters"},
			{"negative seconds", flow(map[string]any{"queue": q.ID, "seconds": -1}), "actionFlow[0].seconds", "got -1"},
			{"long seconds", flow(map[string]any{"queue": q.ID, "seconds": 86401}), "actionFlow[0].seconds", "got 86401"},
			{"endless wait before the end", flow(map[string]any{"queue": q.ID}, map[string]any{"reply": "late"}), "actionFlow[0].seconds", "would never run"},
			{"zero wait before the end", flow(map[string]any{"queue": q.ID, "seconds": 0}, map[string]any{"queue": q.ID}), "actionFlow[0].seconds", "waits until an agent takes"},
			{"no queue step", flow(map[string]any{"reply": "hi"}), "actionFlow", "at least one queue step"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				assertFieldError(t, env.admin(http.MethodPut, settingsPath(acc.ID), tc.body), tc.field, tc.contains)
			})
		}

		for _, body := range []string{`{"dispositon":[]}`, `{"routing":{"strategyy":""}}`, `{"cannedAnswers":[{"title":"t","text":"x","key":"t"}]}`} {
			rec := env.admin(http.MethodPut, settingsPath(acc.ID), body)
			require.Equal(t, http.StatusBadRequest, rec.Code, body)
			assert.Equal(t, "unknown_field", errorBody(t, rec).Code, body)
		}
		rec := env.admin(http.MethodPut, settingsPath(acc.ID), `{"actionFlow":[{"queue":"3"}]}`)
		assertFieldError(t, rec, "actionFlow.queue", "want")

		assert.JSONEq(t, before, env.admin(http.MethodGet, settingsPath(acc.ID), nil).Body.String(), "refused PUTs change nothing")
	})
}

func TestSettingsCannedAnswerIDsKept(t *testing.T) {
	forEachSettingsEngine(t, func(t *testing.T, env *cfgEnv, _ *updateTemporal) {
		acc, other := env.createAccount("ids"), env.createAccount("other")
		first := cfgDecode[api.AccountSettings](t, env.admin(http.MethodPut, settingsPath(acc.ID), map[string]any{"cannedAnswers": []map[string]any{
			{"title": "A", "text": "a"}, {"title": "B", "text": "b"}, {"title": "C", "text": "c"},
		}}), http.StatusOK)
		require.Len(t, first.CannedAnswers, 3)
		a, b, c := first.CannedAnswers[0], first.CannedAnswers[1], first.CannedAnswers[2]

		// C takes A's title and A takes C's (a swap within the unique
		// index), B goes, D is new; the list order is the new one.
		second := cfgDecode[api.AccountSettings](t, env.admin(http.MethodPut, settingsPath(acc.ID), map[string]any{"cannedAnswers": []map[string]any{
			{"id": c.ID, "title": "a", "text": "c, now titled a"}, {"title": "D", "text": "d"}, {"id": a.ID, "title": "C", "text": "a, now titled C"},
		}}), http.StatusOK)
		require.Len(t, second.CannedAnswers, 3)
		assert.Equal(t, api.CannedAnswerView{ID: c.ID, Title: "a", Text: "c, now titled a"}, second.CannedAnswers[0])
		d := second.CannedAnswers[1]
		assert.NotContains(t, []uint64{a.ID, b.ID, c.ID}, d.ID, "a new answer gets a new id")
		assert.Equal(t, "D", d.Title)
		assert.Equal(t, api.CannedAnswerView{ID: a.ID, Title: "C", Text: "a, now titled C"}, second.CannedAnswers[2])
		var n int64
		require.NoError(t, env.db.Model(&models.CannedAnswer{}).Where("id = ?", b.ID).Count(&n).Error)
		assert.Zero(t, n, "an answer left out is deleted")

		// Another account's answer id, or one id twice, is refused.
		theirs := cfgDecode[api.AccountSettings](t, env.admin(http.MethodPut, settingsPath(other.ID), map[string]any{"cannedAnswers": []map[string]any{
			{"title": "Theirs", "text": "x"},
		}}), http.StatusOK).CannedAnswers[0]
		assertFieldError(t, env.admin(http.MethodPut, settingsPath(acc.ID), map[string]any{"cannedAnswers": []map[string]any{
			{"id": theirs.ID, "title": "Mine", "text": "x"},
		}}), "cannedAnswers[0].id", fmt.Sprintf("canned answer %d is not one of account %d's", theirs.ID, acc.ID))
		assertFieldError(t, env.admin(http.MethodPut, settingsPath(acc.ID), map[string]any{"cannedAnswers": []map[string]any{
			{"id": a.ID, "title": "One", "text": "x"}, {"id": a.ID, "title": "Two", "text": "x"},
		}}), "cannedAnswers[1].id", "already cannedAnswers[0]")
		// A deleted answer's id is no longer this account's either.
		assertFieldError(t, env.admin(http.MethodPut, settingsPath(acc.ID), map[string]any{"cannedAnswers": []map[string]any{
			{"id": b.ID, "title": "B", "text": "b"},
		}}), "cannedAnswers[0].id", "is not one of account")
	})
}

func TestCannedAnswersListing(t *testing.T) {
	forEachSettingsEngine(t, func(t *testing.T, env *cfgEnv, _ *updateTemporal) {
		acc := env.createAccount("list")
		enabled, stranger, permitted := env.createAgent("enabled"), env.createAgent("stranger"), env.createAgent("permitted")
		env.permit(enabled.ID, acc.ID)
		env.enable(enabled, acc.ID)
		env.permit(permitted.ID, acc.ID)
		path := fmt.Sprintf("/api/whatsapp/accounts/%d/canned-answers", acc.ID)

		rec := env.call(http.MethodGet, path, enabled.Token, nil)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		assert.JSONEq(t, `[]`, rec.Body.String(), "never null")

		doc := cfgDecode[api.AccountSettings](t, env.admin(http.MethodPut, settingsPath(acc.ID), map[string]any{"cannedAnswers": []map[string]any{
			{"title": "Zulu", "text": "z"}, {"title": "Alpha", "text": "Hi {{contact.name}}"},
		}}), http.StatusOK)
		got := cfgDecode[[]api.CannedAnswerView](t, env.call(http.MethodGet, path, enabled.Token, nil), http.StatusOK)
		assert.Equal(t, doc.CannedAnswers, got, "the admin's order, not alphabetical")
		assert.Equal(t, "Zulu", got[0].Title)
		assert.Equal(t, got, cfgDecode[[]api.CannedAnswerView](t, env.admin(http.MethodGet, path, nil), http.StatusOK))

		rec = env.call(http.MethodGet, path, stranger.Token, nil)
		assert.Equal(t, http.StatusForbidden, rec.Code)
		assert.Equal(t, "account_not_permitted", errorBody(t, rec).Code)
		assert.Contains(t, errorBody(t, rec).Message, "is not permitted on account")
		rec = env.call(http.MethodGet, path, permitted.Token, nil)
		assert.Equal(t, http.StatusForbidden, rec.Code, "permitted, not enabled")
		assert.Equal(t, "account_not_enabled", errorBody(t, rec).Code)
		assert.Contains(t, errorBody(t, rec).Message, "has not enabled account")
		assert.Equal(t, http.StatusUnauthorized, env.call(http.MethodGet, path, "", nil).Code)
		assert.Equal(t, http.StatusUnauthorized, env.call(http.MethodGet, path, "agt_unknown", nil).Code)
		assert.Equal(t, http.StatusNotFound, env.admin(http.MethodGet, "/api/whatsapp/accounts/9999/canned-answers", nil).Code)

		// The settings document itself is the admin's.
		for _, r := range []struct{ method, body string }{{http.MethodGet, ""}, {http.MethodPut, "{}"}} {
			rec = env.call(r.method, settingsPath(acc.ID), enabled.Token, r.body)
			assert.Equal(t, http.StatusForbidden, rec.Code, "%s settings as an agent", r.method)
			assert.Equal(t, http.StatusUnauthorized, env.call(r.method, settingsPath(acc.ID), "", r.body).Code)
		}
	})
}

func TestCloseChecksDispositions(t *testing.T) {
	forEachSettingsEngine(t, func(t *testing.T, env *cfgEnv, ut *updateTemporal) {
		acc := env.createAccount("close")
		free := env.seedAssigned(acc.ID, 0, "393330000101", "")
		closePath := func(id uint64) string { return fmt.Sprintf("/api/interactions/%d/close", id) }

		// No list: any disposition, or none, as before.
		rec := env.admin(http.MethodPost, closePath(free.ID), map[string]any{"disposition": " Whatever "})
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		assert.Equal(t, "Whatever", ut.last(t, workflows.CloseUpdateName).(workflows.CloseRequest).Disposition)
		require.Equal(t, http.StatusOK, env.admin(http.MethodPost, closePath(free.ID), map[string]any{}).Code)

		require.Equal(t, http.StatusOK, env.admin(http.MethodPut, settingsPath(acc.ID), map[string]any{"dispositions": []string{"Solved", "Call back"}}).Code)
		sent := ut.count()
		for _, d := range []string{"Wrong", "", "  "} {
			rec = env.admin(http.MethodPost, closePath(free.ID), map[string]any{"disposition": d})
			require.Equal(t, http.StatusUnprocessableEntity, rec.Code, "%q: %s", d, rec.Body.String())
			e := errorBody(t, rec)
			assert.Equal(t, "invalid_disposition", e.Code)
			assert.Contains(t, e.Message, fmt.Sprintf(`disposition: account %d wants one of "Solved", "Call back", got %q`, acc.ID, strings.TrimSpace(d)))
		}
		assert.Equal(t, sent, ut.count(), "a refused close never reaches the workflow")

		rec = env.admin(http.MethodPost, closePath(free.ID), map[string]any{"disposition": "call BACK"})
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		assert.Equal(t, workflows.CloseRequest{InteractionID: free.ID, Disposition: "Call back", By: "admin"},
			ut.last(t, workflows.CloseUpdateName), "matched ignoring case, sent as listed")
	})
}

func TestTransferChecksOptions(t *testing.T) {
	forEachSettingsEngine(t, func(t *testing.T, env *cfgEnv, ut *updateTemporal) {
		acc := env.createAccount("transfer")
		q1, q2 := env.createQueue("allowed"), env.createQueue("refused")
		a1, a2 := env.createAgent("allowed"), env.createAgent("refused")
		it := env.seedAssigned(acc.ID, a2.ID, "393330000201", "")
		transfer := func(body map[string]any) *api.ErrorDetail {
			t.Helper()
			rec := env.admin(http.MethodPost, fmt.Sprintf("/api/interactions/%d/transfer", it.ID), body)
			if rec.Code == http.StatusOK {
				return nil
			}
			require.Equal(t, http.StatusUnprocessableEntity, rec.Code, rec.Body.String())
			e := errorBody(t, rec)
			return &e
		}

		// No options: any target, an agent transfer assigned at once.
		require.Nil(t, transfer(map[string]any{"agentId": a1.ID}))
		assert.Equal(t, workflows.TransferRequest{InteractionID: it.ID, AgentID: a1.ID, By: "admin"}, ut.last(t, workflows.TransferUpdateName))
		require.Nil(t, transfer(map[string]any{"queueId": q2.ID}))

		require.Equal(t, http.StatusOK, env.admin(http.MethodPut, settingsPath(acc.ID), map[string]any{"transferOptions": map[string]any{
			"queues": []uint64{q1.ID}, "agents": []uint64{a1.ID}, "returnToQueueAfterSeconds": 45,
		}}).Code)
		sent := ut.count()
		e := transfer(map[string]any{"queueId": q2.ID})
		require.NotNil(t, e)
		assert.Equal(t, "transfer_not_allowed", e.Code)
		assert.Equal(t, fmt.Sprintf("queueId: account %d does not allow transfers to queue %d; allowed queues: %d", acc.ID, q2.ID, q1.ID), e.Message)
		e = transfer(map[string]any{"agentId": a2.ID})
		require.NotNil(t, e)
		assert.Equal(t, "transfer_not_allowed", e.Code)
		assert.Equal(t, fmt.Sprintf("agentId: account %d does not allow transfers to agent %d; allowed agents: %d", acc.ID, a2.ID, a1.ID), e.Message)
		assert.Equal(t, sent, ut.count(), "a refused transfer never reaches the workflow")

		require.Nil(t, transfer(map[string]any{"agentId": a1.ID}))
		assert.Equal(t, workflows.TransferRequest{InteractionID: it.ID, AgentID: a1.ID, By: "admin", ReturnAfter: 45 * time.Second},
			ut.last(t, workflows.TransferUpdateName), "the agent has returnToQueueAfterSeconds to accept")
		require.Nil(t, transfer(map[string]any{"queueId": q1.ID}))
		assert.Equal(t, workflows.TransferRequest{InteractionID: it.ID, QueueID: q1.ID, By: "admin"}, ut.last(t, workflows.TransferUpdateName))

		// An empty list allows none; a null one any.
		require.Equal(t, http.StatusOK, env.admin(http.MethodPut, settingsPath(acc.ID), map[string]any{"transferOptions": map[string]any{
			"agents": []uint64{},
		}}).Code)
		e = transfer(map[string]any{"agentId": a1.ID})
		require.NotNil(t, e)
		assert.Contains(t, e.Message, "allowed agents: none")
		require.Nil(t, transfer(map[string]any{"queueId": q2.ID}), "queues: null allows any queue")
	})
}

func TestCannedReply(t *testing.T) {
	forEachSettingsEngine(t, func(t *testing.T, env *cfgEnv, ut *updateTemporal) {
		acc := env.createAccount("canned")
		bob := env.createAgent("Bob")
		env.permit(bob.ID, acc.ID)
		env.enable(bob, acc.ID)
		named := env.seedAssigned(acc.ID, bob.ID, "393330000301", "Maria Rossi")
		anonymous := env.seedAssigned(acc.ID, bob.ID, "393330000302", "")
		queued := env.seedAssigned(acc.ID, 0, "393330000303", "Queued Q")
		longName := env.seedAssigned(acc.ID, bob.ID, "393330000304", strings.Repeat("n", 100))
		otherAcc := env.createAccount("canned-other")

		doc := cfgDecode[api.AccountSettings](t, env.admin(http.MethodPut, settingsPath(acc.ID), map[string]any{"cannedAnswers": []map[string]any{
			{"title": "Greeting", "text": "Hello {{contact.name}} ({{contact.mobile}}), I am {{agent.name}} of {{account.name}} & co"},
			{"title": "Long", "text": strings.Repeat("x", 4080) + "{{contact.name}}"},
			{"title": "Agent only", "text": "{{agent.name}}"},
		}}), http.StatusOK)
		greeting, long, agentOnly := doc.CannedAnswers[0], doc.CannedAnswers[1], doc.CannedAnswers[2]
		foreign := cfgDecode[api.AccountSettings](t, env.admin(http.MethodPut, settingsPath(otherAcc.ID), map[string]any{"cannedAnswers": []map[string]any{
			{"title": "Theirs", "text": "x"},
		}}), http.StatusOK).CannedAnswers[0]

		// The fake workflow stores the reply as the real one would.
		ut.result = func(opts client.UpdateWorkflowOptions) any {
			req := opts.Args[0].(workflows.ReplyRequest)
			var it models.Interaction
			require.NoError(t, env.db.Take(&it, req.InteractionID).Error)
			m := models.Message{AccountID: it.AccountID, ContactID: it.ContactID, InteractionID: it.ID, Direction: models.DirectionOutbound, Kind: "text", Text: req.Text, Status: models.StatusPending}
			require.NoError(t, env.db.Create(&m).Error)
			return workflows.ReplyResult{MessageID: m.ID, Status: string(models.StatusPending)}
		}
		reply := func(it models.Interaction, token string, body any) *httptest.ResponseRecorder {
			return env.call(http.MethodPost, fmt.Sprintf("/api/interactions/%d/messages", it.ID), token, body)
		}

		rec := reply(named, bob.Token, map[string]any{"cannedAnswerId": greeting.ID})
		require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
		want := "Hello Maria Rossi (393330000301), I am Bob of Support canned & co"
		assert.Equal(t, want, cfgDecode[api.MessageResponse](t, rec, http.StatusAccepted).Text)
		assert.Equal(t, workflows.ReplyRequest{InteractionID: named.ID, AgentID: bob.ID, Text: want}, ut.last(t, workflows.ReplyUpdateName),
			"sent as a text reply, not HTML-escaped")

		// An admin replies with the assigned agent's name; no contact name:
		// its identity.
		rec = reply(anonymous, adminToken, map[string]any{"cannedAnswerId": greeting.ID})
		require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
		assert.Equal(t, "Hello 393330000302 (393330000302), I am Bob of Support canned & co", ut.last(t, workflows.ReplyUpdateName).(workflows.ReplyRequest).Text)

		sent := ut.count()
		rec = reply(named, bob.Token, map[string]any{"cannedAnswerId": greeting.ID, "text": "hi"})
		assert.Equal(t, http.StatusBadRequest, rec.Code)
		assert.True(t, strings.HasPrefix(errorBody(t, rec).Message, "cannedAnswerId: "))
		rec = reply(named, bob.Token, map[string]any{"cannedAnswerId": 0})
		assertFieldError(t, rec, "cannedAnswerId", "positive integer")
		for _, id := range []uint64{foreign.ID, 987654} {
			rec = reply(named, bob.Token, map[string]any{"cannedAnswerId": id})
			require.Equal(t, http.StatusUnprocessableEntity, rec.Code, rec.Body.String())
			e := errorBody(t, rec)
			assert.Equal(t, "canned_answer_not_found", e.Code)
			assert.Contains(t, e.Message, fmt.Sprintf("canned answer %d is not one of account %d's", id, acc.ID))
		}
		rec = reply(longName, bob.Token, map[string]any{"cannedAnswerId": long.ID})
		require.Equal(t, http.StatusUnprocessableEntity, rec.Code, rec.Body.String())
		e := errorBody(t, rec)
		assert.Equal(t, "message_too_long", e.Code)
		assert.Contains(t, e.Message, fmt.Sprintf(`canned answer %d ("Long") renders to 4180 characters, over WhatsApp's limit of 4096`, long.ID))
		rec = reply(queued, adminToken, map[string]any{"cannedAnswerId": agentOnly.ID})
		require.Equal(t, http.StatusUnprocessableEntity, rec.Code, rec.Body.String())
		assert.Equal(t, "canned_answer_empty", errorBody(t, rec).Code, "no agent yet: agent.name is empty")
		assert.Equal(t, sent, ut.count(), "refused canned replies never reach the workflow")

		rec = reply(named, adminToken, map[string]any{"cannedAnswerId": agentOnly.ID})
		require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
		assert.Equal(t, "Bob", ut.last(t, workflows.ReplyUpdateName).(workflows.ReplyRequest).Text)
	})
}

func TestAccountStatusInResponse(t *testing.T) {
	forEachSettingsEngine(t, func(t *testing.T, env *cfgEnv, _ *updateTemporal) {
		src, dst := env.createAccount("source"), env.createAccount("target")
		assert.Equal(t, "active", src.Status)
		assert.Nil(t, src.MigratedToAccountID)
		rec := env.admin(http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d", src.ID), nil)
		assert.NotContains(t, rec.Body.String(), "migratedToAccountId", "omitted while not migrated")
		for _, w := range src.Warnings {
			assert.False(t, strings.HasPrefix(w, api.WarningStatus+":"), w)
		}

		require.NoError(t, env.db.Model(&models.Account{ID: src.ID}).Updates(map[string]any{
			"status": models.AccountMigrated, "status_reason": fmt.Sprintf("migrated to account %d (target) by migration 3", dst.ID), "migrated_to_account_id": dst.ID,
		}).Error)
		require.NoError(t, env.db.Model(&models.Account{ID: dst.ID}).Updates(map[string]any{"status": models.AccountDisabled, "status_reason": "migration 4 was cancelled by the admin"}).Error)

		got := cfgDecode[api.AccountResponse](t, env.admin(http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d", src.ID), nil), http.StatusOK)
		assert.Equal(t, "migrated", got.Status)
		assert.Equal(t, fmt.Sprintf("migrated to account %d (target) by migration 3", dst.ID), got.StatusReason)
		require.NotNil(t, got.MigratedToAccountID)
		assert.Equal(t, dst.ID, *got.MigratedToAccountID)
		assert.Contains(t, got.Warnings, fmt.Sprintf("status: migrated to account %d (target) by migration 3: this account opens no new interactions; open ones finish here", dst.ID))

		got = cfgDecode[api.AccountResponse](t, env.admin(http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d", dst.ID), nil), http.StatusOK)
		assert.Equal(t, "disabled", got.Status)
		assert.Contains(t, got.Warnings, "status: disabled (migration 4 was cancelled by the admin): this account opens no interactions")
	})
}
