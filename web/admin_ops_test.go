package web_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/internal/secretbox"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/web"
	"github.com/xcally-connector/connector/workflows"
)

const opsTemporalUI = "http://temporal.example:8233"

// opsTemporal stands in for the Temporal client of the migration routes:
// it records the workflows started and the signals sent (any other
// method panics through the nil embedded interface).
type opsTemporal struct {
	client.Client
	mu      sync.Mutex
	started []string
	signals []string
}

func (f *opsTemporal) ExecuteWorkflow(_ context.Context, opts client.StartWorkflowOptions, _ any, _ ...any) (client.WorkflowRun, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started = append(f.started, opts.ID)
	return nil, nil
}

func (f *opsTemporal) SignalWorkflow(_ context.Context, id, _ string, name string, _ any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signals = append(f.signals, name+" "+id)
	return nil
}

// opsEnv is env (session_test.go) with the engine fake, a secret box and
// the Temporal UI's address, and an account, a queue and interactions.
type opsEnv struct {
	*env
	temporal *opsTemporal
	acme     models.Account
	beta     models.Account
	queue    models.Queue
	// inRange are the interactions opened on 30 November 2026 per
	// account; outside the one opened the day before.
	inRange map[uint64][]uint64
	outside uint64
	// script is the interaction of the customer named <script>.
	script uint64
}

func newOpsEnv(t *testing.T, engine models.Engine) *opsEnv {
	t.Helper()
	db := testdb.Open(t, engine)
	box, err := secretbox.New(bytes.Repeat([]byte{7}, 32))
	require.NoError(t, err)
	tc := &opsTemporal{}
	v := &env{t: t, db: db, now: time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC), token: "agent-token-abcdef0123456789"}
	v.e = api.New(api.Deps{DB: db, Temporal: tc, Secrets: box, AdminToken: adminToken, TaskQueue: "q",
		AuthFailureBurst: 5, AuthFailureEvery: time.Minute, Migrations: workflows.MigrationSettings{ConfirmTimeout: 48 * time.Hour}})
	web.Register(v.e, web.Deps{DB: db, API: v.e, SessionIdle: time.Hour, SessionMax: 3 * time.Hour, Now: func() time.Time { return v.now },
		TemporalUIURL: opsTemporalUI, TemporalNamespace: "default"})
	o := &opsEnv{env: v, temporal: tc, inRange: map[uint64][]uint64{}}

	agent := models.Agent{Name: "Ada <script>alert(1)</script>", Capacity: 2, TokenHash: hashOf(v.token)}
	require.NoError(t, db.Create(&agent).Error)
	v.agent = agent.ID
	mkAccount := func(name, key, app string) models.Account {
		a := models.Account{Name: name, Key: key, PublicURL: "https://motion.example.com", Type: models.AccountTypeSinchV2,
			Region: models.RegionEU, ProjectID: "proj-" + key, AppID: app, KeyID: "key-" + key, Phone: "+390212345678", Channels: "WHATSAPP,INSTAGRAM"}
		require.NoError(t, db.Create(&a).Error)
		return a
	}
	o.acme, o.beta = mkAccount("Acme", "acme", "01HACMEAPP"), mkAccount("Beta", "beta", "01HBETAAPP")
	o.queue = models.Queue{Name: "Support", Strategy: models.StrategyRoundRobin}
	require.NoError(t, db.Create(&o.queue).Error)

	day := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	seq := 0
	mk := func(acc models.Account, name string, opened time.Time, status models.InteractionStatus, withAgent bool) models.Interaction {
		seq++
		c := models.Contact{AccountID: acc.ID, Channel: models.ChannelWhatsApp, Identity: fmt.Sprintf("39333%06d", seq), DisplayName: name}
		require.NoError(t, db.Create(&c).Error)
		in := models.Interaction{Key: fmt.Sprintf("k-%d", seq), WorkflowID: fmt.Sprintf("interaction/%d/%s", acc.ID, c.Identity),
			AccountID: acc.ID, ContactID: c.ID, Channel: models.ChannelWhatsApp, Status: status, OpenedAt: opened, QueueID: &o.queue.ID, MessagesIn: 1}
		if withAgent {
			in.AgentID = &agent.ID
			in.AssignedAt, in.FirstAssignedAt = &opened, &opened
		}
		if status == models.InteractionClosed {
			closed := opened.Add(time.Hour)
			in.ClosedAt, in.CloseReason = &closed, "agent"
		}
		require.NoError(t, db.Create(&in).Error)
		msg := models.Message{InteractionID: in.ID, AccountID: acc.ID, ContactID: c.ID, Direction: models.DirectionInbound,
			Kind: "text", Text: "Hello from " + name, Status: models.StatusReceived, CreatedAt: opened}
		msg.StatusRank = msg.Status.Rank()
		require.NoError(t, db.Create(&msg).Error)
		return in
	}
	for i, name := range []string{"Maria", "<script>alert(2)</script>", "Luca"} {
		st := []models.InteractionStatus{models.InteractionClosed, models.InteractionAssigned, models.InteractionQueued}[i]
		in := mk(o.acme, name, day.Add(time.Duration(i)*time.Hour), st, st != models.InteractionQueued)
		o.inRange[o.acme.ID] = append(o.inRange[o.acme.ID], in.ID)
		if i == 1 {
			o.script = in.ID
		}
	}
	in := mk(o.beta, "Giulia", day.Add(5*time.Hour), models.InteractionAssigned, true)
	o.inRange[o.beta.ID] = append(o.inRange[o.beta.ID], in.ID)
	o.outside = mk(o.acme, "Old", day.Add(-24*time.Hour), models.InteractionClosed, true).ID
	// A reply that failed, for the deliveries report.
	failed := models.Message{InteractionID: o.script, AccountID: o.acme.ID, Direction: models.DirectionOutbound, AgentID: &agent.ID, Kind: "text",
		Text: "Sorry", Status: models.StatusFailed, ReasonCode: "RECIPIENT_NOT_REACHABLE", CreatedAt: day.Add(90 * time.Minute)}
	var scriptIn models.Interaction
	require.NoError(t, db.Take(&scriptIn, o.script).Error)
	failed.ContactID = scriptIn.ContactID
	failed.StatusRank = failed.Status.Rank()
	require.NoError(t, db.Create(&failed).Error)
	return o
}

func hashOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// admin signs in with the admin token: the session cookie and its CSRF
// token.
func (o *opsEnv) admin() (*http.Cookie, string) {
	o.t.Helper()
	ck, rec := o.signin(adminToken)
	require.NotNil(o.t, ck, rec.Body.String())
	var sess models.ConsoleSession
	require.NoError(o.t, o.db.Where("admin = ?", true).Order("id DESC").Take(&sess).Error)
	return ck, sess.CSRF
}

// get is a GET of the console as ck.
func (o *opsEnv) get(ck *http.Cookie, target string) *httptest.ResponseRecorder {
	o.t.Helper()
	return o.do(http.MethodGet, target, nil, []*http.Cookie{ck}, nil)
}

// apiGet is a GET of the API with the admin token, its status and body.
func (o *opsEnv) apiGet(target string) (int, string) {
	o.t.Helper()
	rec := o.do(http.MethodGet, target, nil, nil, map[string]string{"Authorization": "Bearer " + adminToken})
	return rec.Code, rec.Body.String()
}

var (
	drillLink = regexp.MustCompile(`<a href="(/console/admin/interactions\?[^"]*)" class="drill"[^>]*>(\d+)</a>`)
	rowID     = regexp.MustCompile(`<tr data-id="(\d+)">`)
	olderLink = regexp.MustCompile(`<a class="button secondary" href="([^"]+)" id="older">`)
)

// listed are the interaction ids a console interactions page shows.
func listed(body string) []uint64 {
	var ids []uint64
	for _, m := range rowID.FindAllStringSubmatch(body, -1) {
		id, _ := strconv.ParseUint(m[1], 10, 64)
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func sorted(ids []uint64) []uint64 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// openedLinks are the drill-down links of the opened counts (the others
// name a figure).
func openedLinks(all [][]string) [][]string {
	var out [][]string
	for _, l := range all {
		if !strings.Contains(l[1], "figure=") {
			out = append(out, l)
		}
	}
	return out
}

func TestAdminOpsReports(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			o := newOpsEnv(t, engine)
			ck, _ := o.admin()
			q := "from=2026-11-30&to=2026-11-30&tz=UTC"

			// By account: one row per account with its opened count, each
			// count a link to exactly the interactions it counts.
			rec := o.get(ck, "/console/admin/reports?report=interactions&groupBy=account&"+q)
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			body := rec.Body.String()
			assert.Contains(t, body, "Acme (#"+strconv.FormatUint(o.acme.ID, 10)+")")
			assert.Contains(t, body, `data-chart="`, "a chart of the table's numbers")
			assert.Contains(t, body, `<link rel="stylesheet" href="/console/static/ops.css">`)
			assert.NotContains(t, body, " style=", "no inline style")
			all := drillLink.FindAllStringSubmatch(body, -1)
			links := openedLinks(all)
			require.Len(t, links, 3, "an opened link per account and the total")
			require.Len(t, all, 3*7, "and one per figure that counts interactions")
			for _, l := range all {
				if strings.Contains(l[1], "figure=") {
					n, _ := strconv.Atoi(l[2])
					assert.Len(t, listed(o.get(ck, html.UnescapeString(l[1])).Body.String()), n, "the interactions behind %s", l[1])
				}
			}
			want := map[int][]uint64{0: o.inRange[o.acme.ID], 1: o.inRange[o.beta.ID], 2: append(slices.Clone(o.inRange[o.acme.ID]), o.inRange[o.beta.ID]...)}
			for i, l := range links {
				n, _ := strconv.Atoi(l[2])
				assert.Equal(t, len(want[i]), n, "row %d", i)
				page := o.get(ck, html.UnescapeString(l[1]))
				require.Equal(t, http.StatusOK, page.Code, page.Body.String())
				assert.Equal(t, sorted(want[i]), listed(page.Body.String()), "the interactions behind %s", l[1])
				assert.NotContains(t, page.Body.String(), strconv.FormatUint(o.outside, 10)+`">`, "opened outside the range")
			}
			// The drill-down query is the API's interactionsUrl, as it is.
			var apiRep struct {
				Rows []struct {
					InteractionsURL string `json:"interactionsUrl"`
				} `json:"rows"`
			}
			code, raw := o.apiGet("/api/reports/interactions?groupBy=account&" + q)
			require.Equal(t, http.StatusOK, code, raw)
			require.NoError(t, json.Unmarshal([]byte(raw), &apiRep))
			require.Len(t, apiRep.Rows, 2)
			assert.Equal(t, strings.Replace(apiRep.Rows[0].InteractionsURL, "/api/interactions", "/console/admin/interactions", 1), html.UnescapeString(links[0][1]))

			// The list pages as the API pages.
			first := o.get(ck, html.UnescapeString(links[2][1])+"&limit=2")
			require.Equal(t, http.StatusOK, first.Code)
			page1 := listed(first.Body.String())
			require.Len(t, page1, 2)
			older := olderLink.FindStringSubmatch(first.Body.String())
			require.NotNil(t, older, "a link to the older page")
			second := o.get(ck, html.UnescapeString(older[1]))
			page2 := listed(second.Body.String())
			assert.Equal(t, sorted(want[2]), sorted(append(page1, page2...)))
			assert.NotContains(t, second.Body.String(), `id="older"`, "the last page")

			// Every group-by of both reports renders (its rows' links, for
			// the interactions report).
			for _, g := range []string{"queue", "agent", "channel", "disposition", "day", "week"} {
				rec := o.get(ck, "/console/admin/reports?report=interactions&groupBy="+g+"&"+q)
				require.Equal(t, http.StatusOK, rec.Code, g)
				ls := openedLinks(drillLink.FindAllStringSubmatch(rec.Body.String(), -1))
				require.NotEmpty(t, ls, g)
				total := ls[len(ls)-1]
				assert.Equal(t, "4", total[2], g)
				var sum int
				for _, l := range ls[:len(ls)-1] {
					n, _ := strconv.Atoi(l[2])
					sum += n
					assert.Len(t, listed(o.get(ck, html.UnescapeString(l[1])).Body.String()), n, "%s: %s", g, l[1])
				}
				assert.Equal(t, 4, sum, "%s: the rows partition the total", g)
			}
			for _, g := range []string{"account", "channel", "class", "code", "day"} {
				rec := o.get(ck, "/console/admin/reports?report=deliveries&groupBy="+g+"&"+q)
				require.Equal(t, http.StatusOK, rec.Code, g)
				assert.Contains(t, rec.Body.String(), `<td class="num" data-label="Failed">1</td>`, g)
			}
			rec = o.get(ck, "/console/admin/reports?report=deliveries&groupBy=code&"+q)
			assert.Contains(t, rec.Body.String(), "<code>RECIPIENT_NOT_REACHABLE</code>")
			assert.Contains(t, rec.Body.String(), "100.0 %")

			// A bad parameter shows the API's 400 message.
			code, raw = o.apiGet("/api/reports/interactions?groupBy=hour&" + q)
			require.Equal(t, http.StatusBadRequest, code)
			var apiErr api400
			require.NoError(t, json.Unmarshal([]byte(raw), &apiErr))
			require.NotEmpty(t, apiErr.Error.Message)
			rec = o.get(ck, "/console/admin/reports?report=interactions&groupBy=hour&"+q)
			assert.Equal(t, http.StatusBadRequest, rec.Code)
			assert.Contains(t, html.UnescapeString(rec.Body.String()), apiErr.Error.Message)
			assert.Contains(t, rec.Body.String(), `id="report-error"`)
			rec = o.get(ck, "/console/admin/reports?report=interactions&from=2026-12-02&to=2026-12-01")
			assert.Equal(t, http.StatusBadRequest, rec.Code)
			assert.Contains(t, html.UnescapeString(rec.Body.String()), "must be after from")
			// The interactions list shows the API's message too.
			rec = o.get(ck, "/console/admin/interactions?status=lost")
			assert.Equal(t, http.StatusBadRequest, rec.Code)
			assert.Contains(t, html.UnescapeString(rec.Body.String()), `status: want queued, assigned, closed or open, got "lost"`)

			// The CSV download is the API's CSV.
			for _, report := range []string{"interactions", "deliveries"} {
				rec = o.get(ck, "/console/admin/reports/csv?report="+report+"&groupBy=account&"+q)
				require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
				assert.Equal(t, "text/csv; charset=utf-8", rec.Header().Get("Content-Type"))
				assert.Contains(t, rec.Header().Get("Content-Disposition"), "attachment")
				code, raw = o.apiGet("/api/reports/" + report + "?groupBy=account&format=csv&" + q)
				require.Equal(t, http.StatusOK, code)
				assert.Equal(t, raw, rec.Body.String(), report)
				recs, err := csv.NewReader(strings.NewReader(rec.Body.String())).ReadAll()
				require.NoError(t, err)
				assert.Equal(t, "total", recs[len(recs)-1][0], report)
				assert.Equal(t, map[string]int{"interactions": 4, "deliveries": 3}[report], len(recs), "%s: a header, the accounts with figures, the total", report)
			}
			// The page's download link is that route with the form's query.
			rec = o.get(ck, "/console/admin/reports?report=interactions&groupBy=account&"+q)
			assert.Contains(t, rec.Body.String(), `href="/console/admin/reports/csv?from=2026-11-30&amp;groupBy=account&amp;report=interactions&amp;to=2026-11-30&amp;tz=UTC"`)

			// The live overview, and its fragment that refreshes itself.
			assert.Contains(t, rec.Body.String(), `hx-trigger="every 10s"`)
			rec = o.get(ck, "/console/admin/reports/live?accountId="+strconv.FormatUint(o.acme.ID, 10))
			require.Equal(t, http.StatusOK, rec.Code)
			live := rec.Body.String()
			assert.True(t, strings.HasPrefix(strings.TrimSpace(live), `<section id="live"`), "the fragment alone")
			assert.Contains(t, live, `hx-get="/console/admin/reports/live?accountId=`+strconv.FormatUint(o.acme.ID, 10)+`"`)
			m := regexp.MustCompile(`<a href="([^"]+)" id="live-open"><strong>(\d+)</strong> open</a>`).FindStringSubmatch(live)
			require.NotNil(t, m, live)
			assert.Equal(t, "2", m[2], "Acme has two interactions not closed")
			assert.Equal(t, sorted(o.inRange[o.acme.ID][1:]), listed(o.get(ck, html.UnescapeString(m[1])).Body.String()))
		})
	}
}

type api400 struct {
	Error struct{ Code, Message string } `json:"error"`
}

func TestAdminOpsInteractionsEscapeAndLinks(t *testing.T) {
	o := newOpsEnv(t, models.SQLite)
	ck, _ := o.admin()
	rec := o.get(ck, "/console/admin/interactions?accountId="+strconv.FormatUint(o.acme.ID, 10))
	require.Equal(t, http.StatusOK, rec.Code)
	body := rec.Body.String()
	assert.Contains(t, body, "&lt;script&gt;alert(2)&lt;/script&gt;")
	assert.NotContains(t, body, "<script>alert(", "every value escaped")
	assert.Contains(t, body, `href="`+opsTemporalUI+`/namespaces/default/workflows/interaction%2F`, "each interaction links to its workflow")
	assert.Equal(t, sorted(append(slices.Clone(o.inRange[o.acme.ID]), o.outside)), listed(body))

	rec = o.get(ck, fmt.Sprintf("/console/admin/interactions/%d?back=%s", o.script, url.QueryEscape("/console/admin/interactions?accountId=1")))
	require.Equal(t, http.StatusOK, rec.Code)
	body = rec.Body.String()
	assert.Contains(t, body, "&lt;script&gt;alert(2)&lt;/script&gt;")
	assert.NotContains(t, body, "<script>alert(")
	assert.Contains(t, body, "Hello from &lt;script&gt;alert(2)&lt;/script&gt;", "the customer's message")
	assert.Contains(t, body, "RECIPIENT_NOT_REACHABLE", "the failed reply with its code")
	assert.Contains(t, body, `<a href="/console/admin/interactions?accountId=1">`, "the way back to the list")
	assert.Contains(t, body, `id="workflow-link"`)
	assert.Equal(t, 1, strings.Count(body, "<form"), "read-only: no form but the sign-out")
	// Not a console page: the way back is the whole list.
	rec = o.get(ck, fmt.Sprintf("/console/admin/interactions/%d?back=%s", o.script, url.QueryEscape("https://evil.example/console/admin/interactions")))
	assert.Contains(t, rec.Body.String(), `<a href="/console/admin/interactions">`)
	rec = o.get(ck, "/console/admin/interactions/999999")
	assert.Equal(t, http.StatusNotFound, rec.Code)
}

func TestAdminOpsAgentForbiddenAndCSRF(t *testing.T) {
	o := newOpsEnv(t, models.SQLite)
	ack, _ := o.signin(o.token)
	require.NotNil(t, ack)
	var sess models.ConsoleSession
	require.NoError(t, o.db.Where("admin = ?", false).Take(&sess).Error)
	for _, p := range []string{"/console/admin/migrations", "/console/admin/migrations/new", "/console/admin/migrations/1",
		"/console/admin/migrations/1/status", "/console/admin/reports", "/console/admin/reports/live",
		"/console/admin/reports/csv?report=interactions&from=2026-11-30", "/console/admin/interactions", fmt.Sprintf("/console/admin/interactions/%d", o.script)} {
		rec := o.get(ack, p)
		assert.Equal(t, http.StatusForbidden, rec.Code, p)
		assert.NotContains(t, rec.Body.String(), "alert(2)", p)
	}
	for _, p := range []string{"/console/admin/migrations", "/console/admin/migrations/1/confirm", "/console/admin/migrations/1/cancel", "/console/admin/migrations/1/retry"} {
		rec := o.do(http.MethodPost, p, url.Values{"csrf": {sess.CSRF}}, []*http.Cookie{ack}, nil)
		assert.Equal(t, http.StatusForbidden, rec.Code, p)
		assert.Contains(t, rec.Body.String(), "This page is the admin&#39;s", p)
	}

	// The admin without the CSRF token, or with a wrong one: refused,
	// nothing started.
	ck, csrf := o.admin()
	form := url.Values{"sourceAccountId": {strconv.FormatUint(o.acme.ID, 10)}, "name": {"Acme V2"}, "key": {"acme-v2"},
		"publicUrl": {"https://motion.example.com"}, "region": {"eu"}, "projectId": {"proj-new"}, "appId": {"01HNEWAPP"},
		"keyId": {"key-new"}, "keySecret": {"ks-new"}, "webhookSecret": {"whsec-new-0123456789"}, "phone": {"+390212345678"}}
	rec := o.do(http.MethodPost, "/console/admin/migrations", form, []*http.Cookie{ck}, nil)
	assert.Equal(t, http.StatusForbidden, rec.Code)
	assert.Contains(t, rec.Body.String(), "security token is missing or out of date")
	form.Set("csrf", "forged")
	rec = o.do(http.MethodPost, "/console/admin/migrations", form, []*http.Cookie{ck}, nil)
	assert.Equal(t, http.StatusForbidden, rec.Code)
	var n int64
	require.NoError(t, o.db.Model(&models.Migration{}).Count(&n).Error)
	assert.Zero(t, n)
	assert.Empty(t, o.temporal.started)
	// With it, the migration starts.
	form.Set("csrf", csrf)
	rec = o.do(http.MethodPost, "/console/admin/migrations", form, []*http.Cookie{ck}, nil)
	assert.Equal(t, http.StatusSeeOther, rec.Code, rec.Body.String())
	assert.Len(t, o.temporal.started, 1)
}

func TestAdminOpsMigrations(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			o := newOpsEnv(t, engine)
			ck, csrf := o.admin()
			acme := strconv.FormatUint(o.acme.ID, 10)

			rec := o.get(ck, "/console/admin/migrations/new?sourceAccountId="+acme)
			require.Equal(t, http.StatusOK, rec.Code)
			body := rec.Body.String()
			for _, f := range []string{"sourceAccountId", "name", "key", "publicUrl", "region", "projectId", "appId", "keyId", "keySecret", "phone", "webhookSecret", "baseUrl", "authUrl", "generateWebhookSecret"} {
				assert.Regexp(t, `<label for="f-`+f+`">`, body, "%s is labelled", f)
			}
			assert.Contains(t, body, `<option value="`+acme+`" selected>`)

			// A refusal shows the API's message and marks the field; the
			// secrets are not sent back.
			form := url.Values{"csrf": {csrf}, "sourceAccountId": {acme}, "name": {"Acme V2"}, "key": {"acme-v2"},
				"publicUrl": {"https://motion.example.com"}, "region": {"eu"}, "projectId": {"proj-new"}, "appId": {o.acme.AppID},
				"keyId": {"key-new"}, "keySecret": {"ks-new-secret"}, "generateWebhookSecret": {"true"}, "phone": {"+390212345678"}}
			rec = o.do(http.MethodPost, "/console/admin/migrations", form, []*http.Cookie{ck}, nil)
			assert.Equal(t, http.StatusBadRequest, rec.Code)
			body = rec.Body.String()
			assert.Contains(t, html.UnescapeString(body), `target.appId: "01HACMEAPP" is the source account's Sinch app`)
			assert.Regexp(t, `id="f-appId" name="appId" value="01HACMEAPP"[^>]*aria-invalid="true"`, body)
			assert.NotContains(t, body, "ks-new-secret")
			assert.Empty(t, o.temporal.started)

			// Started with a generated webhook secret: shown this once.
			form.Set("appId", "01HNEWAPP")
			rec = o.do(http.MethodPost, "/console/admin/migrations", form, []*http.Cookie{ck}, nil)
			require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
			var mig models.Migration
			require.NoError(t, o.db.Take(&mig).Error)
			assert.Equal(t, []string{mig.WorkflowID}, o.temporal.started)
			secret := regexp.MustCompile(`<code id="webhook-secret">([^<]+)</code>`).FindStringSubmatch(rec.Body.String())
			require.NotNil(t, secret, "the generated secret")
			assert.GreaterOrEqual(t, len(secret[1]), 16)
			assert.NotContains(t, rec.Body.String(), "ks-new-secret")

			// The page: state, the exact next action, the steps, the link
			// to the workflow, the actions.
			page := fmt.Sprintf("/console/admin/migrations/%d", mig.ID)
			rec = o.get(ck, page)
			require.Equal(t, http.StatusOK, rec.Code)
			body = rec.Body.String()
			assert.NotContains(t, body, secret[1], "the secret is shown once")
			var m api.MigrationResponse
			code, raw := o.apiGet(fmt.Sprintf("/api/migrations/%d", mig.ID))
			require.Equal(t, http.StatusOK, code)
			require.NoError(t, json.Unmarshal([]byte(raw), &m))
			require.NotEmpty(t, m.NextAction)
			assert.Contains(t, html.UnescapeString(body), m.NextAction)
			assert.Contains(t, body, `<span class="badge warn" id="state">running</span>`)
			assert.Equal(t, len(m.Steps), strings.Count(body, `<li class="step">`))
			for _, st := range m.Steps {
				assert.Contains(t, html.UnescapeString(body), st.Title)
			}
			assert.Contains(t, body, `href="`+opsTemporalUI+`/namespaces/default/workflows/`+url.PathEscape(mig.WorkflowID)+`"`)
			assert.Contains(t, body, `hx-get="`+page+`/status" hx-trigger="every 5s"`, "the steps refresh while they run")
			assert.Contains(t, body, `id="confirm"`)
			assert.Contains(t, body, `id="cancel"`)
			assert.NotContains(t, body, `id="retry"`, "no failed step")
			status := o.get(ck, page+"/status")
			require.Equal(t, http.StatusOK, status.Code)
			assert.True(t, strings.HasPrefix(strings.TrimSpace(status.Body.String()), `<section id="status"`))

			// The list links to it and to its workflow.
			rec = o.get(ck, "/console/admin/migrations")
			require.Equal(t, http.StatusOK, rec.Code)
			assert.Contains(t, rec.Body.String(), `<a href="`+page+`">Migration #`)
			assert.Contains(t, rec.Body.String(), url.PathEscape(mig.WorkflowID))
			rec = o.get(ck, "/console/admin/migrations?state=completed")
			assert.Contains(t, rec.Body.String(), "No migration in this state.")

			// Retry with nothing failed: the API's 409 message on the page.
			rec = o.do(http.MethodPost, page+"/retry", url.Values{"csrf": {csrf}}, []*http.Cookie{ck}, nil)
			assert.Equal(t, http.StatusConflict, rec.Code)
			assert.Contains(t, html.UnescapeString(rec.Body.String()), fmt.Sprintf("migration %d is running and has no failed step to retry", mig.ID))

			// Confirm and cancel signal the workflow.
			rec = o.do(http.MethodPost, page+"/confirm", url.Values{"csrf": {csrf}}, []*http.Cookie{ck}, nil)
			assert.Equal(t, http.StatusSeeOther, rec.Code, rec.Body.String())
			assert.Equal(t, page+"?done=confirm", rec.Header().Get("Location"))
			rec = o.do(http.MethodPost, page+"/cancel", url.Values{"csrf": {csrf}}, []*http.Cookie{ck}, nil)
			assert.Equal(t, http.StatusSeeOther, rec.Code)
			assert.Equal(t, []string{workflows.MigrationConfirmSignalName + " " + mig.WorkflowID, workflows.MigrationCancelSignalName + " " + mig.WorkflowID}, o.temporal.signals)
			rec = o.get(ck, page+"?done=cancel")
			assert.Contains(t, rec.Body.String(), "Cancel sent")

			// An ended migration: no actions, the API's 409 on a late one.
			require.NoError(t, o.db.Model(&models.Migration{}).Where("id = ?", mig.ID).Updates(map[string]any{"state": models.MigrationCancelled, "active_source_id": nil}).Error)
			rec = o.get(ck, page)
			assert.NotContains(t, rec.Body.String(), `id="confirm"`)
			assert.NotContains(t, rec.Body.String(), `hx-trigger="every 5s"`)
			rec = o.do(http.MethodPost, page+"/confirm", url.Values{"csrf": {csrf}}, []*http.Cookie{ck}, nil)
			assert.Equal(t, http.StatusConflict, rec.Code)
			assert.Contains(t, rec.Body.String(), fmt.Sprintf("migration %d is cancelled: it has ended", mig.ID))
		})
	}
}
