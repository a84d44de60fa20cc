package app_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/internal/browsertest"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinch/emulator"
)

// opsDo runs browser actions and fails the test on an error.
func opsDo(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, actions...), what)
}

// opsEval evaluates a JavaScript expression in the page.
func opsEval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	require.NoError(t, err, expr)
	return v
}

// opsWait polls a JavaScript condition in the page until it holds; a
// navigation ends a poll, and the next one reads the new page.
func opsWait(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(time.Until(deadline))))
		if err == nil {
			return
		}
		if time.Now().After(deadline) || !(strings.Contains(err.Error(), "navigated or closed") || strings.Contains(err.Error(), "Cannot find context")) {
			require.NoError(t, err, what)
		}
	}
}

// opsScreenshot writes docs/screenshots/<name> with UPDATE_SCREENSHOTS=1.
func opsScreenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if os.Getenv("UPDATE_SCREENSHOTS") != "1" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join("..", "docs", "screenshots", name), png, 0o644))
}

// opsAccessible checks the page: every control labelled, and nothing
// wider than a 360 px screen.
func opsAccessible(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	unlabelled := opsEval[[]string](t, ctx, `Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
		.filter(e => !e.labels || e.labels.length === 0).map(e => e.id || e.name)`)
	assert.Empty(t, unlabelled, "%s: controls without a label", page)
	opsDo(t, ctx, "phone viewport", chromedp.EmulateViewport(int64(browsertest.Phone.Width), int64(browsertest.Phone.Height)))
	opsWait(t, ctx, page+" fits 360 px", `document.documentElement.scrollWidth <= 360`)
	// The page clips horizontal overflow: no element may reach past the
	// screen's edge either.
	const wide = `Array.from(document.querySelectorAll('main *')).filter(e => {
		const r = e.getBoundingClientRect(); return r.width > 1 && r.right > 361 && !e.closest('.visually-hidden, thead');
	}).map(e => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))`
	// Charts redraw at the new width on the resize event.
	if chromedp.Do(ctx, chromedp.Poll[chromedp.Void](wide+`.length === 0`, chromedp.WithPollingTimeout(10*time.Second))) != nil {
		assert.Empty(t, opsEval[[]string](t, ctx, wide), "%s: elements wider than 360 px", page)
	}
	opsDo(t, ctx, "desktop viewport", chromedp.EmulateViewport(int64(browsertest.Desktop.Width), int64(browsertest.Desktop.Height)))
	opsWait(t, ctx, page+": the charts take the desktop width again", `Array.from(document.querySelectorAll('.chart-area')).every(c =>
		c.querySelector('.uplot') && Math.abs(c.querySelector('.uplot').offsetWidth - Math.min(c.clientWidth, 672)) < 4)`)
}

// TestConsoleOps drives the admin's operations pages in a real browser
// against the dev stack: the admin starts a migration from the form, sees
// it reach the account manager's confirmation with the exact next action
// and confirms it; downloads a report as CSV (the API's, parsed); and opens
// the interactions behind a report's number.
func TestConsoleOps(t *testing.T) {
	s := newStackWith(t, models.SQLite, func(cfg *config.Config) {
		cfg.TemporalUIURL = "http://temporal-ui.example:8233"
	}, "round_robin", "bob")
	require.NoError(t, s.dev.Emulator.CreateApp(emulator.App{AppID: newAppID, ProjectID: newProjectID, Region: "eu",
		ProcessingMode: "CONVERSATION", KeyID: newKeyID, KeySecret: newKeySecret}))

	// Two customers write to the source account: the report's traffic.
	for i, who := range []string{"393331110001", "393331110002"} {
		code, body := s.postLikeSinch(inboundBody(fmt.Sprintf("01HOPSMSG%03d", i), who, "Hello", time.Now()), webhookSecret)
		require.Equal(t, http.StatusOK, code, body)
	}
	var inters []api.InteractionResponse
	require.Eventually(t, func() bool {
		inters = s.interactions(fmt.Sprintf("accountId=%d", s.account))
		return len(inters) == 2
	}, 60*time.Second, 100*time.Millisecond, "two interactions")
	wantIDs := []uint64{inters[0].ID, inters[1].ID}
	slices.Sort(wantIDs)

	base := s.dev.APIURL()
	ctx := browsertest.New(t, browsertest.Desktop, 4*time.Minute)
	// The confirmations (data-confirm) are accepted.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()

	// Sign in as the admin, straight to the migrations.
	opsDo(t, ctx, "sign in",
		chromedp.Navigate(base+"/console/signin?next="+url.QueryEscape("/console/admin/migrations")),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), s.cfg.AdminToken),
		chromedp.Click(chromedp.CSS(`form[action="/console/signin"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("new-migration")),
	)

	// Start the migration from the form.
	opsAccessible(t, ctx, "migrations")
	opsDo(t, ctx, "the start form", chromedp.Click(chromedp.ID("new-migration")), chromedp.WaitVisible(chromedp.ID("migration-form")))
	opsAccessible(t, ctx, "the start form")
	opsDo(t, ctx, "fill the form",
		chromedp.SetValue(chromedp.ID("f-sourceAccountId"), strconv.FormatUint(s.account, 10)),
		chromedp.SendKeys(chromedp.ID("f-name"), "Acme Support V2"),
		chromedp.SendKeys(chromedp.ID("f-key"), "acme-v2"),
		chromedp.SendKeys(chromedp.ID("f-publicUrl"), "https://motion.example.com"),
		chromedp.SendKeys(chromedp.ID("f-projectId"), newProjectID),
		chromedp.SendKeys(chromedp.ID("f-appId"), newAppID),
		chromedp.SendKeys(chromedp.ID("f-keyId"), newKeyID),
		chromedp.SendKeys(chromedp.ID("f-keySecret"), newKeySecret),
		chromedp.SendKeys(chromedp.ID("f-phone"), "+390212345678"),
		chromedp.SendKeys(chromedp.ID("f-webhookSecret"), newWebhookSecret),
		chromedp.Click(chromedp.CSS(`#migration-form details summary`)),
		chromedp.SendKeys(chromedp.ID("f-baseUrl"), s.dev.EmulatorURL),
		chromedp.SendKeys(chromedp.ID("f-authUrl"), s.dev.EmulatorURL+"/oauth2/token"),
		chromedp.Click(chromedp.ID("start")),
		chromedp.WaitVisible(chromedp.ID("state")),
	)
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	id, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(strings.SplitN(loc, "?", 2)[0], base+"/console/admin/migrations/"), "/"), 10, 64)
	require.NoError(t, err, loc)
	require.Contains(t, opsEval[string](t, ctx, `document.getElementById('done').textContent`), "The migration started")

	// The page refreshes itself until the migration waits for the account
	// manager; the next action is the API's, its route named as the page's
	// button.
	opsWait(t, ctx, "awaiting confirmation", `document.getElementById('state') && document.getElementById('state').textContent === 'awaiting_confirmation'`)
	m := s.migrationOf(id)
	require.Equal(t, "awaiting_confirmation", m.State)
	route := fmt.Sprintf("POST /api/migrations/%d/confirm", id)
	require.Contains(t, m.NextAction, route)
	assert.Equal(t, "Next: "+strings.Replace(m.NextAction, route, "press “The account manager confirmed” below", 1),
		strings.TrimSpace(opsEval[string](t, ctx, `document.getElementById('next-action').textContent`)))
	assert.Contains(t, m.NextAction, "email your Sinch account manager App ID "+newAppID)
	assert.Equal(t, len(m.Steps), opsEval[int](t, ctx, `document.querySelectorAll('#steps li.step').length`))
	assert.Equal(t, "http://temporal-ui.example:8233/namespaces/"+url.PathEscape(s.cfg.TemporalNamespace)+"/workflows/"+url.PathEscape(m.WorkflowID),
		opsEval[string](t, ctx, `document.getElementById('workflow-link').href`))
	opsAccessible(t, ctx, "the migration")
	opsScreenshot(t, ctx, "admin-migration-desktop.png")

	// Confirm (the browser's confirmation accepted).
	opsDo(t, ctx, "confirm", chromedp.Click(chromedp.ID("confirm")))
	opsWait(t, ctx, "the confirmation sent", `document.getElementById('done') && document.getElementById('done').textContent.indexOf('Confirmation sent') >= 0`)
	s.waitMigration(id, "awaiting the first message", func(m api.MigrationResponse) bool { return m.State == "awaiting_first_message" })
	opsWait(t, ctx, "the page shows it", `document.getElementById('state').textContent === 'awaiting_first_message'`)
	assert.False(t, opsEval[bool](t, ctx, `!!document.getElementById('confirm')`), "confirmed: no second confirmation")

	// The interactions report of today and yesterday, by account.
	from := time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	to := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	opsDo(t, ctx, "reports",
		chromedp.Click(chromedp.CSS(`nav a[href="/console/admin/reports"]`)),
		chromedp.WaitVisible(chromedp.ID("r-from")),
		chromedp.SetValue(chromedp.ID("r-from"), from),
		chromedp.SetValue(chromedp.ID("r-to"), to),
		chromedp.SetValue(chromedp.ID("r-groupBy"), "account"),
		chromedp.Click(chromedp.CSS(`form.report-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("total-opened")),
	)
	assert.Equal(t, "2", opsEval[string](t, ctx, `document.getElementById('total-opened').textContent`))
	opsWait(t, ctx, "the chart is drawn", `!!document.querySelector('.chart-area canvas')`)
	opsWait(t, ctx, "the live overview", `!!document.getElementById('live-open')`)
	opsAccessible(t, ctx, "the report")
	opsScreenshot(t, ctx, "admin-reports-desktop.png")

	// Download the CSV: the API's, with the same numbers.
	dir := t.TempDir()
	opsDo(t, ctx, "download", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir})
		return err
	}), chromedp.Click(chromedp.ID("csv-link")))
	file := filepath.Join(dir, "report.csv")
	require.Eventually(t, func() bool { _, err := os.Stat(file); return err == nil }, 30*time.Second, 100*time.Millisecond, "report.csv downloaded")
	f, err := os.Open(file)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	recs, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(recs), 3, "a header, the account, the total")
	col := slices.Index(recs[0], "opened")
	require.GreaterOrEqual(t, col, 0, "an opened column: %v", recs[0])
	last := recs[len(recs)-1]
	assert.Equal(t, "total", last[0])
	assert.Equal(t, "2", last[col])
	nameCol := slices.Index(recs[0], "group.accountName")
	require.GreaterOrEqual(t, nameCol, 0)
	assert.Equal(t, "Acme Support", recs[1][nameCol])

	// The account's number opens exactly the interactions it counts.
	opsDo(t, ctx, "drill down", chromedp.Click(chromedp.CSS(`#report-table tbody a.drill`)), chromedp.WaitVisible(chromedp.ID("interactions")))
	got := opsEval[[]uint64](t, ctx, `Array.from(document.querySelectorAll('#interactions tbody tr[data-id]')).map(r => Number(r.dataset.id))`)
	slices.Sort(got)
	assert.Equal(t, wantIDs, got)
	loc, err = chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	assert.Contains(t, loc, fmt.Sprintf("accountId=%d", s.account))
	opsAccessible(t, ctx, "the interactions")
	// And one of them, read-only, with its messages and workflow link.
	opsDo(t, ctx, "one interaction", chromedp.Click(chromedp.CSS(`#interactions tbody tr[data-id] a`)), chromedp.WaitVisible(chromedp.ID("workflow-id")))
	assert.Contains(t, opsEval[string](t, ctx, `document.querySelector('ol.messages').textContent`), "Hello")
	assert.True(t, strings.HasPrefix(opsEval[string](t, ctx, `document.getElementById('workflow-link').href`), "http://temporal-ui.example:8233/namespaces/"))
	opsAccessible(t, ctx, "the interaction")
}
