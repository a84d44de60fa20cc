package app_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/internal/browsertest"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinch/emulator"
)

// cfgDo runs browser actions and fails the test on an error.
func cfgDo(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, actions...), what)
}

// cfgUntil waits until a JavaScript condition holds in the page.
func cfgUntil(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	cfgDo(t, ctx, what, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(45*time.Second)))
}

// cfgEval is a JavaScript expression's value in the page.
func cfgEval[T any](t *testing.T, ctx context.Context, expr string, opts ...chromedp.EvaluateOption) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	require.NoError(t, err, expr)
	return v
}

// cfgSubmit clicks a submit button and waits for the next page to show
// the element want.
func cfgSubmit(t *testing.T, ctx context.Context, button, want string) {
	t.Helper()
	cfgDo(t, ctx, "submit "+button, chromedp.Click(chromedp.CSS(button)), chromedp.WaitVisible(chromedp.CSS(want)))
}

// cfgFits checks the page has no horizontal scrolling on a 360 px phone.
func cfgFits(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	cfgDo(t, ctx, "phone viewport", chromedp.EmulateViewport(int64(browsertest.Phone.Width), int64(browsertest.Phone.Height)))
	cfgUntil(t, ctx, page+" fits 360 px", `document.documentElement.scrollWidth <= 360`)
	cfgDo(t, ctx, "desktop viewport", chromedp.EmulateViewport(int64(browsertest.Desktop.Width), int64(browsertest.Desktop.Height)))
}

// cfgScreenshot writes docs/screenshots/name (UPDATE_SCREENSHOTS=1) of the
// whole page at size.
func cfgScreenshot(t *testing.T, ctx context.Context, name string, size browsertest.Size) {
	t.Helper()
	if os.Getenv("UPDATE_SCREENSHOTS") != "1" {
		return
	}
	cfgDo(t, ctx, "viewport", chromedp.EmulateViewport(int64(size.Width), int64(size.Height)))
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: a PNG
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join("..", "docs", "screenshots", name), png, 0o644))
	cfgDo(t, ctx, "desktop viewport", chromedp.EmulateViewport(int64(browsertest.Desktop.Width), int64(browsertest.Desktop.Height)))
}

// TestConsoleAdmin drives the admin's configuration pages in a real
// browser against the dev stack: the admin signs in, creates an account
// for an emulator app through the form (its generated webhook secret
// shown once), copies the Receive URL, runs the diagnostics (each check
// shown pass, warn or fail with its fix), sets up the Sinch webhook,
// reconciles the last day (its state followed live) and grants an agent
// the account; every page fits a 360 px phone.
func TestConsoleAdmin(t *testing.T) {
	s := newStack(t, models.SQLite, "round_robin", "ann")
	em := s.dev.Emulator
	require.NotNil(t, em)
	const adminApp = "01HADMINCONSOLEAPP"
	require.NoError(t, em.CreateApp(emulator.App{AppID: adminApp, ProjectID: "proj-9", Region: "eu", ProcessingMode: "CONVERSATION",
		KeyID: "key-9", KeySecret: "ks-console-secret-9"}))
	base := s.dev.APIURL()
	ctx := browsertest.New(t, browsertest.Desktop, 4*time.Minute)

	// The copy button writes the clipboard, which the test reads back.
	_, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
		Permission: &browser.PermissionDescriptor{Name: "clipboard-read"}, Setting: browser.PermissionSettingGranted, Origin: base})
	require.NoError(t, err)
	_, err = chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
		Permission: &browser.PermissionDescriptor{Name: "clipboard-write", AllowWithoutSanitization: true}, Setting: browser.PermissionSettingGranted, Origin: base})
	require.NoError(t, err)

	// Sign in with the admin token: the accounts' list.
	cfgDo(t, ctx, "sign-in page", chromedp.Navigate(base+"/console/signin"), chromedp.WaitVisible(chromedp.ID("token")))
	cfgDo(t, ctx, "sign in", chromedp.SendKeys(chromedp.ID("token"), s.cfg.AdminToken),
		chromedp.Click(chromedp.CSS(`form[action="/console/signin"] button[type="submit"]`)), chromedp.WaitVisible(chromedp.ID("accounts")))
	assert.Contains(t, cfgEval[string](t, ctx, `document.getElementById('accounts').innerText`), "Acme Support")
	cfgFits(t, ctx, "accounts")

	// A new account through the form.
	cfgDo(t, ctx, "new account", chromedp.Navigate(base+"/console/admin/accounts/new"), chromedp.WaitVisible(chromedp.ID("account-form")))
	cfgFits(t, ctx, "new account")
	for id, v := range map[string]string{"f-name": "Web shop", "f-key": "webshop", "f-phone": "+390212345679", "f-public": base,
		"f-project": "proj-9", "f-app": adminApp, "f-keyid": "key-9", "f-keysecret": "ks-console-secret-9",
		"f-baseurl": s.dev.EmulatorURL, "f-authurl": s.dev.EmulatorURL + "/oauth2/token"} {
		cfgDo(t, ctx, "fill "+id, chromedp.SetValue(chromedp.ID(id), v))
	}
	require.True(t, cfgEval[bool](t, ctx, `document.getElementById('f-gen').checked`), "a generated secret by default")
	cfgSubmit(t, ctx, "#account-save", "#receive-url")
	secret := cfgEval[string](t, ctx, `document.getElementById('new-secret').textContent`)
	assert.Len(t, secret, 43, "the generated secret, shown once")
	action := cfgEval[string](t, ctx, `document.getElementById('account-form').getAttribute('action')`)
	id, err := strconv.ParseUint(strings.TrimPrefix(action, "/console/admin/accounts/"), 10, 64)
	require.NoError(t, err, action)
	receive := fmt.Sprintf("%s/api/whatsapp/accounts/%d/notify", base, id)
	require.Equal(t, receive, cfgEval[string](t, ctx, `document.getElementById('receive-url').textContent`), "the Receive URL in full")
	var acc struct {
		Name, ReceiveURL string
		WebhookSecretSet bool
	}
	s.admin(http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d", id), nil, &acc, http.StatusOK)
	assert.Equal(t, "Web shop", acc.Name)
	assert.Equal(t, receive, acc.ReceiveURL)
	assert.True(t, acc.WebhookSecretSet)

	// Copy the Receive URL: the button says so and the clipboard holds it.
	cfgDo(t, ctx, "copy", chromedp.Click(chromedp.ID("copy-receive-url")))
	cfgUntil(t, ctx, "copied", `document.getElementById('copy-receive-url').textContent === 'Copied'`)
	clip := cfgEval[string](t, ctx, `navigator.clipboard.readText()`, chromedp.EvalAwaitPromise)
	assert.Equal(t, receive, clip)

	// The page again: the secret is gone for good.
	cfgDo(t, ctx, "account page", chromedp.Navigate(fmt.Sprintf("%s/console/admin/accounts/%d", base, id)), chromedp.WaitVisible(chromedp.ID("receive-url")))
	assert.NotContains(t, cfgEval[string](t, ctx, `document.documentElement.outerHTML`), secret)
	assert.Equal(t, "set", cfgEval[string](t, ctx, `document.getElementById('webhook-secret-state').textContent`))
	cfgScreenshot(t, ctx, "admin-account-desktop.png", browsertest.Desktop)
	cfgScreenshot(t, ctx, "admin-account-phone.png", browsertest.Phone)
	cfgFits(t, ctx, "account")

	// Diagnostics: every check with its result and fix.
	cfgDo(t, ctx, "diagnostics", chromedp.Click(chromedp.CSS(`nav.tabs a[href$="/diagnostics"]`)), chromedp.WaitVisible(chromedp.ID("checks")))
	type check struct{ Name, Status, Badge, Fix string }
	checks := cfgEval[[]check](t, ctx, `[...document.querySelectorAll('#checks tbody tr')].map(r => ({
		Name: r.dataset.check, Status: r.dataset.status,
		Badge: r.querySelector(".badge").textContent, Fix: r.querySelector('td[data-label="Fix"]').textContent}))`)
	require.NotEmpty(t, checks)
	byName := map[string]check{}
	for _, c := range checks {
		assert.Contains(t, []string{"pass", "warn", "fail", "skip"}, c.Status, c.Name)
		assert.Equal(t, c.Status, c.Badge, c.Name)
		if c.Status == "warn" || c.Status == "fail" {
			assert.NotEmpty(t, strings.TrimSpace(c.Fix), "%s has its fix", c.Name)
		}
		byName[c.Name] = c
	}
	for _, name := range []string{"receive_url", "credentials", "webhook_secret"} {
		assert.Equal(t, "pass", byName[name].Status, name)
	}
	assert.True(t, slices.ContainsFunc(checks, func(c check) bool { return c.Status == "warn" || c.Status == "fail" }),
		"before any callback something is to fix: %v", checks)
	cfgFits(t, ctx, "diagnostics")

	// The Sinch side: no webhook yet; the setup creates it.
	cfgDo(t, ctx, "sinch", chromedp.Click(chromedp.CSS(`nav.tabs a[href$="/sinch"]`)), chromedp.WaitVisible(chromedp.ID("sinch-setup")))
	assert.Contains(t, cfgEval[string](t, ctx, `document.getElementById('sinch-problems').innerText`), "Fix:")
	cfgSubmit(t, ctx, "#sinch-setup", "#sinch-changes")
	assert.Contains(t, cfgEval[string](t, ctx, `document.getElementById('sinch-changes').innerText`), "create_webhook")
	hooks, err := em.Webhooks(adminApp)
	require.NoError(t, err)
	require.Len(t, hooks, 1)
	assert.Equal(t, receive, hooks[0].Target)

	// A reconciliation over the last day: started, then followed live
	// until it completes.
	cfgDo(t, ctx, "reconcile", chromedp.Click(chromedp.CSS(`nav.tabs a[href$="/reconcile"]`)), chromedp.WaitVisible(chromedp.ID("reconcile-start")))
	cfgSubmit(t, ctx, "#reconcile-start", "#reconcile-status")
	assert.Contains(t, cfgEval[string](t, ctx, `document.querySelector('main').innerText`), "Reconciliation started.")
	cfgUntil(t, ctx, "reconciliation completed", `document.getElementById('reconcile-state').textContent === 'completed'`)
	assert.Contains(t, cfgEval[string](t, ctx, `document.getElementById('reconcile-status').innerText`), "listed at Sinch")

	// Ann is permitted on the new account.
	ann := s.agents["ann"].ID
	cfgDo(t, ctx, "agent page", chromedp.Navigate(fmt.Sprintf("%s/console/admin/agents/%d", base, ann)), chromedp.WaitVisible(chromedp.ID("permissions")))
	cfgFits(t, ctx, "agent")
	cfgSubmit(t, ctx, fmt.Sprintf(`tr[data-account="%d"] button[value="grant"]`, id), fmt.Sprintf(`tr[data-account="%d"] button[value="revoke"]`, id))
	assert.Contains(t, cfgEval[string](t, ctx, `document.querySelector('main').innerText`), "Permission granted.")
	var agent struct{ PermittedAccountIDs []uint64 }
	s.admin(http.MethodGet, fmt.Sprintf("/api/agents/%d", ann), nil, &agent, http.StatusOK)
	assert.Contains(t, agent.PermittedAccountIDs, id)

	// The settings page fits a phone too.
	cfgDo(t, ctx, "settings", chromedp.Navigate(fmt.Sprintf("%s/console/admin/accounts/%d/settings", base, id)), chromedp.WaitVisible(chromedp.ID("settings-form")))
	cfgFits(t, ctx, "settings")
}
