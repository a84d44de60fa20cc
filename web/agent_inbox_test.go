package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/models"
)

// agentFixture is an account the env's agent has enabled, with dispositions,
// a queue, a colleague and a conversation assigned to the agent in which
// the customer wrote twice.
type agentFixture struct {
	acc       models.Account
	queue     models.Queue
	colleague models.Agent
	contact   models.Contact
	it        models.Interaction
}

func newAgentFixture(t *testing.T, v *env) agentFixture {
	t.Helper()
	var f agentFixture
	f.acc = models.Account{Name: "Acme <b>Support</b>", Key: "acme", PublicURL: "https://motion.example.com", Type: models.AccountTypeSinchV2,
		Region: models.RegionEU, ProjectID: "proj-acme", AppID: "01HACMEAPP", KeyID: "key-acme", Phone: "+390212345678", Channels: "WHATSAPP,INSTAGRAM"}
	require.NoError(t, v.db.Create(&f.acc).Error)
	f.queue = models.Queue{Name: "Billing", Strategy: models.StrategyRoundRobin}
	require.NoError(t, v.db.Create(&f.queue).Error)
	require.NoError(t, v.db.Create(&models.QueueAccount{QueueID: f.queue.ID, AccountID: f.acc.ID}).Error)
	f.colleague = models.Agent{Name: "Bea", Capacity: 2, TokenHash: "x", Presence: models.PresenceAvailable}
	require.NoError(t, v.db.Create(&f.colleague).Error)
	for _, id := range []uint64{v.agent, f.colleague.ID} {
		require.NoError(t, v.db.Create(&models.AgentAccount{AgentID: id, AccountID: f.acc.ID, Enabled: true}).Error)
	}
	for _, d := range []string{"Solved", "Call back"} {
		require.NoError(t, v.db.Create(&models.Disposition{AccountID: f.acc.ID, Name: d}).Error)
	}
	f.contact = models.Contact{AccountID: f.acc.ID, Channel: models.ChannelWhatsApp, Identity: "393330000001", DisplayName: "Maria"}
	require.NoError(t, v.db.Create(&f.contact).Error)
	opened := v.now.Add(-time.Hour)
	f.it = models.Interaction{Key: "k-1", WorkflowID: fmt.Sprintf("interaction/%d/%s", f.acc.ID, f.contact.Identity), AccountID: f.acc.ID,
		ContactID: f.contact.ID, Channel: models.ChannelWhatsApp, Status: models.InteractionAssigned, OpenedAt: opened,
		QueueID: &f.queue.ID, AgentID: &v.agent, AssignedAt: &opened, FirstAssignedAt: &opened, LastMessageAt: &opened}
	require.NoError(t, v.db.Create(&f.it).Error)
	f.customerWrites(t, v, "My order is late", opened)
	f.customerWrites(t, v, "Second message", opened.Add(time.Minute))
	return f
}

func (f agentFixture) customerWrites(t *testing.T, v *env, text string, at time.Time) {
	t.Helper()
	m := models.Message{InteractionID: f.it.ID, AccountID: f.acc.ID, ContactID: f.contact.ID, Direction: models.DirectionInbound,
		Kind: "text", Text: text, Status: models.StatusReceived, CreatedAt: at, ProviderTime: &at}
	m.StatusRank = m.Status.Rank()
	require.NoError(t, v.db.Create(&m).Error)
}

var unreadTotal = regexp.MustCompile(`id="unread-count"[^>]*>([^<]*)<`)

// inboxUnread is the inbox's total unread line.
func inboxUnread(t *testing.T, v *env, ck *http.Cookie) string {
	t.Helper()
	rec := v.do(http.MethodGet, "/console/agent/inbox/list", nil, []*http.Cookie{ck}, map[string]string{"HX-Request": "true"})
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	m := unreadTotal.FindStringSubmatch(rec.Body.String())
	require.NotNil(t, m, rec.Body.String())
	return m[1]
}

// The inbox is the API's: account names, previews, unread counts and the
// window; the conversation marks what it shows as read and offers the
// account's dispositions and transfer targets by name.
func TestAgentInboxReadMarksAndOptions(t *testing.T) {
	for _, engine := range []models.Engine{models.SQLite, models.Postgres} {
		t.Run(string(engine), func(t *testing.T) { testAgentInbox(t, engine) })
	}
}

func testAgentInbox(t *testing.T, engine models.Engine) {
	v := newEnv(t, engine)
	f := newAgentFixture(t, v)
	ck, _ := v.signin(v.token)
	require.NotNil(t, ck)

	rec := v.do(http.MethodGet, "/console/agent/inbox", nil, []*http.Cookie{ck}, nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	body := rec.Body.String()
	assert.Contains(t, body, `<span class="badge account">Acme &lt;b&gt;Support&lt;/b&gt;</span>`)
	assert.Contains(t, body, fmt.Sprintf(`<option value="%d">Acme &lt;b&gt;Support&lt;/b&gt;</option>`, f.acc.ID), "the filter names the account")
	assert.Contains(t, body, `aria-label="2 unread"`)
	assert.Contains(t, body, `<p class="preview">Second message</p>`)
	assert.Contains(t, body, `data-countdown="2026-12-04T08:01:00Z"`, "the window: 24 h after the customer's latest message")
	assert.NotContains(t, body, "Offered to you")
	assert.Equal(t, "2 unread", inboxUnread(t, v, ck))
	// The settings name the account too.
	rec = v.do(http.MethodGet, "/console/agent/settings", nil, []*http.Cookie{ck}, nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Contains(t, rec.Body.String(), fmt.Sprintf(`<span id="account-%d-label" class="switch-label">Acme &lt;b&gt;Support&lt;/b&gt;</span>`, f.acc.ID))

	// The filters apply to the API's answer.
	for q, shown := range map[string]bool{"unread=1": true, "channel=INSTAGRAM": false, "channel=WHATSAPP": true,
		fmt.Sprintf("accountId=%d", f.acc.ID): true, fmt.Sprintf("accountId=%d", f.acc.ID+1): false} {
		rec = v.do(http.MethodGet, "/console/agent/inbox/list?"+q, nil, []*http.Cookie{ck}, map[string]string{"HX-Request": "true"})
		require.Equal(t, http.StatusOK, rec.Code, q)
		assert.Equal(t, shown, regexp.MustCompile(`class="conv[ "]`).MatchString(rec.Body.String()), q)
		assert.Equal(t, !shown, regexp.MustCompile(`No conversation matches these filters`).MatchString(rec.Body.String()), q)
	}

	// A thread refreshed while the page is out of view reads nothing.
	thread := fmt.Sprintf("/console/agent/conversations/%d/thread", f.it.ID)
	rec = v.do(http.MethodGet, thread+"?unseen=1", nil, []*http.Cookie{ck}, map[string]string{"HX-Request": "true"})
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, "2 unread", inboxUnread(t, v, ck))

	// Showing the conversation reads it.
	rec = v.do(http.MethodGet, fmt.Sprintf("/console/agent/conversations/%d", f.it.ID), nil, []*http.Cookie{ck}, nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	body = rec.Body.String()
	assert.Equal(t, "No unread messages", inboxUnread(t, v, ck))
	assert.Contains(t, body, `<span class="badge account">Acme &lt;b&gt;Support&lt;/b&gt;</span>`)
	assert.Contains(t, body, `<select id="disposition" name="disposition" required`)
	assert.Contains(t, body, `<option value="Solved">Solved</option>`)
	assert.Contains(t, body, `<option value="Call back">Call back</option>`)
	assert.Contains(t, body, fmt.Sprintf(`<option value="queue:%d">Billing</option>`, f.queue.ID))
	assert.Contains(t, body, fmt.Sprintf(`<option value="agent:%d">Bea (available)</option>`, f.colleague.ID))
	assert.NotContains(t, body, fmt.Sprintf(`value="agent:%d"`, v.agent), "not to oneself")
	assert.Contains(t, body, "The conversation is the chosen agent's at once")
	assert.Contains(t, body, `data-countdown="2026-12-04T08:01:00Z"`)
	assert.NotContains(t, body, " style=")

	// A message shown live is read too.
	f.customerWrites(t, v, "Hello?", v.now.Add(-time.Minute))
	assert.Equal(t, "1 unread", inboxUnread(t, v, ck))
	rec = v.do(http.MethodGet, thread, nil, []*http.Cookie{ck}, map[string]string{"HX-Request": "true"})
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Contains(t, rec.Body.String(), "Hello?")
	assert.Equal(t, "No unread messages", inboxUnread(t, v, ck))

	// A transfer needs a target from the list.
	var sess models.ConsoleSession
	require.NoError(t, v.db.Take(&sess).Error)
	rec = v.do(http.MethodPost, fmt.Sprintf("/console/agent/conversations/%d/transfer", f.it.ID), url.Values{"target": {"agent:abc"}},
		[]*http.Cookie{ck}, map[string]string{"HX-Request": "true", "X-CSRF-Token": sess.CSRF})
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, rec.Body.String(), "Choose a queue or an agent from the list.")

	// Limits on the account: a target agent must accept in time; without
	// dispositions, the close takes any text.
	require.NoError(t, v.db.Where("account_id = ?", f.acc.ID).Delete(&models.Disposition{}).Error)
	require.NoError(t, v.db.Model(&f.acc).Update("transfer_options", fmt.Sprintf(`{"queues":[],"agents":[%d],"returnToQueueAfterSeconds":90}`, f.colleague.ID)).Error)
	rec = v.do(http.MethodGet, fmt.Sprintf("/console/agent/conversations/%d", f.it.ID), nil, []*http.Cookie{ck}, nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	body = rec.Body.String()
	assert.Contains(t, body, `<input type="text" id="disposition" name="disposition"`)
	assert.Contains(t, body, "must accept within 90 seconds")
	assert.NotContains(t, body, `value="queue:`)
	assert.Contains(t, body, fmt.Sprintf(`<option value="agent:%d">Bea (available)</option>`, f.colleague.ID))
}
