package web_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
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
)

// cfgTemporal stands in for Temporal: workflows start (the take-backs of
// a revoked permission or a deleted agent), nothing runs.
type cfgTemporal struct{ client.Client }

type cfgRun struct{ client.WorkflowRun }

func (cfgRun) GetID() string    { return "wf" }
func (cfgRun) GetRunID() string { return "run" }

func (cfgTemporal) ExecuteWorkflow(context.Context, client.StartWorkflowOptions, any, ...any) (client.WorkflowRun, error) {
	return cfgRun{}, nil
}
func (cfgTemporal) SignalWorkflow(context.Context, string, string, string, any) error { return nil }
func (cfgTemporal) CheckHealth(context.Context, *client.CheckHealthRequest) (*client.CheckHealthResponse, error) {
	return &client.CheckHealthResponse{}, nil
}

// newConfigEnv is newEnv with the secrets' key the accounts need.
func newConfigEnv(t *testing.T, engine models.Engine) *env {
	t.Helper()
	db := testdb.Open(t, engine)
	box, err := secretbox.New(bytes.Repeat([]byte{7}, 32))
	require.NoError(t, err)
	v := &env{t: t, db: db, now: time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC), token: "agent-token-abcdef0123456789"}
	v.e = api.New(api.Deps{DB: db, Temporal: cfgTemporal{}, Secrets: box, AdminToken: adminToken, TaskQueue: "q", AuthFailureBurst: 50, AuthFailureEvery: time.Minute})
	web.Register(v.e, web.Deps{DB: db, API: v.e, SessionIdle: time.Hour, SessionMax: 3 * time.Hour, Now: func() time.Time { return v.now }})
	sum := sha256.Sum256([]byte(v.token))
	a := models.Agent{Name: "Ada <script>alert(1)</script>", Capacity: 2, TokenHash: hex.EncodeToString(sum[:])}
	require.NoError(t, db.Create(&a).Error)
	v.agent = a.ID
	return v
}

// admin is a signed-in admin's browser.
type admin struct {
	v    *env
	ck   *http.Cookie
	csrf string
}

func signinAdmin(t *testing.T, v *env) *admin {
	t.Helper()
	ck, rec := v.signin(adminToken)
	require.NotNil(t, ck, rec.Body.String())
	a := &admin{v: v, ck: ck}
	page := a.get("/console/admin/accounts", http.StatusOK)
	m := csrfInput.FindStringSubmatch(page)
	require.NotNil(t, m, page)
	a.csrf = m[1]
	return a
}

func (a *admin) get(path string, want int) string {
	a.v.t.Helper()
	rec := a.v.do(http.MethodGet, path, nil, []*http.Cookie{a.ck}, nil)
	require.Equal(a.v.t, want, rec.Code, "GET %s: %s", path, rec.Body.String())
	return rec.Body.String()
}

// post submits a form with the session's CSRF token.
func (a *admin) post(path string, form url.Values) *httptest.ResponseRecorder {
	a.v.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", a.csrf)
	return a.v.do(http.MethodPost, path, form, []*http.Cookie{a.ck}, nil)
}

// api calls the API directly as the admin, for the truth behind a page.
func (v *env) api(method, path string, body any, out any) int {
	v.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(v.t, err)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	v.e.ServeHTTP(rec, req)
	if out != nil && rec.Code < 300 {
		require.NoError(v.t, json.Unmarshal(rec.Body.Bytes(), out), rec.Body.String())
	}
	return rec.Code
}

// apiMessage is the message of the API's error answer to body.
func (v *env) apiMessage(method, path string, body any) string {
	v.t.Helper()
	b, err := json.Marshal(body)
	require.NoError(v.t, err)
	req := httptest.NewRequest(method, path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	v.e.ServeHTTP(rec, req)
	require.GreaterOrEqual(v.t, rec.Code, 400, rec.Body.String())
	var e struct{ Error struct{ Message string } }
	require.NoError(v.t, json.Unmarshal(rec.Body.Bytes(), &e))
	require.NotEmpty(v.t, e.Error.Message)
	return e.Error.Message
}

const (
	keySecret     = "ks-very-secret-key-0001"
	webhookSecret = "wh-very-secret-0123456789abcdef"
)

func accountForm(name string) url.Values {
	return url.Values{"name": {name}, "key": {"acme"}, "publicUrl": {"https://motion.example.com"}, "region": {"eu"},
		"projectId": {"proj-1"}, "appId": {"01HAPP"}, "keyId": {"key-1"}, "keySecret": {keySecret},
		"webhookSecret": {webhookSecret}, "phone": {"+390212345678"}, "channels": {"WHATSAPP", "INSTAGRAM"},
		"description": {"Support line"}, "sendRatePerSecond": {"15"}}
}

var locationID = regexp.MustCompile(`/console/admin/(?:accounts|queues|agents)/(\d+)`)

func idOf(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	require.Equal(t, http.StatusSeeOther, rec.Code, rec.Body.String())
	m := locationID.FindStringSubmatch(rec.Header().Get("Location"))
	require.NotNil(t, m, rec.Header().Get("Location"))
	return m[1]
}

func TestAdminConfigAccounts(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			v := newConfigEnv(t, engine)
			a := signinAdmin(t, v)

			page := a.get("/console/admin/accounts/new", http.StatusOK)
			for _, f := range []string{"f-name", "f-key", "f-phone", "f-public", "f-region", "f-project", "f-app", "f-keyid", "f-keysecret", "f-whsecret", "f-rate"} {
				assert.Contains(t, page, `<label for="`+f+`"`, "every control is labelled")
			}

			// A bad phone: the API's message, the input kept, the secrets not.
			bad := accountForm("Acme <script>alert(1)</script>")
			bad.Set("phone", "12345")
			want := v.apiMessage(http.MethodPost, "/api/whatsapp/accounts", map[string]any{"name": "Acme", "key": "acme",
				"publicUrl": "https://motion.example.com", "region": "eu", "projectId": "proj-1", "appId": "01HAPP", "keyId": "key-1",
				"keySecret": keySecret, "webhookSecret": webhookSecret, "phone": "12345", "channels": []string{"WHATSAPP", "INSTAGRAM"}})
			rec := a.post("/console/admin/accounts", bad)
			assert.Equal(t, http.StatusBadRequest, rec.Code)
			body := rec.Body.String()
			assert.Contains(t, html.UnescapeString(body), want)
			assert.Contains(t, body, `value="12345"`)
			assert.Contains(t, body, `value="Acme &lt;script&gt;alert(1)&lt;/script&gt;"`, "the name kept, escaped")
			assert.NotContains(t, body, "<script>alert(1)")
			assert.NotContains(t, body, keySecret)
			assert.NotContains(t, body, webhookSecret)

			// The same form, right: created.
			id := idOf(t, a.post("/console/admin/accounts", accountForm("Acme <script>alert(1)</script>")))
			var acc struct {
				Name, Phone, ReceiveURL        string
				Channels                       []string
				SendRatePerSecond              float64
				KeySecretSet, WebhookSecretSet bool
			}
			require.Equal(t, http.StatusOK, v.api(http.MethodGet, "/api/whatsapp/accounts/"+id, nil, &acc))
			assert.Equal(t, "Acme <script>alert(1)</script>", acc.Name)
			assert.Equal(t, []string{"WHATSAPP", "INSTAGRAM"}, acc.Channels)
			assert.Equal(t, 15.0, acc.SendRatePerSecond)
			assert.True(t, acc.KeySecretSet)
			assert.True(t, acc.WebhookSecretSet)

			page = a.get("/console/admin/accounts/"+id+"?done=created", http.StatusOK)
			assert.Contains(t, page, "Created.")
			assert.Contains(t, page, `<code id="receive-url">`+acc.ReceiveURL+`</code>`, "the Receive URL in full")
			assert.Equal(t, "https://motion.example.com/api/whatsapp/accounts/"+id+"/notify", acc.ReceiveURL)
			assert.Contains(t, page, `data-copy="#receive-url"`)
			assert.Contains(t, page, `id="key-secret-state">set</span>`)
			assert.Contains(t, page, "Acme &lt;script&gt;alert(1)&lt;/script&gt;")
			assert.NotContains(t, page, "<script>alert(1)")
			assert.Contains(t, page, `href="/console/admin/reports?accountId=`+id+`"`)
			assert.Contains(t, page, `href="/console/admin/migrations?accountId=`+id+`"`)

			// An edit with the secret fields empty keeps the secrets.
			var before models.Account
			require.NoError(t, v.db.Take(&before, id).Error)
			edit := accountForm("Acme Support")
			edit.Del("keySecret")
			edit.Del("webhookSecret")
			edit.Set("channels", "WHATSAPP")
			edit.Set("debug", "1")
			assert.Equal(t, "/console/admin/accounts/"+id+"?done=saved", a.post("/console/admin/accounts/"+id, edit).Header().Get("Location"))
			var after models.Account
			require.NoError(t, v.db.Take(&after, id).Error)
			assert.Equal(t, "Acme Support", after.Name)
			assert.True(t, after.Debug)
			assert.Equal(t, before.KeySecretEnc, after.KeySecretEnc, "an empty secret field leaves it unchanged")
			assert.Equal(t, before.WebhookSecretEnc, after.WebhookSecretEnc)

			// A refused edit: the API's message, the input kept.
			edit.Set("publicUrl", "ftp://motion.example.com")
			want = v.apiMessage(http.MethodPatch, "/api/whatsapp/accounts/"+id, map[string]any{"publicUrl": "ftp://motion.example.com"})
			rec = a.post("/console/admin/accounts/"+id, edit)
			assert.Equal(t, http.StatusBadRequest, rec.Code)
			assert.Contains(t, html.UnescapeString(rec.Body.String()), want)
			assert.Contains(t, rec.Body.String(), `value="ftp://motion.example.com"`)

			// A generated secret is shown once, then never.
			edit.Set("publicUrl", "https://motion.example.com")
			edit.Set("generateWebhookSecret", "1")
			rec = a.post("/console/admin/accounts/"+id, edit)
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			m := regexp.MustCompile(`<code id="new-secret">([A-Za-z0-9_-]{43})</code>`).FindStringSubmatch(rec.Body.String())
			require.NotNil(t, m, rec.Body.String())
			assert.Contains(t, rec.Body.String(), "It will not be shown again.")
			generated := m[1]

			// An unsigned account warns, on the list too.
			unsigned := accountForm("Unsigned")
			unsigned.Set("key", "unsigned")
			unsigned.Del("webhookSecret")
			unsigned.Set("allowUnsignedWebhooks", "1")
			uid := idOf(t, a.post("/console/admin/accounts", unsigned))
			var u struct{ Warnings []string }
			require.Equal(t, http.StatusOK, v.api(http.MethodGet, "/api/whatsapp/accounts/"+uid, nil, &u))
			require.NotEmpty(t, u.Warnings)
			list := a.get("/console/admin/accounts", http.StatusOK)
			assert.Contains(t, html.UnescapeString(list), u.Warnings[0])
			assert.Contains(t, list, `data-label="Warnings"`, "a stacked table on a phone")
			assert.Contains(t, html.UnescapeString(a.get("/console/admin/accounts/"+uid, http.StatusOK)), u.Warnings[0])

			// No page shows a secret.
			for _, p := range []string{"/console/admin/accounts", "/console/admin/accounts/" + id, "/console/admin/accounts/" + uid,
				"/console/admin/accounts/" + id + "/settings", "/console/admin/accounts/" + id + "/reconcile",
				"/console/admin/accounts/" + id + "/sinch", "/console/admin/queues", "/console/admin/agents"} {
				body := a.get(p, http.StatusOK)
				for _, secret := range []string{keySecret, webhookSecret, generated} {
					assert.NotContains(t, body, secret, p)
				}
			}

			// Deleted.
			rec = a.post("/console/admin/accounts/"+uid+"/delete", nil)
			assert.Equal(t, "/console/admin/accounts?done=deleted", rec.Header().Get("Location"))
			assert.Equal(t, http.StatusNotFound, v.api(http.MethodGet, "/api/whatsapp/accounts/"+uid, nil, nil))
		})
	}
}

func TestAdminConfigQueuesAndAgents(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			v := newConfigEnv(t, engine)
			a := signinAdmin(t, v)
			aid := idOf(t, a.post("/console/admin/accounts", accountForm("Acme")))

			// Queues: refused with the API's words, created, edited, linked.
			want := v.apiMessage(http.MethodPost, "/api/queues", map[string]any{"name": "", "strategy": "round_robin", "timeoutSeconds": 0})
			rec := a.post("/console/admin/queues", url.Values{"name": {""}, "strategy": {"round_robin"}, "timeoutSeconds": {"90"}})
			assert.Equal(t, http.StatusBadRequest, rec.Code)
			assert.Contains(t, html.UnescapeString(rec.Body.String()), want)
			assert.Contains(t, rec.Body.String(), `value="90"`)
			over := idOf(t, a.post("/console/admin/queues", url.Values{"name": {"overflow"}, "strategy": {"least_busy"}}))
			qid := idOf(t, a.post("/console/admin/queues", url.Values{"name": {"support"}, "strategy": {"round_robin"}, "timeoutSeconds": {"120"}}))
			rec = a.post("/console/admin/queues/"+qid, url.Values{"name": {"support desk"}, "strategy": {"ring_all"}, "timeoutSeconds": {"60"}, "overflowQueueId": {over}})
			assert.Equal(t, "/console/admin/queues/"+qid+"?done=saved", rec.Header().Get("Location"))
			var q struct {
				Name, Strategy       string
				TimeoutSeconds       int
				OverflowQueueID      *uint64
				AccountIDs, AgentIDs []uint64
			}
			require.Equal(t, http.StatusOK, v.api(http.MethodGet, "/api/queues/"+qid, nil, &q))
			assert.Equal(t, "support desk", q.Name)
			assert.Equal(t, "ring_all", q.Strategy)
			assert.Equal(t, 60, q.TimeoutSeconds)
			require.NotNil(t, q.OverflowQueueID)
			assert.Equal(t, over, fmt.Sprint(*q.OverflowQueueID))
			a.post("/console/admin/queues/"+qid+"/accounts/"+aid, url.Values{"action": {"link"}})
			a.post("/console/admin/queues/"+qid+"/agents/"+fmt.Sprint(v.agent), url.Values{"action": {"link"}})
			require.Equal(t, http.StatusOK, v.api(http.MethodGet, "/api/queues/"+qid, nil, &q))
			assert.Equal(t, "["+aid+"]", fmt.Sprint(q.AccountIDs))
			assert.Equal(t, []uint64{v.agent}, q.AgentIDs)
			page := a.get("/console/admin/queues/"+qid, http.StatusOK)
			assert.Contains(t, page, "Unlink Acme")
			assert.Contains(t, page, "Remove Ada &lt;script&gt;alert(1)&lt;/script&gt;")
			assert.NotContains(t, page, "<script>alert(1)")
			// The overflow removed, the agent taken off.
			a.post("/console/admin/queues/"+qid, url.Values{"name": {"support desk"}, "strategy": {"ring_all"}, "timeoutSeconds": {"60"}, "overflowQueueId": {""}})
			a.post("/console/admin/queues/"+qid+"/agents/"+fmt.Sprint(v.agent), url.Values{"action": {"unlink"}})
			require.Equal(t, http.StatusOK, v.api(http.MethodGet, "/api/queues/"+qid, nil, &q))
			assert.Nil(t, q.OverflowQueueID)
			assert.Empty(t, q.AgentIDs)
			assert.Contains(t, a.get("/console/admin/queues", http.StatusOK), "support desk")
			assert.Equal(t, "/console/admin/queues?done=deleted", a.post("/console/admin/queues/"+over+"/delete", nil).Header().Get("Location"))
			assert.Equal(t, http.StatusNotFound, v.api(http.MethodGet, "/api/queues/"+over, nil, nil))

			// Agents: a new agent's token is shown once, and works.
			rec = a.post("/console/admin/agents", url.Values{"name": {"Bob"}, "capacity": {"0"}})
			assert.Equal(t, http.StatusBadRequest, rec.Code)
			assert.Contains(t, html.UnescapeString(rec.Body.String()), v.apiMessage(http.MethodPost, "/api/agents", map[string]any{"name": "Bob", "capacity": 0}))
			rec = a.post("/console/admin/agents", url.Values{"name": {"Bob"}, "capacity": {"3"}})
			require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
			tokenRe := regexp.MustCompile(`<code id="agent-token">([^<]+)</code>`)
			m := tokenRe.FindStringSubmatch(rec.Body.String())
			require.NotNil(t, m, rec.Body.String())
			token := m[1]
			assert.Contains(t, rec.Body.String(), "It will not be shown again.")
			assert.Contains(t, rec.Body.String(), `data-copy="#agent-token"`)
			bid := regexp.MustCompile(`action="/console/admin/agents/(\d+)/token"`).FindStringSubmatch(rec.Body.String())[1]
			page = a.get("/console/admin/agents/"+bid, http.StatusOK)
			assert.NotContains(t, page, token, "shown once")
			assert.NotContains(t, a.get("/console/admin/agents", http.StatusOK), token)
			ck, _ := v.signin(token)
			require.NotNil(t, ck, "the shown token signs in")

			// Edited.
			rec = a.post("/console/admin/agents/"+bid, url.Values{"name": {"Bob B."}, "capacity": {"4"}})
			assert.Equal(t, "/console/admin/agents/"+bid+"?done=saved", rec.Header().Get("Location"))
			var ag struct {
				Name                string
				Capacity            int
				PermittedAccountIDs []uint64
			}
			require.Equal(t, http.StatusOK, v.api(http.MethodGet, "/api/agents/"+bid, nil, &ag))
			assert.Equal(t, "Bob B.", ag.Name)
			assert.Equal(t, 4, ag.Capacity)

			// A permission granted, then revoked.
			rec = a.post("/console/admin/agents/"+bid+"/permissions/"+aid, url.Values{"action": {"grant"}})
			assert.Equal(t, "/console/admin/agents/"+bid+"?done=granted", rec.Header().Get("Location"))
			require.Equal(t, http.StatusOK, v.api(http.MethodGet, "/api/agents/"+bid, nil, &ag))
			assert.Len(t, ag.PermittedAccountIDs, 1)
			page = a.get("/console/admin/agents/"+bid+"?done=granted", http.StatusOK)
			assert.Contains(t, page, "Permission granted.")
			assert.Contains(t, page, "Revoke on Acme")
			rec = a.post("/console/admin/agents/"+bid+"/permissions/"+aid, url.Values{"action": {"revoke"}})
			assert.Equal(t, "/console/admin/agents/"+bid+"?done=revoked", rec.Header().Get("Location"))
			require.Equal(t, http.StatusOK, v.api(http.MethodGet, "/api/agents/"+bid, nil, &ag))
			assert.Empty(t, ag.PermittedAccountIDs)
			assert.Contains(t, a.get("/console/admin/agents/"+bid, http.StatusOK), "Grant on Acme")

			// The token rotated: the new one shown once, the old refused.
			rec = a.post("/console/admin/agents/"+bid+"/token", nil)
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			m = tokenRe.FindStringSubmatch(rec.Body.String())
			require.NotNil(t, m)
			rotated := m[1]
			assert.NotEqual(t, token, rotated)
			assert.Contains(t, rec.Body.String(), "It will not be shown again.")
			assert.NotContains(t, a.get("/console/admin/agents/"+bid, http.StatusOK), rotated)
			old, _ := v.signin(token)
			assert.Nil(t, old, "the old token is refused")
			fresh, _ := v.signin(rotated)
			assert.NotNil(t, fresh)

			// The agents' list escapes a name.
			list := a.get("/console/admin/agents", http.StatusOK)
			assert.Contains(t, list, "Ada &lt;script&gt;alert(1)&lt;/script&gt;")
			assert.NotContains(t, list, "<script>alert(1)")

			// Deleted.
			assert.Equal(t, "/console/admin/agents?done=deleted", a.post("/console/admin/agents/"+bid+"/delete", nil).Header().Get("Location"))
			assert.Equal(t, http.StatusNotFound, v.api(http.MethodGet, "/api/agents/"+bid, nil, nil))
		})
	}
}
