package web_test

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
)

type settingsDoc struct {
	Dispositions  []string
	CannedAnswers []struct {
		ID          uint64
		Title, Text string
	}
	TransferOptions *struct {
		Queues, Agents            []uint64
		ReturnToQueueAfterSeconds int
	}
	Routing struct {
		Strategy                                            string
		AgentNotifyTimeoutSeconds, InactivityTimeoutSeconds int
	}
	ActionFlow []struct {
		Queue   uint64
		Seconds *int
		Reply   string
	}
}

func TestAdminConfigSettings(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			v := newConfigEnv(t, engine)
			a := signinAdmin(t, v)
			aid := idOf(t, a.post("/console/admin/accounts", accountForm("Acme")))
			q1 := idOf(t, a.post("/console/admin/queues", url.Values{"name": {"first"}, "strategy": {"round_robin"}}))
			q2 := idOf(t, a.post("/console/admin/queues", url.Values{"name": {"second"}, "strategy": {"round_robin"}}))
			path := "/console/admin/accounts/" + aid + "/settings"

			page := a.get(path, http.StatusOK)
			for _, f := range []string{"s-disp", "ca-0-title", "ca-0-text", "s-limit", "s-return", "s-strategy", "s-notify", "s-inact", "fl-0-kind", "fl-0-queue", "fl-0-seconds", "fl-0-reply"} {
				assert.Contains(t, page, `<label for="`+f+`"`)
			}
			assert.Contains(t, page, `<template id="canned-template">`)

			form := url.Values{
				"dispositions":   {"Solved\nCall back\n"},
				"ca.0.title":     {"Greeting"},
				"ca.0.text":      {"Hello {{contact.name}}, I am {{agent.name}}"},
				"ca.1.title":     {""}, // a blank row
				"ca.1.text":      {""},
				"ca.1005.title":  {"Bye"}, // a row admin.js added
				"ca.1005.text":   {"Goodbye from {{account.name}}"},
				"limitTransfers": {"1"}, "transferQueuesMode": {"only"}, "transferQueues": {q2},
				"transferAgentsMode": {"any"}, "returnToQueueAfterSeconds": {"60"},
				"strategy": {"least_busy"}, "agentNotifyTimeoutSeconds": {"30"}, "inactivityTimeoutSeconds": {"3600"},
				"flow.0.kind": {"queue"}, "flow.0.queue": {q1}, "flow.0.seconds": {"60"},
				"flow.1.kind": {"reply"}, "flow.1.reply": {"All our agents are busy"},
				"flow.2.kind": {"queue"}, "flow.2.queue": {q2},
				"flow.3.kind": {"queue"}, "flow.3.queue": {""}, // a blank row
			}
			rec := a.post(path, form)
			require.Equal(t, http.StatusSeeOther, rec.Code, rec.Body.String())
			assert.Equal(t, path+"?done=saved", rec.Header().Get("Location"))
			var doc settingsDoc
			require.Equal(t, http.StatusOK, v.api(http.MethodGet, "/api/whatsapp/accounts/"+aid+"/settings", nil, &doc))
			assert.Equal(t, []string{"Solved", "Call back"}, doc.Dispositions)
			require.Len(t, doc.CannedAnswers, 2)
			assert.Equal(t, "Greeting", doc.CannedAnswers[0].Title)
			assert.Equal(t, "Goodbye from {{account.name}}", doc.CannedAnswers[1].Text)
			require.NotNil(t, doc.TransferOptions)
			assert.Equal(t, q2, fmt.Sprint(doc.TransferOptions.Queues[0]))
			assert.Nil(t, doc.TransferOptions.Agents, "any agent")
			assert.Equal(t, 60, doc.TransferOptions.ReturnToQueueAfterSeconds)
			assert.Equal(t, "least_busy", doc.Routing.Strategy)
			assert.Equal(t, 30, doc.Routing.AgentNotifyTimeoutSeconds)
			assert.Equal(t, 3600, doc.Routing.InactivityTimeoutSeconds)
			require.Len(t, doc.ActionFlow, 3)
			assert.Equal(t, q1, fmt.Sprint(doc.ActionFlow[0].Queue))
			require.NotNil(t, doc.ActionFlow[0].Seconds)
			assert.Equal(t, 60, *doc.ActionFlow[0].Seconds)
			assert.Equal(t, "All our agents are busy", doc.ActionFlow[1].Reply)
			assert.Nil(t, doc.ActionFlow[2].Seconds)

			// The page shows what was saved; the canned answers keep their ids.
			page = a.get(path+"?done=saved", http.StatusOK)
			assert.Contains(t, page, "Saved.")
			assert.Contains(t, page, fmt.Sprintf(`name="ca.0.id" value="%d"`, doc.CannedAnswers[0].ID))
			assert.Contains(t, page, "Hello {{contact.name}}, I am {{agent.name}}")
			assert.Contains(t, page, `id="s-tq-`+q2+`" name="transferQueues" value="`+q2+`" checked`)

			// A refused document: the API's message naming the field, the input kept.
			want := v.apiMessage(http.MethodPut, "/api/whatsapp/accounts/"+aid+"/settings", map[string]any{
				"cannedAnswers": []map[string]any{{"title": "Greeting", "text": "Mail {{contact.email}}"}}})
			assert.Contains(t, want, "cannedAnswers[0].text")
			bad := url.Values{"dispositions": {"Solved"}, "ca.0.id": {fmt.Sprint(doc.CannedAnswers[0].ID)}, "ca.0.title": {"Greeting"},
				"ca.0.text": {"Mail {{contact.email}} <script>alert(1)</script>"}}
			rec = a.post(path, bad)
			assert.Equal(t, http.StatusBadRequest, rec.Code)
			body := rec.Body.String()
			assert.Contains(t, body, "cannedAnswers[0].text")
			assert.Contains(t, html.UnescapeString(body), "unknown variable {{contact.email}}")
			assert.Contains(t, body, "Mail {{contact.email}} &lt;script&gt;alert(1)&lt;/script&gt;</textarea>", "the input kept, escaped")
			assert.NotContains(t, body, "<script>alert(1)")

			// A canned answer removed, transfers unlimited, the flow cleared.
			form = url.Values{"dispositions": {""},
				"ca.0.id": {fmt.Sprint(doc.CannedAnswers[0].ID)}, "ca.0.title": {"Greeting"}, "ca.0.text": {"Hello"},
				"ca.1.id": {fmt.Sprint(doc.CannedAnswers[1].ID)}, "ca.1.title": {"Bye"}, "ca.1.text": {"Bye"}, "ca.1.remove": {"1"},
				"strategy": {""}}
			require.Equal(t, http.StatusSeeOther, a.post(path, form).Code)
			var after settingsDoc
			require.Equal(t, http.StatusOK, v.api(http.MethodGet, "/api/whatsapp/accounts/"+aid+"/settings", nil, &after))
			require.Len(t, after.CannedAnswers, 1)
			assert.Equal(t, doc.CannedAnswers[0].ID, after.CannedAnswers[0].ID, "kept by its id")
			assert.Equal(t, "Hello", after.CannedAnswers[0].Text)
			assert.Nil(t, after.TransferOptions)
			assert.Empty(t, after.ActionFlow)
			assert.Empty(t, after.Dispositions)
		})
	}
}

// adminPages are every configuration page and form of the admin.
func adminPages(aid, qid, gid string) (gets, posts []string) {
	acc, q, g := "/console/admin/accounts/"+aid, "/console/admin/queues/"+qid, "/console/admin/agents/"+gid
	gets = []string{"/console/admin/accounts", "/console/admin/accounts/new", acc, acc + "/diagnostics", acc + "/sinch",
		acc + "/reconcile", acc + "/settings", "/console/admin/queues", q, "/console/admin/agents", g}
	posts = []string{"/console/admin/accounts", acc, acc + "/delete", acc + "/sinch", acc + "/reconcile", acc + "/settings",
		"/console/admin/queues", q, q + "/delete", q + "/accounts/" + aid, q + "/agents/" + gid,
		"/console/admin/agents", g, g + "/delete", g + "/token", g + "/permissions/" + aid}
	return gets, posts
}

func TestAdminConfigAgentForbidden(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			v := newConfigEnv(t, engine)
			a := signinAdmin(t, v)
			aid := idOf(t, a.post("/console/admin/accounts", accountForm("Acme")))
			qid := idOf(t, a.post("/console/admin/queues", url.Values{"name": {"support"}, "strategy": {"round_robin"}}))
			gid := fmt.Sprint(v.agent)

			ck, _ := v.signin(v.token)
			require.NotNil(t, ck)
			var sess models.ConsoleSession
			require.NoError(t, v.db.Where("admin = ?", false).Take(&sess).Error)
			gets, posts := adminPages(aid, qid, gid)
			for _, p := range gets {
				rec := v.do(http.MethodGet, p, nil, []*http.Cookie{ck}, nil)
				assert.Equal(t, http.StatusForbidden, rec.Code, p)
				assert.Contains(t, rec.Body.String(), "This page is the admin&#39;s", p)
			}
			for _, p := range posts {
				rec := v.do(http.MethodPost, p, url.Values{"csrf": {sess.CSRF}, "action": {"link"}, "name": {"x"}}, []*http.Cookie{ck}, nil)
				assert.Equal(t, http.StatusForbidden, rec.Code, p)
			}
			// Nothing changed.
			var n int64
			require.NoError(t, v.db.Model(&models.Queue{}).Count(&n).Error)
			assert.EqualValues(t, 1, n)
			require.NoError(t, v.db.Model(&models.Account{}).Count(&n).Error)
			assert.EqualValues(t, 1, n)
		})
	}
}

func TestAdminConfigCSRF(t *testing.T) {
	v := newConfigEnv(t, models.SQLite)
	a := signinAdmin(t, v)
	aid := idOf(t, a.post("/console/admin/accounts", accountForm("Acme")))
	qid := idOf(t, a.post("/console/admin/queues", url.Values{"name": {"support"}, "strategy": {"round_robin"}}))
	_, posts := adminPages(aid, qid, fmt.Sprint(v.agent))
	for _, p := range posts {
		for _, tok := range []string{"", "forged"} {
			form := url.Values{"action": {"link"}, "name": {"changed"}, "strategy": {"round_robin"}}
			if tok != "" {
				form.Set("csrf", tok)
			}
			rec := v.do(http.MethodPost, p, form, []*http.Cookie{a.ck}, nil)
			assert.Equal(t, http.StatusForbidden, rec.Code, p)
			assert.Contains(t, rec.Body.String(), "security token is missing or out of date", p)
		}
	}
	// htmx's header is checked the same way.
	rec := v.do(http.MethodPost, "/console/admin/queues", url.Values{"name": {"other"}, "strategy": {"round_robin"}}, []*http.Cookie{a.ck},
		map[string]string{"HX-Request": "true", "X-CSRF-Token": "forged"})
	assert.Equal(t, http.StatusForbidden, rec.Code)
	// Nothing changed.
	var names []string
	require.NoError(t, v.db.Model(&models.Queue{}).Pluck("name", &names).Error)
	assert.Equal(t, []string{"support"}, names)
	var acc models.Account
	require.NoError(t, v.db.Take(&acc).Error)
	assert.Equal(t, "Acme", acc.Name)
	require.NoError(t, v.db.Model(&models.Agent{}).Pluck("name", &names).Error)
	assert.True(t, strings.HasPrefix(names[0], "Ada"))
}
