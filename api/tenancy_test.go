package api_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/inbound"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/workflows"
)

// The tenancy rules (docs/decisions.md §17): an admin permits an agent on
// an account, the agent enables it, and the agent reaches the account's
// interactions, files, canned answers and events only while both hold;
// losing access takes back what the agent held (AgentReleaseWorkflow).
// Accounts are signed by default and talk to Sinch's hosts only; a
// callback reaches only its own account's conversations.

// agentView is GET /api/agents/{id} as the agent itself.
func (env *cfgEnv) agentView(ag api.AgentCreatedResponse) api.AgentResponse {
	env.t.Helper()
	return cfgDecode[api.AgentResponse](env.t, env.call(http.MethodGet, fmt.Sprintf("/api/agents/%d", ag.ID), ag.Token, nil), http.StatusOK)
}

// accountsOf is an agent's permitted and enabled account ids.
func accountsOf(v api.AgentResponse) [2][]uint64 {
	return [2][]uint64{v.PermittedAccountIDs, v.EnabledAccountIDs}
}

func TestTenancyPermitThenEnable(t *testing.T) {
	// Fails before the tenancy change: an agent enabled any account itself
	// (204, no permission existed) and the permissions route did not exist.
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		acc, acc2 := env.createAccount("permit"), env.createAccount("permit2")
		ann := env.createAgent("Ann")
		enable := fmt.Sprintf("/api/agents/%d/accounts/%d", ann.ID, acc.ID)
		permission := fmt.Sprintf("/api/agents/%d/permissions/%d", ann.ID, acc.ID)

		rec := env.call(http.MethodPut, enable, ann.Token, nil)
		require.Equal(t, http.StatusForbidden, rec.Code, rec.Body.String())
		e := errorBody(t, rec)
		assert.Equal(t, "account_not_permitted", e.Code)
		assert.Contains(t, e.Message, permission, "the message names the admin's route")
		assert.Equal(t, [2][]uint64{{}, {}}, accountsOf(env.agentView(ann)))

		rec = env.call(http.MethodPut, permission, ann.Token, nil)
		assert.Equal(t, http.StatusForbidden, rec.Code, "an agent cannot permit itself")
		assert.Equal(t, [2][]uint64{{}, {}}, accountsOf(env.agentView(ann)))

		env.permit(ann.ID, acc.ID)
		assert.Equal(t, [2][]uint64{{acc.ID}, {}}, accountsOf(env.agentView(ann)), "permitted, not enabled yet")
		rec = env.call(http.MethodPut, enable, ann.Token, nil)
		require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
		assert.Equal(t, [2][]uint64{{acc.ID}, {acc.ID}}, accountsOf(env.agentView(ann)))

		// The admin's enable on an account the agent is not permitted on
		// permits and enables it in one call.
		rec = env.admin(http.MethodPut, fmt.Sprintf("/api/agents/%d/accounts/%d", ann.ID, acc2.ID), nil)
		require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
		assert.Equal(t, [2][]uint64{{acc.ID, acc2.ID}, {acc.ID, acc2.ID}}, accountsOf(env.agentView(ann)))
		list := cfgDecode[[]api.AgentResponse](t, env.admin(http.MethodGet, "/api/agents", nil), http.StatusOK)
		require.Len(t, list, 1)
		assert.Equal(t, []uint64{acc.ID, acc2.ID}, list[0].PermittedAccountIDs)

		// A repeated permission keeps the agent's choice.
		rec = env.call(http.MethodDelete, enable, ann.Token, nil)
		require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
		env.permit(ann.ID, acc.ID)
		assert.Equal(t, [2][]uint64{{acc.ID, acc2.ID}, {acc2.ID}}, accountsOf(env.agentView(ann)))

		for _, tc := range []struct{ path, msg string }{
			{fmt.Sprintf("/api/agents/999/permissions/%d", acc.ID), "agent 999 does not exist"},
			{fmt.Sprintf("/api/agents/%d/permissions/999", ann.ID), "account 999 does not exist"},
		} {
			rec = env.admin(http.MethodPut, tc.path, nil)
			assert.Equal(t, http.StatusNotFound, rec.Code, tc.path)
			assert.Equal(t, tc.msg, errorBody(t, rec).Message)
		}
	})
}

// tenancyWorld is two accounts, an agent (Ann) who reaches only the first,
// and on each account an interaction with a message and a pending file.
type tenancyWorld struct {
	accA, accB api.AccountResponse
	ann        api.AgentCreatedResponse
	inA, inB   models.Interaction
	attA, attB uint64
}

func newTenancyWorld(t *testing.T, env *cfgEnv) tenancyWorld {
	t.Helper()
	w := tenancyWorld{accA: env.createAccount("tenant-a"), accB: env.createAccount("tenant-b"), ann: env.createAgent("Ann")}
	env.permit(w.ann.ID, w.accA.ID)
	env.enable(w.ann, w.accA.ID)
	w.inA = env.seedAssigned(w.accA.ID, w.ann.ID, "393330000401", "Alice")
	// Ann was offered B's interaction while she still reached B, or a
	// worker wrote a stale event: either way B's data must not reach her.
	w.inB = env.seedAssigned(w.accB.ID, 0, "393330000402", "Bruno")
	for _, it := range []*struct {
		in  models.Interaction
		att *uint64
	}{{w.inA, &w.attA}, {w.inB, &w.attB}} {
		m := models.Message{AccountID: it.in.AccountID, InteractionID: it.in.ID, ContactID: it.in.ContactID,
			Direction: models.DirectionInbound, Kind: "media", Text: "secret of account " + fmt.Sprint(it.in.AccountID), Status: models.StatusReceived}
		require.NoError(t, env.db.Create(&m).Error)
		a := models.Attachment{MessageID: m.ID, AccountID: it.in.AccountID, SourceURL: fmt.Sprintf("https://media.example/%d.jpg", m.ID),
			Direction: models.DirectionInbound, Kind: "image", Status: models.AttachmentPending}
		require.NoError(t, env.db.Create(&a).Error)
		*it.att = a.ID
	}
	return w
}

// tenancyStream is an agent's event stream read over HTTP, event by event.
type tenancyStream struct {
	t     *testing.T
	lines *bufio.Scanner
	// Prelude is the comment the stream starts with, read by openEvents.
	prelude string
}

// openEvents opens agentID's event stream on a real server (a recorder
// cannot be read while the handler writes), resuming after lastEventID
// ("": from now), and reads its opening comment, so the stream is
// registered when it returns. It ends with the test.
func (env *cfgEnv) openEvents(token string, agentID uint64, lastEventID string) *tenancyStream {
	env.t.Helper()
	srv := httptest.NewServer(env.e)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/agents/%d/events", srv.URL, agentID), nil)
	require.NoError(env.t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := srv.Client().Do(req)
	require.NoError(env.t, err)
	env.t.Cleanup(func() {
		cancel()
		_ = resp.Body.Close()
		srv.Close()
	})
	require.Equal(env.t, http.StatusOK, resp.StatusCode)
	st := &tenancyStream{t: env.t, lines: bufio.NewScanner(resp.Body)}
	require.True(env.t, st.lines.Scan(), "the stream opens")
	st.prelude = st.lines.Text()
	return st
}

// next reads the next event (nil when the stream ended); comments and
// keep-alives are skipped.
func (st *tenancyStream) next() *sseEvent {
	var ev sseEvent
	for st.lines.Scan() {
		line := st.lines.Text()
		if line == "" {
			if ev.event != "" {
				return &ev
			}
			continue
		}
		field, value, _ := strings.Cut(line, ": ")
		switch field {
		case "id":
			ev.id = value
		case "event":
			ev.event = value
		case "data":
			ev.data = value
		}
	}
	return nil
}

// events reads agentID's event stream from the start (Last-Event-ID 0)
// up to the event whose id is last. The stream sends events in id order,
// so an earlier event that is not among them was filtered out.
func (env *cfgEnv) events(token string, agentID uint64, last string) []sseEvent {
	env.t.Helper()
	st := env.openEvents(token, agentID, "0")
	var out []sseEvent
	for ev := st.next(); ev != nil; ev = st.next() {
		out = append(out, *ev)
		if ev.id == last {
			return out
		}
	}
	require.Failf(env.t, "stream ended early", "event %s never came; got %v", last, out)
	return nil
}

// eventIDs are the ids of events.
func eventIDs(events []sseEvent) []string {
	out := []string{}
	for _, ev := range events {
		out = append(out, ev.id)
	}
	return out
}

func TestTenancyAgentReachesOnlyItsAccounts(t *testing.T) {
	// Fails before the tenancy change: Ann enabled B herself (204) and then
	// read all of it; and the event stream streamed every row of the
	// agent, whatever its account.
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		w := newTenancyWorld(t, env)
		ev := func(typ string, in models.Interaction, data string) string {
			e := models.AgentEvent{AgentID: w.ann.ID, Type: typ, InteractionID: in.ID, Data: data, DedupKey: fmt.Sprintf("%s:%d", typ, in.ID)}
			require.NoError(t, env.db.Create(&e).Error)
			return fmt.Sprint(e.ID)
		}
		contentB := ev("message.inbound", w.inB, `{"text":"secret of account B"}`)
		withdrawnB := ev("interaction.withdrawn", w.inB, fmt.Sprintf(`{"interactionId":%d}`, w.inB.ID))
		contentA := ev("message.inbound", w.inA, `{"text":"hello A"}`)

		get := func(path string) *httptest.ResponseRecorder { return env.call(http.MethodGet, path, w.ann.Token, nil) }
		listed := func(query string) []uint64 {
			t.Helper()
			l := cfgDecode[api.InteractionList](t, get("/api/interactions"+query), http.StatusOK)
			ids := []uint64{}
			for _, it := range l.Items {
				ids = append(ids, it.ID)
			}
			return ids
		}
		canned := func(accountID uint64) *httptest.ResponseRecorder {
			return get(fmt.Sprintf("/api/whatsapp/accounts/%d/canned-answers", accountID))
		}
		refusedB := func(why, code string) {
			t.Helper()
			rec := get(fmt.Sprintf("/api/interactions/%d", w.inB.ID))
			assert.Equal(t, http.StatusNotFound, rec.Code, "%s: interaction of B: %s", why, rec.Body.String())
			assert.NotContains(t, rec.Body.String(), "secret of account")
			assert.Equal(t, []uint64{w.inA.ID}, listed(""), "%s: the list holds A's only", why)
			assert.Empty(t, listed(fmt.Sprintf("?accountId=%d", w.accB.ID)), "%s: filtering on B finds nothing", why)
			rec = get(fmt.Sprintf("/api/attachments/%d", w.attB))
			assert.Equal(t, http.StatusNotFound, rec.Code, "%s: file of B: %s", why, rec.Body.String())
			rec = canned(w.accB.ID)
			require.Equal(t, http.StatusForbidden, rec.Code, "%s: canned answers of B: %s", why, rec.Body.String())
			assert.Equal(t, code, errorBody(t, rec).Code, why)
			assert.Equal(t, []string{withdrawnB, contentA}, eventIDs(env.events(w.ann.Token, w.ann.ID, contentA)),
				"%s: B's content event is not streamed; the content-free withdrawn is", why)
		}

		// The control: A is Ann's, and the admin sees everything.
		assert.Equal(t, http.StatusOK, get(fmt.Sprintf("/api/interactions/%d", w.inA.ID)).Code)
		rec := get(fmt.Sprintf("/api/attachments/%d", w.attA))
		assert.Equal(t, "attachment_pending", errorBody(t, rec).Code, "A's file is reached (not stored yet)")
		assert.Equal(t, http.StatusOK, canned(w.accA.ID).Code)
		rec = env.admin(http.MethodGet, fmt.Sprintf("/api/attachments/%d", w.attB), nil)
		assert.Equal(t, "attachment_pending", errorBody(t, rec).Code, "B's file exists")
		assert.Equal(t, []string{contentB, withdrawnB, contentA}, eventIDs(env.events(adminToken, w.ann.ID, contentA)), "the admin reads every event")

		refusedB("never permitted", "account_not_permitted")
		rec = env.call(http.MethodPut, fmt.Sprintf("/api/agents/%d/accounts/%d", w.ann.ID, w.accB.ID), w.ann.Token, nil)
		require.Equal(t, http.StatusForbidden, rec.Code, "Ann cannot let herself in: %s", rec.Body.String())
		refusedB("after her own enable was refused", "account_not_permitted")

		env.permit(w.ann.ID, w.accB.ID)
		refusedB("permitted but not enabled", "account_not_enabled")

		env.enable(w.ann, w.accB.ID)
		assert.Equal(t, http.StatusOK, get(fmt.Sprintf("/api/interactions/%d", w.inB.ID)).Code, "enabled: B is hers")
		assert.Equal(t, []uint64{w.inB.ID, w.inA.ID}, listed(""))
		assert.Equal(t, []uint64{w.inB.ID}, listed(fmt.Sprintf("?accountId=%d", w.accB.ID)))
		assert.Equal(t, "attachment_pending", errorBody(t, get(fmt.Sprintf("/api/attachments/%d", w.attB))).Code)
		assert.Equal(t, http.StatusOK, canned(w.accB.ID).Code)
		assert.Equal(t, []string{contentB, withdrawnB, contentA}, eventIDs(env.events(w.ann.Token, w.ann.ID, contentA)))
	})
}

// actOn sends the four actions on an interaction as the agent and returns
// their statuses: reply, close, transfer (to queueID), accept.
func (env *cfgEnv) actOn(ag api.AgentCreatedResponse, in models.Interaction, queueID uint64) []int {
	env.t.Helper()
	path := fmt.Sprintf("/api/interactions/%d", in.ID)
	return []int{
		env.call(http.MethodPost, path+"/messages", ag.Token, map[string]any{"text": "hello"}).Code,
		env.call(http.MethodPost, path+"/close", ag.Token, map[string]any{}).Code,
		env.call(http.MethodPost, path+"/transfer", ag.Token, map[string]any{"queueId": queueID}).Code,
		env.call(http.MethodPost, path+"/accept", ag.Token, nil).Code,
	}
}

func TestTenancyLosingAccessTakesBack(t *testing.T) {
	// Fails before the tenancy change: the permissions route did not exist,
	// and a disable deleted the link without starting any take back.
	notFound := []int{http.StatusNotFound, http.StatusNotFound, http.StatusNotFound, http.StatusNotFound}
	forEachSettingsEngine(t, func(t *testing.T, env *cfgEnv, ut *updateTemporal) {
		acc := env.createAccount("revoke")
		q := env.createQueue("back")
		ann, bob, carl := env.createAgent("Ann"), env.createAgent("Bob"), env.createAgent("Carl")
		for _, ag := range []api.AgentCreatedResponse{ann, bob, carl} {
			env.permit(ag.ID, acc.ID)
			env.enable(ag, acc.ID)
		}
		itAnn := env.seedAssigned(acc.ID, ann.ID, "393330000501", "")
		itBob := env.seedAssigned(acc.ID, bob.ID, "393330000502", "")

		// While Ann reaches the account her actions reach the workflow.
		rec := env.call(http.MethodPost, fmt.Sprintf("/api/interactions/%d/close", itAnn.ID), ann.Token, map[string]any{})
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		sent := ut.count()

		var released []string // X-Workflow-Id of each revoke
		for i := 1; i <= 2; i++ {
			rec = env.admin(http.MethodDelete, fmt.Sprintf("/api/agents/%d/permissions/%d", ann.ID, acc.ID), nil)
			require.Equal(t, http.StatusNoContent, rec.Code, "revoke #%d: %s", i, rec.Body.String())
			released = append(released, rec.Header().Get("X-Workflow-Id"))
		}
		assert.Equal(t, notFound, env.actOn(ann, itAnn, q.ID), "reply, close, transfer, accept: no longer visible")
		assert.Equal(t, sent, ut.count(), "nothing reached the workflow")
		assert.Equal(t, [2][]uint64{{}, {}}, accountsOf(env.agentView(ann)))
		rec = env.call(http.MethodPut, fmt.Sprintf("/api/agents/%d/accounts/%d", ann.ID, acc.ID), ann.Token, nil)
		assert.Equal(t, "account_not_permitted", errorBody(t, rec).Code, "she cannot enable it again")
		revoked := workflows.AgentReleaseInput{AgentID: ann.ID, AccountID: acc.ID, Reason: workflows.ReleasePermissionRevoked}
		require.Equal(t, []workflows.AgentReleaseInput{revoked, revoked}, env.temporal.releases(t), "each revoke starts the take back (a repeat finds nothing)")
		env.temporal.mu.Lock()
		assert.Equal(t, released, []string{env.temporal.starts[0].opts.ID, env.temporal.starts[1].opts.ID}, "the answer names the release workflow")
		assert.NotEqual(t, released[0], released[1], "a repeated request is a new workflow")
		env.temporal.mu.Unlock()

		// Bob disables the account himself: the same, as account_disabled,
		// and his permission stays.
		rec = env.call(http.MethodDelete, fmt.Sprintf("/api/agents/%d/accounts/%d", bob.ID, acc.ID), bob.Token, nil)
		require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
		assert.Equal(t, notFound, env.actOn(bob, itBob, q.ID))
		assert.Equal(t, sent, ut.count())
		assert.Equal(t, [2][]uint64{{acc.ID}, {}}, accountsOf(env.agentView(bob)))
		releases := env.temporal.releases(t)
		require.Len(t, releases, 3)
		assert.Equal(t, workflows.AgentReleaseInput{AgentID: bob.ID, AccountID: acc.ID, Reason: workflows.ReleaseAccountDisabled}, releases[2])

		// The engine down: the revoke is committed, the answer says to
		// repeat it, and the repeat starts the take back.
		env.temporal.mu.Lock()
		env.temporal.startErr = errors.New("connection refused")
		env.temporal.mu.Unlock()
		rec = env.admin(http.MethodDelete, fmt.Sprintf("/api/agents/%d/permissions/%d", carl.ID, acc.ID), nil)
		require.Equal(t, http.StatusServiceUnavailable, rec.Code, rec.Body.String())
		assert.Equal(t, "engine_unavailable", errorBody(t, rec).Code)
		assert.Contains(t, errorBody(t, rec).Message, "repeat the request")
		assert.Equal(t, [2][]uint64{{}, {}}, accountsOf(env.agentView(carl)), "the change is saved")
		env.temporal.mu.Lock()
		env.temporal.startErr = nil
		env.temporal.mu.Unlock()
		rec = env.admin(http.MethodDelete, fmt.Sprintf("/api/agents/%d/permissions/%d", carl.ID, acc.ID), nil)
		require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
		releases = env.temporal.releases(t)
		require.Len(t, releases, 4)
		assert.Equal(t, workflows.AgentReleaseInput{AgentID: carl.ID, AccountID: acc.ID, Reason: workflows.ReleasePermissionRevoked}, releases[3])
	})
}

func TestTenancyTokenRotation(t *testing.T) {
	// Fails before the tenancy change: POST /api/agents/{id}/token did not
	// exist, so a leaked agent token lived until the agent was deleted.
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		ann, bob := env.createAgent("Ann"), env.createAgent("Bob")
		path := fmt.Sprintf("/api/agents/%d", ann.ID)
		rotate := path + "/token"
		works := func(token string) int { return env.call(http.MethodGet, path, token, nil).Code }

		// An open stream ends when its token is rotated.
		stream := env.openEvents(ann.Token, ann.ID, "")
		assert.Equal(t, fmt.Sprintf(": stream of agent %d", ann.ID), stream.prelude)

		rec := env.call(http.MethodPost, rotate, ann.Token, nil)
		rotated := cfgDecode[api.AgentCreatedResponse](t, rec, http.StatusOK)
		assert.True(t, strings.HasPrefix(rotated.Token, "agt_"), rotated.Token)
		assert.NotEqual(t, ann.Token, rotated.Token)
		assert.Equal(t, ann.ID, rotated.ID)
		assert.NotContains(t, rec.Body.String(), ann.Token)
		assert.Equal(t, http.StatusUnauthorized, works(ann.Token), "the old token stops at once")
		assert.Equal(t, http.StatusOK, works(rotated.Token))
		var row models.Agent
		require.NoError(t, env.db.Take(&row, ann.ID).Error)
		sum := sha256.Sum256([]byte(rotated.Token))
		assert.Equal(t, hex.EncodeToString(sum[:]), row.TokenHash, "only the new token's hash is stored")

		ended := make(chan *sseEvent, 1)
		go func() { ended <- stream.next() }()
		select {
		case ev := <-ended:
			require.NotNil(t, ev, "the stream says why it ends")
			assert.Equal(t, "stream.revoked", ev.event)
			assert.Nil(t, stream.next(), "and ends")
		case <-time.After(5 * time.Second):
			t.Fatal("the stream of the rotated token is still open")
		}

		rec = env.call(http.MethodPost, rotate, bob.Token, nil)
		assert.Equal(t, http.StatusForbidden, rec.Code, "another agent")
		assert.Equal(t, "forbidden", errorBody(t, rec).Code)
		assert.Equal(t, http.StatusOK, works(rotated.Token), "a refused rotation changes nothing")

		byAdmin := cfgDecode[api.AgentCreatedResponse](t, env.admin(http.MethodPost, rotate, nil), http.StatusOK)
		assert.Equal(t, http.StatusUnauthorized, works(rotated.Token))
		assert.Equal(t, http.StatusOK, works(byAdmin.Token))
		assert.Equal(t, http.StatusOK, env.call(http.MethodGet, fmt.Sprintf("/api/agents/%d", bob.ID), bob.Token, nil).Code, "Bob's token is untouched")
		rec = env.admin(http.MethodPost, "/api/agents/999/token", nil)
		assert.Equal(t, http.StatusNotFound, rec.Code)
		assert.NotContains(t, env.logs.String(), byAdmin.Token, "no token in the logs")
	})
}

func TestTenancyAgentDeletion(t *testing.T) {
	// Fails before the tenancy change: DELETE /api/agents/{id} did not
	// exist.
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		acc := env.createAccount("leave")
		q := env.createQueue("leave")
		ann, bob := env.createAgent("Ann"), env.createAgent("Bob")
		for _, ag := range []api.AgentCreatedResponse{ann, bob} {
			env.permit(ag.ID, acc.ID)
			env.enable(ag, acc.ID)
			require.Equal(t, http.StatusNoContent, env.admin(http.MethodPut, fmt.Sprintf("/api/queues/%d/agents/%d", q.ID, ag.ID), nil).Code)
		}
		it := env.seedAssigned(acc.ID, ann.ID, "393330000601", "")
		path := fmt.Sprintf("/api/agents/%d", ann.ID)

		rec := env.call(http.MethodDelete, path, ann.Token, nil)
		assert.Equal(t, http.StatusForbidden, rec.Code, "an agent cannot delete itself")
		rec = env.admin(http.MethodDelete, path, nil)
		require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())

		assert.Equal(t, http.StatusUnauthorized, env.call(http.MethodGet, path, ann.Token, nil).Code, "the token stops at once")
		assert.Equal(t, http.StatusUnauthorized, env.call(http.MethodGet, "/api/interactions", ann.Token, nil).Code)
		rec = env.admin(http.MethodGet, path, nil)
		assert.Equal(t, http.StatusNotFound, rec.Code)
		agents := cfgDecode[[]api.AgentResponse](t, env.admin(http.MethodGet, "/api/agents", nil), http.StatusOK)
		require.Len(t, agents, 1)
		assert.Equal(t, bob.ID, agents[0].ID)
		queue := cfgDecode[api.QueueResponse](t, env.admin(http.MethodGet, fmt.Sprintf("/api/queues/%d", q.ID), nil), http.StatusOK)
		assert.Equal(t, []uint64{bob.ID}, queue.AgentIDs, "removed from the queue's members")
		var n int64
		require.NoError(t, env.db.Model(&models.AgentAccount{}).Where("agent_id = ?", ann.ID).Count(&n).Error)
		assert.Zero(t, n, "no permission left")
		var row models.Agent
		require.NoError(t, env.db.Unscoped().Take(&row, ann.ID).Error)
		sum := sha256.Sum256([]byte(ann.Token))
		assert.NotEqual(t, hex.EncodeToString(sum[:]), row.TokenHash, "not even the soft-deleted row matches the old token")

		// History stays: the interaction keeps its agent.
		var kept models.Interaction
		require.NoError(t, env.db.Take(&kept, it.ID).Error)
		require.NotNil(t, kept.AgentID)
		assert.Equal(t, ann.ID, *kept.AgentID)
		view := cfgDecode[api.InteractionResponse](t, env.admin(http.MethodGet, fmt.Sprintf("/api/interactions/%d", it.ID), nil), http.StatusOK)
		require.NotNil(t, view.AgentID)
		assert.Equal(t, ann.ID, *view.AgentID)

		assert.Equal(t, []workflows.AgentReleaseInput{{AgentID: ann.ID, AccountID: 0, Reason: workflows.ReleaseAgentDeleted}}, env.temporal.releases(t),
			"everything Ann held, on every account, is taken back")
		// Deleting again is idempotent and starts the take back again: the
		// answer to a 503 (engine down after the commit) is to repeat it.
		rec = env.admin(http.MethodDelete, path, nil)
		assert.Equal(t, http.StatusNoContent, rec.Code, "deleting twice")
		assert.Len(t, env.temporal.releases(t), 2, "a repeated delete starts the take back again")
		rec = env.admin(http.MethodDelete, "/api/agents/999999", nil)
		assert.Equal(t, http.StatusNotFound, rec.Code, "an agent that never existed")
		assert.Equal(t, "agent 999999 does not exist", errorBody(t, rec).Message)
		assert.Len(t, env.temporal.releases(t), 2, "a refused delete starts nothing")
	})
}

func TestTenancyPatchAgent(t *testing.T) {
	// Fails before the tenancy change: PATCH /api/agents/{id} did not exist.
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		acc := env.createAccount("patch-agent")
		env.seedQueuedInteraction(acc.ID)
		ann := env.createAgent("Ann")
		path := fmt.Sprintf("/api/agents/%d", ann.ID)

		got := cfgDecode[api.AgentResponse](t, env.admin(http.MethodPatch, path, map[string]any{"name": "  Ann B.  "}), http.StatusOK)
		assert.Equal(t, "Ann B.", got.Name)
		assert.Equal(t, 1, got.Capacity, "absent: unchanged")
		env.temporal.expectSignals(t, 0, "a new name makes nobody eligible")

		got = cfgDecode[api.AgentResponse](t, env.admin(http.MethodPatch, path, map[string]any{"capacity": 5}), http.StatusOK)
		assert.Equal(t, 5, got.Capacity)
		assert.Equal(t, "Ann B.", got.Name)
		env.temporal.expectSignals(t, 1, "a higher capacity wakes waiting interactions")
		got = cfgDecode[api.AgentResponse](t, env.admin(http.MethodPatch, path, map[string]any{"name": "Ann", "capacity": 2}), http.StatusOK)
		assert.Equal(t, [2]any{"Ann", 2}, [2]any{got.Name, got.Capacity})
		env.temporal.expectSignals(t, 1, "a lower one wakes nobody")

		for _, tc := range []struct {
			name  string
			body  any
			field string
			msg   string
		}{
			{"capacity zero", map[string]any{"capacity": 0}, "capacity", "want 1 to 100, got 0"},
			{"capacity too large", map[string]any{"capacity": 101}, "capacity", "got 101"},
			{"capacity not an integer", map[string]any{"capacity": "3"}, "capacity", "want an integer"},
			{"name blank", map[string]any{"name": "   "}, "name", "required"},
			{"name too long", map[string]any{"name": strings.Repeat("n", 256)}, "name", "at most 255"},
			{"valid name, bad capacity", map[string]any{"name": "Changed", "capacity": -1}, "capacity", "got -1"},
		} {
			assertFieldError(t, env.admin(http.MethodPatch, path, tc.body), tc.field, tc.msg)
		}
		rec := env.admin(http.MethodPatch, path, map[string]any{})
		assert.Equal(t, http.StatusBadRequest, rec.Code)
		assert.Contains(t, errorBody(t, rec).Message, "name, capacity")
		rec = env.admin(http.MethodPatch, path, `{"token":"mine"}`)
		assert.Equal(t, "unknown_field", errorBody(t, rec).Code)
		assert.Equal(t, http.StatusNotFound, env.admin(http.MethodPatch, "/api/agents/999", map[string]any{"capacity": 3}).Code)
		assert.Equal(t, http.StatusForbidden, env.call(http.MethodPatch, path, ann.Token, map[string]any{"capacity": 100}).Code, "the admin's")

		var row models.Agent
		require.NoError(t, env.db.Take(&row, ann.ID).Error)
		assert.Equal(t, [2]any{"Ann", 2}, [2]any{row.Name, row.Capacity}, "refused patches change nothing")
		env.temporal.expectSignals(t, 1, "refused patches wake nobody")
	})
}

func TestTenancyPatchQueue(t *testing.T) {
	// Fails before the tenancy change: PATCH /api/queues/{id} did not exist.
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		q, q2 := env.createQueue("first"), env.createQueue("second")
		gone := env.createQueue("gone")
		require.Equal(t, http.StatusNoContent, env.admin(http.MethodDelete, fmt.Sprintf("/api/queues/%d", gone.ID), nil).Code)
		path := fmt.Sprintf("/api/queues/%d", q.ID)
		patch := func(body any) api.QueueResponse {
			t.Helper()
			return cfgDecode[api.QueueResponse](t, env.admin(http.MethodPatch, path, body), http.StatusOK)
		}

		got := patch(map[string]any{"name": " Renamed "})
		assert.Equal(t, "Renamed", got.Name)
		assert.Equal(t, "round_robin", got.Strategy, "absent: unchanged")
		assert.Equal(t, "ring_all", patch(map[string]any{"strategy": "ring_all"}).Strategy)
		assert.Equal(t, 120, patch(map[string]any{"timeoutSeconds": 120}).TimeoutSeconds)
		got = patch(map[string]any{"overflowQueueId": q2.ID})
		require.NotNil(t, got.OverflowQueueID)
		assert.Equal(t, q2.ID, *got.OverflowQueueID)
		assert.Equal(t, [3]any{"Renamed", "ring_all", 120}, [3]any{got.Name, got.Strategy, got.TimeoutSeconds}, "each patch kept the others")
		var row models.Queue
		require.NoError(t, env.db.Take(&row, q.ID).Error)
		require.NotNil(t, row.OverflowQueueID)
		assert.Equal(t, q2.ID, *row.OverflowQueueID)
		assert.Equal(t, models.StrategyRingAll, row.Strategy)

		rec := env.admin(http.MethodPatch, path, `{"overflowQueueId":null}`)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		assert.Contains(t, rec.Body.String(), `"overflowQueueId":null`, "null removes the overflow")
		require.NoError(t, env.db.Take(&row, q.ID).Error)
		assert.Nil(t, row.OverflowQueueID)
		got = patch(map[string]any{"overflowQueueId": q2.ID, "timeoutSeconds": 0})
		require.NotNil(t, got.OverflowQueueID)
		assert.Zero(t, got.TimeoutSeconds, "0: wait forever")
		before := env.admin(http.MethodGet, path, nil).Body.String()

		for _, tc := range []struct {
			name  string
			body  any
			field string
			msg   string
		}{
			{"overflow into itself", map[string]any{"overflowQueueId": q.ID}, "overflowQueueId", "itself"},
			{"unknown overflow queue", map[string]any{"overflowQueueId": 999}, "overflowQueueId", "queue 999 does not exist"},
			{"deleted overflow queue", map[string]any{"overflowQueueId": gone.ID}, "overflowQueueId", fmt.Sprintf("queue %d does not exist", gone.ID)},
			{"overflow not an id", map[string]any{"overflowQueueId": "two"}, "overflowQueueId", "want a queue id"},
			{"strategy unknown", map[string]any{"strategy": "random"}, "strategy", `got "random"`},
			{"timeout negative", map[string]any{"timeoutSeconds": -1}, "timeoutSeconds", "got -1"},
			{"timeout too long", map[string]any{"timeoutSeconds": 86401}, "timeoutSeconds", "86400"},
			{"name blank", map[string]any{"name": " "}, "name", "required"},
			{"valid name, bad strategy", map[string]any{"name": "Changed", "strategy": "x"}, "strategy", `got "x"`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				assertFieldError(t, env.admin(http.MethodPatch, path, tc.body), tc.field, tc.msg)
			})
		}
		rec = env.admin(http.MethodPatch, path, map[string]any{"name": "second"})
		require.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())
		e := errorBody(t, rec)
		assert.Equal(t, "conflict", e.Code)
		assert.True(t, strings.HasPrefix(e.Message, "name: "), e.Message)
		rec = env.admin(http.MethodPatch, path, map[string]any{})
		assert.Equal(t, http.StatusBadRequest, rec.Code)
		assert.Equal(t, "invalid_request", errorBody(t, rec).Code)
		assert.Equal(t, http.StatusNotFound, env.admin(http.MethodPatch, "/api/queues/999", map[string]any{"name": "x"}).Code)
		assert.Equal(t, http.StatusNotFound, env.admin(http.MethodPatch, fmt.Sprintf("/api/queues/%d", gone.ID), map[string]any{"name": "x"}).Code)
		assert.JSONEq(t, before, env.admin(http.MethodGet, path, nil).Body.String(), "refused patches change nothing")
	})
}

// notify posts a CHANNEL_EVENT callback (it needs no workflow) of appID to
// the account, signed with secret ("" sends it unsigned).
func (env *cfgEnv) notify(accountID uint64, appID, secret string) *httptest.ResponseRecorder {
	env.t.Helper()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	body := []byte(mustJSON(env.t, map[string]any{
		"app_id": appID, "project_id": "proj-2", "accepted_time": now, "event_time": now,
		"channel_event_notification": map[string]any{"channel_event": map[string]any{
			"channel": "WHATSAPP", "event_type": "WHATS_APP_QUALITY_RATING_CHANGED", "additional_data": map[string]any{"quality_rating": "GREEN"}}},
	}))
	req := httptest.NewRequest(http.MethodPost, fmt.Sprintf("/api/whatsapp/accounts/%d/notify", accountID), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		sinch.SetSignatureHeaders(req.Header, secret, body, fmt.Sprintf("nonce-%d", time.Now().UnixNano()), time.Now())
	}
	rec := httptest.NewRecorder()
	env.e.ServeHTTP(rec, req)
	return rec
}

// base64url is the alphabet of a generated webhook secret.
var base64url = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func TestTenancyAccountWebhookSecret(t *testing.T) {
	// Fails before the tenancy change: an account without webhookSecret was
	// created (201, unsigned), any secret length was taken, and
	// generateWebhookSecret / allowUnsignedWebhooks were unknown fields.
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		create := func(mutate func(map[string]any)) *httptest.ResponseRecorder {
			body := cfgMinimalAccount(fmt.Sprintf("sec%d", time.Now().UnixNano()))
			delete(body, "webhookSecret")
			mutate(body)
			return env.admin(http.MethodPost, "/api/whatsapp/accounts", body)
		}
		assertFieldError(t, create(func(map[string]any) {}), "webhookSecret", "required")
		assertFieldError(t, create(func(b map[string]any) { b["webhookSecret"] = "" }), "webhookSecret", "required")
		assertFieldError(t, create(func(b map[string]any) { b["webhookSecret"] = "0123456789abcde" }), "webhookSecret", "at least 16 characters, got 15")
		assertFieldError(t, create(func(b map[string]any) { b["webhookSecret"], b["generateWebhookSecret"] = cfgWebhookSecret, true }),
			"generateWebhookSecret", "not both")
		var n int64
		require.NoError(t, env.db.Model(&models.Account{}).Count(&n).Error)
		assert.Zero(t, n, "nothing stored")

		// A generated secret: shown once, sealed, and it verifies callbacks.
		rec := create(func(b map[string]any) { b["generateWebhookSecret"] = true })
		acc := cfgDecode[api.AccountResponse](t, rec, http.StatusCreated)
		secret := env.generated(rec)
		assert.Len(t, secret, 43, "32 random bytes, base64url")
		assert.Regexp(t, base64url, secret)
		assert.True(t, acc.WebhookSecretSet)
		assert.False(t, acc.AllowUnsignedWebhooks)
		assert.Empty(t, acc.Warnings)
		var row models.Account
		require.NoError(t, env.db.Take(&row, acc.ID).Error)
		assert.False(t, bytes.Contains(row.WebhookSecretEnc, []byte(secret)), "sealed, not in clear")
		path := fmt.Sprintf("/api/whatsapp/accounts/%d", acc.ID)
		for _, p := range []string{path, "/api/whatsapp/accounts"} {
			rec = env.admin(http.MethodGet, p, nil)
			require.Equal(t, http.StatusOK, rec.Code)
			assert.NotContains(t, rec.Body.String(), secret, "shown once: %s", p)
			assert.NotContains(t, rec.Body.String(), `"webhookSecret"`, p)
		}
		rec = env.notify(acc.ID, "app-2", secret)
		assert.Equal(t, http.StatusOK, rec.Code, "signed with the generated secret: %s", rec.Body.String())
		rec = env.notify(acc.ID, "app-2", cfgWebhookSecret)
		assert.Equal(t, "signature_invalid", errorBody(t, rec).Code, "another secret")
		rec = env.notify(acc.ID, "app-2", "")
		assert.Equal(t, "signature_missing", errorBody(t, rec).Code, "unsigned")

		// Clearing it needs allowUnsignedWebhooks: refused and rolled back,
		// the secret still verifies.
		for _, body := range []map[string]any{{"webhookSecret": ""}, {"webhookSecret": "", "name": "renamed"}, {"allowUnsignedWebhooks": false, "webhookSecret": ""}} {
			assertFieldError(t, env.admin(http.MethodPatch, path, body), "webhookSecret", "allowUnsignedWebhooks: true")
		}
		assertFieldError(t, env.admin(http.MethodPatch, path, map[string]any{"webhookSecret": "short"}), "webhookSecret", "at least 16 characters")
		got := cfgDecode[api.AccountResponse](t, env.admin(http.MethodGet, path, nil), http.StatusOK)
		assert.Equal(t, acc.Name, got.Name, "the refused patch was rolled back")
		assert.True(t, got.WebhookSecretSet)
		rec = env.notify(acc.ID, "app-2", secret)
		assert.Equal(t, http.StatusOK, rec.Code, "the secret still works: %s", rec.Body.String())

		// PATCH generateWebhookSecret replaces it.
		rec = env.admin(http.MethodPatch, path, map[string]any{"generateWebhookSecret": true})
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		next := env.generated(rec)
		assert.NotEqual(t, secret, next)
		assert.Equal(t, "signature_invalid", errorBody(t, env.notify(acc.ID, "app-2", secret)).Code, "the old one stops")
		assert.Equal(t, http.StatusOK, env.notify(acc.ID, "app-2", next).Code)

		// Unsigned, as the admin's explicit choice: created with the warning.
		rec = create(func(b map[string]any) { b["allowUnsignedWebhooks"] = true })
		unsigned := cfgDecode[api.AccountResponse](t, rec, http.StatusCreated)
		assert.True(t, unsigned.AllowUnsignedWebhooks)
		assert.False(t, unsigned.WebhookSecretSet)
		assert.Equal(t, []string{api.WarningNoWebhookSecret}, unsigned.Warnings)
		assert.Contains(t, rec.Body.String(), `"allowUnsignedWebhooks":true`)
		assert.Equal(t, http.StatusOK, env.notify(unsigned.ID, "app-2", "").Code, "takes unsigned callbacks")
		// Taking the choice back without a secret is refused too.
		assertFieldError(t, env.admin(http.MethodPatch, fmt.Sprintf("/api/whatsapp/accounts/%d", unsigned.ID), map[string]any{"allowUnsignedWebhooks": false}),
			"webhookSecret", "refuse every callback")
		assert.Equal(t, http.StatusOK, env.notify(unsigned.ID, "app-2", "").Code, "unchanged")
		assert.Contains(t, env.logs.String(), "account created", "the audit lines are written, so the secret checks at cleanup mean something")
	})
}

func TestTenancySinchHosts(t *testing.T) {
	// Fails before the tenancy change: any https (or loopback http) baseUrl
	// and authUrl were taken, so an admin token could send the account's
	// key secret to any host.
	attacker := "https://attacker.example/oauth2/token"
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		body := cfgMinimalAccount("hosts")
		body["authUrl"] = attacker
		assertFieldError(t, env.admin(http.MethodPost, "/api/whatsapp/accounts", body), "authUrl", "SINCH_ALLOW_CUSTOM_URLS")
		body = cfgMinimalAccount("hosts")
		body["baseUrl"] = "http://127.0.0.1:8090/eu"
		assertFieldError(t, env.admin(http.MethodPost, "/api/whatsapp/accounts", body), "baseUrl", "Conversation API origin")

		// Sinch's own hosts are taken.
		body = cfgMinimalAccount("hosts")
		body["authUrl"], body["baseUrl"] = "https://us.auth.sinch.com/oauth2/token", "https://us.conversation.api.sinch.com"
		acc := cfgDecode[api.AccountResponse](t, env.admin(http.MethodPost, "/api/whatsapp/accounts", body), http.StatusCreated)
		path := fmt.Sprintf("/api/whatsapp/accounts/%d", acc.ID)
		got := cfgDecode[api.AccountResponse](t, env.admin(http.MethodPatch, path, map[string]any{"authUrl": "https://auth.sinch.com/oauth2/token"}), http.StatusOK)
		assert.Equal(t, "https://auth.sinch.com/oauth2/token", got.AuthURL)
		assertFieldError(t, env.admin(http.MethodPatch, path, map[string]any{"authUrl": attacker}), "authUrl", "not a Sinch host")
		assert.Equal(t, got, cfgDecode[api.AccountResponse](t, env.admin(http.MethodGet, path, nil), http.StatusOK), "unchanged")
	})
	forEachCfgEngineWith(t, allowCustomURLs, func(t *testing.T, env *cfgEnv) {
		body := cfgMinimalAccount("custom")
		body["authUrl"], body["baseUrl"] = attacker, "http://127.0.0.1:8090/eu"
		acc := cfgDecode[api.AccountResponse](t, env.admin(http.MethodPost, "/api/whatsapp/accounts", body), http.StatusCreated)
		assert.Equal(t, attacker, acc.AuthURL, "SINCH_ALLOW_CUSTOM_URLS: the admin's choice")
		assert.Equal(t, "http://127.0.0.1:8090/eu", acc.BaseURL)
	})
}

func TestTenancyWebhookSignedByDefault(t *testing.T) {
	// Fails before the tenancy change: an account without a secret took
	// every unsigned callback (200), allowUnsignedWebhooks or not.
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			w := newWebhookEnv(t, engine, "01HAPP", fixtureSecret)
			nothingStored := func(why string) {
				t.Helper()
				for _, m := range []any{&models.Message{}, &models.Contact{}, &models.Interaction{}, &models.WebhookNonce{}} {
					var n int64
					require.NoError(t, w.db.Model(m).Count(&n).Error)
					assert.Zero(t, n, "%s: no %T", why, m)
				}
				assert.Empty(t, w.tc.started, why)
				assert.Empty(t, w.tc.signals, why)
			}

			w.sign = false
			rec := w.post(t, waText("01HMSG", "393331234567", "CONVERSATION"), "")
			assert.Equal(t, http.StatusUnauthorized, rec.Code)
			assert.Equal(t, "signature_missing", errorBody(t, rec).Code)
			nothingStored("unsigned, to an account with a secret")

			// A row without a secret that does not allow unsigned callbacks
			// (not written by the API, which refuses it) takes none.
			require.NoError(t, w.db.Model(&models.Account{}).Where("id = ?", w.acc.ID).
				Updates(map[string]any{"webhook_secret_enc": nil, "allow_unsigned_webhooks": false}).Error)
			rec = w.post(t, waText("01HMSG", "393331234567", "CONVERSATION"), "")
			assert.Equal(t, http.StatusUnauthorized, rec.Code)
			assert.Equal(t, "webhook_secret_missing", errorBody(t, rec).Code)
			w.sign = true
			rec = w.post(t, waText("01HMSG", "393331234567", "CONVERSATION"), "n-signed")
			assert.Equal(t, "webhook_secret_missing", errorBody(t, rec).Code, "a signature cannot be checked without a secret")
			nothingStored("no secret, unsigned not allowed")
			var h models.WebhookHealth
			require.NoError(t, w.db.Take(&h, "account_id = ?", w.acc.ID).Error)
			assert.Equal(t, "webhook_secret_missing", h.LastSignatureFailureCode, "shown in the diagnostics")
			assert.EqualValues(t, 3, h.SignatureFailures)
			// The account says so, rather than "unsigned callbacks accepted".
			get := do(w.e, http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d", w.acc.ID), "", map[string]string{"Authorization": "Bearer " + adminToken})
			acc := cfgDecode[api.AccountResponse](t, get, http.StatusOK)
			assert.Equal(t, []string{api.WarningWebhookRefused}, acc.Warnings)
		})
	}
}

func TestTenancyWebhookForeignApp(t *testing.T) {
	// Fails before the tenancy change: a callback of another app was a 503
	// app_mismatch (Sinch retried it for days) after the signature check
	// had recorded it as verified, so the diagnostics showed nothing.
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			env := newDiagEnv(t, engine)
			rec := env.postCallbackOf("app-other", diagWebhookSecret, "RED")
			require.Equal(t, http.StatusForbidden, rec.Code, rec.Body.String())
			assert.Equal(t, "app_id_mismatch", errorBody(t, rec).Code)

			_, c := env.diagnose(nil)
			check := c[api.CheckSignatureFailure]
			assert.Equal(t, api.CheckFail, check.Status, check.Message)
			assert.Contains(t, check.Message, "app_id_mismatch")
			assert.Contains(t, check.Message, `"app-other"`)
			assert.Contains(t, check.Fix, "another Sinch app")
			assert.NotEqual(t, api.CheckPass, c[api.CheckLastCallback].Status, "no callback was verified")

			var acc models.Account
			require.NoError(t, env.db.Take(&acc, env.account).Error)
			assert.Empty(t, acc.QualityRating, "the refused callback changed nothing")
			var n int64
			require.NoError(t, env.db.Model(&models.AccountEvent{}).Count(&n).Error)
			assert.Zero(t, n)

			require.Equal(t, http.StatusOK, env.postCallback(diagWebhookSecret, "GREEN").Code, "the account's own app")
			_, c = env.diagnose(nil)
			assert.Equal(t, api.CheckWarn, c[api.CheckSignatureFailure].Status, "callbacks were verified since")
		})
	}
}

// deliveryReport is a MESSAGE_DELIVERY callback of app 01HAPP naming the
// workflow in its metadata (metaWorkflow) or correlation_id (correlation).
func deliveryReport(t *testing.T, metaWorkflow, correlation string) []byte {
	meta := ""
	if metaWorkflow != "" {
		meta = mustJSON(t, map[string]any{"workflowId": metaWorkflow, "messageId": 7, "attempt": 1})
	}
	report := map[string]any{
		"message_id": "01HOUT", "conversation_id": "01HCONV", "status": "DELIVERED", "contact_id": "01HCONT",
		"metadata": meta, "processing_mode": "CONVERSATION",
		"channel_identity": map[string]any{"channel": "WHATSAPP", "identity": "393331234567", "app_id": "01HAPP"},
	}
	return []byte(mustJSON(t, map[string]any{
		"app_id": "01HAPP", "project_id": "p", "accepted_time": "2026-11-21T09:00:01Z", "event_time": "2026-11-21T09:00:00Z",
		"correlation_id": correlation, "message_delivery_report": report,
	}))
}

func TestTenancyDeliveryReportOfAnotherAccount(t *testing.T) {
	// Fails before the tenancy change: the workflow id in the metadata (or
	// correlation_id) was signalled whatever account it belonged to.
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			w := newWebhookEnv(t, engine, "01HAPP", fixtureSecret)
			other := models.Account{Name: "Other", Key: "other", PublicURL: "https://motion.example.com", Type: models.AccountTypeSinchV2,
				Region: models.RegionEU, ProjectID: "p", AppID: "01HOTHER", KeyID: "k", Phone: "+390212345679", Channels: "WHATSAPP"}
			require.NoError(t, w.db.Create(&other).Error)
			foreign := workflows.ConversationWorkflowID(other.ID, "WHATSAPP", "393331234567")
			own := workflows.ConversationWorkflowID(w.acc.ID, "WHATSAPP", "393331234567")
			ignored := func(body []byte, nonce, field string) {
				t.Helper()
				rec := w.post(t, body, nonce)
				require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
				resp := cfgDecode[api.WebhookResponse](t, rec, http.StatusOK)
				assert.Equal(t, "ignored", resp.Status)
				assert.Equal(t, field+" names a workflow of another account", resp.Reason)
			}

			ignored(deliveryReport(t, foreign, ""), "n-meta", "message_delivery_report.metadata.workflowId")
			ignored(deliveryReport(t, "", foreign), "n-corr", "correlation_id")
			ignored(deliveryReport(t, "migration/1/1", ""), "n-other-kind", "message_delivery_report.metadata.workflowId")
			assert.Empty(t, w.tc.signals, "no signal reached another account's workflow")
			assert.Empty(t, w.tc.started)

			var evs []models.AccountEvent
			require.NoError(t, w.db.Order("id").Find(&evs).Error)
			require.Len(t, evs, 3, "each one recorded for the admin")
			for i, field := range []string{"message_delivery_report.metadata.workflowId", "correlation_id", "message_delivery_report.metadata.workflowId"} {
				assert.Equal(t, w.acc.ID, evs[i].AccountID, "on the account that received it")
				assert.Equal(t, inbound.AccountEventForeignID, evs[i].Kind)
				assert.Equal(t, field, evs[i].Type)
			}
			assert.Contains(t, evs[0].Payload, foreign)

			// The account's own conversation still gets its report.
			rec := w.post(t, deliveryReport(t, own, ""), "n-own")
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			require.Len(t, w.tc.signals, 1)
			assert.Equal(t, own, w.tc.signals[0].workflowID)
			assert.Equal(t, workflows.DeliverySignalName, w.tc.signals[0].name)
			d, ok := w.tc.signals[0].arg.(workflows.DeliverySignal)
			require.True(t, ok)
			assert.Equal(t, "01HOUT", d.MessageID)
			assert.EqualValues(t, 7, d.RefMessageID)
		})
	}
}
