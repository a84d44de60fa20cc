package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/internal/browsertest"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinch/emulator"
)

// gifBytes is a 1x1 GIF: WhatsApp refuses GIF.
var gifBytes = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

// do runs browser actions and fails the test on an error.
func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, actions...), what)
}

// until waits for a JavaScript condition in the page.
func until(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(time.Until(deadline))))
		if err == nil {
			return
		}
		// A navigation (an htmx redirect) ends the poll: poll the new page.
		if !(strings.Contains(err.Error(), "navigated or closed") || strings.Contains(err.Error(), "Cannot find context")) || time.Now().After(deadline) {
			require.NoError(t, err, what)
		}
	}
}

func text(t *testing.T, ctx context.Context, expr string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	require.NoError(t, err, expr)
	return v
}

func consoleSignin(t *testing.T, ctx context.Context, base, token string) {
	t.Helper()
	do(t, ctx, "sign-in page", chromedp.Navigate(base+"/console/signin"), chromedp.WaitVisible(chromedp.CSS(`label[for="token"]`)))
	require.Equal(t, "Token", text(t, ctx, `document.querySelector('label[for="token"]').textContent`))
	require.Equal(t, "Sign in", text(t, ctx, `document.querySelector('form[action="/console/signin"] button[type="submit"]').textContent`))
	do(t, ctx, "sign in",
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Click(chromedp.CSS(`form[action="/console/signin"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("inbox")),
	)
}

func screenshot(t *testing.T, ctx context.Context, name string, size browsertest.Size) {
	t.Helper()
	if os.Getenv("UPDATE_SCREENSHOTS") != "1" {
		return
	}
	do(t, ctx, "viewport", chromedp.EmulateViewport(int64(size.Width), int64(size.Height)))
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join("..", "docs", "screenshots", name), png, 0o644))
}

// noHorizontalScroll checks the page fits a 360 px screen.
func noHorizontalScroll(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	do(t, ctx, "phone viewport", chromedp.EmulateViewport(360, 740))
	until(t, ctx, page+" fits 360 px", `document.documentElement.scrollWidth <= 360`)
	do(t, ctx, "desktop viewport", chromedp.EmulateViewport(int64(browsertest.Desktop.Width), int64(browsertest.Desktop.Height)))
}

// TestConsoleAgent drives the agent console in a real browser against the
// dev stack: ring_all offers two agents a customer, one accepts and the
// other's offer disappears; the conversation is live (messages, ticks up
// to read), a GIF is refused with the API's message, the event stream
// resumes after the server ends it, customer text stays text; the inbox's
// unread count shows live and drops once the agent opens the conversation;
// the agent transfers a conversation to another agent and closes one with
// a disposition from the account's list, both through selects, and signs
// out.
func TestConsoleAgent(t *testing.T) {
	s := newStackWith(t, models.SQLite, func(cfg *config.Config) {
		// One stream per agent: a second one ends the browser's (the
		// server closes it with stream.superseded).
		cfg.SSEMaxStreamsPerAgent = 1
	}, "ring_all", "ann", "ben")
	em := s.dev.Emulator
	require.NotNil(t, em)
	require.NoError(t, em.CreateApp(emulator.App{AppID: appID, ProjectID: "proj-1", Region: "eu", ProcessingMode: "CONVERSATION",
		WebhookURL: s.url(fmt.Sprintf("/api/whatsapp/accounts/%d/notify", s.account)), WebhookSecret: webhookSecret,
		KeyID: "key-1", KeySecret: "ks-1"}))
	s.admin(http.MethodPatch, fmt.Sprintf("/api/whatsapp/accounts/%d", s.account), map[string]any{
		"baseUrl": s.dev.EmulatorURL, "authUrl": s.dev.EmulatorURL + "/oauth2/token",
	}, nil, http.StatusOK)
	s.admin(http.MethodPut, fmt.Sprintf("/api/whatsapp/accounts/%d/settings", s.account), map[string]any{
		"dispositions":  []string{"Solved", "Call back"},
		"cannedAnswers": []map[string]string{{"title": "Greeting", "text": "Hello {{contact.name}}, I am {{agent.name}}"}},
	}, nil, http.StatusOK)
	base := s.dev.APIURL()

	ann := browsertest.New(t, browsertest.Desktop, 4*time.Minute)
	ben := browsertest.NewIncognito(t, ann, browsertest.Phone)
	consoleSignin(t, ann, base, s.agents["ann"].Token)
	consoleSignin(t, ben, base, s.agents["ben"].Token)

	// A customer writes: both agents are offered the conversation, live.
	const customer = "393330000001"
	_, err := em.SendInbound(appID, emulator.Inbound{From: customer, Text: "Hello, my order <b>42</b> is late"})
	require.NoError(t, err)
	for name, ctx := range map[string]context.Context{"ann": ann, "ben": ben} {
		until(t, ctx, name+" is offered the conversation",
			`[...document.querySelectorAll('#inbox .conv.offered')].some(li => li.textContent.includes('Offered to you') && li.querySelector('form.accept button'))`)
	}
	// Ann accepts: the offer disappears from Ben's inbox without a reload.
	do(t, ann, "accept", chromedp.Click(chromedp.CSS(`#inbox .conv.offered form.accept button`)))
	until(t, ann, "the conversation opens", `!!document.getElementById('reply-text')`)
	until(t, ben, "the withdrawn offer disappears", `!document.querySelector('#inbox .conv')`)
	require.Contains(t, text(t, ann, `document.querySelector('#thread .msg.inbound .text').textContent`), "Hello, my order <b>42</b> is late",
		"customer text is shown as text")
	its := s.interactions("status=assigned")
	require.Len(t, its, 1)
	it := its[0]

	// A new customer message appears in the conversation live.
	_, err = em.SendInbound(appID, emulator.Inbound{From: customer, Text: "Are you there?"})
	require.NoError(t, err)
	until(t, ann, "the new message appears", `[...document.querySelectorAll('#thread .msg.inbound .text')].some(p => p.textContent === 'Are you there?')`)
	until(t, ann, "the window is shown", `/left$/.test(document.querySelector('#window time[data-countdown]').textContent)`)

	// Ann replies with Enter; the tick moves to read.
	do(t, ann, "reply", chromedp.Click(chromedp.ID("reply-text")), chromedp.SendKeys(chromedp.ID("reply-text"), "We are on it\r"))
	until(t, ann, "the reply reaches read",
		`[...document.querySelectorAll('#thread .msg.outbound')].some(m => m.textContent.includes('We are on it') && m.querySelector('.tick[role="img"][aria-label="read"]'))`)
	require.Equal(t, "", text(t, ann, `document.getElementById('reply-text').value`), "the box is cleared")

	// A GIF is refused before upload, with the API's own message.
	dir := t.TempDir()
	gif := filepath.Join(dir, "party.gif")
	require.NoError(t, os.WriteFile(gif, gifBytes, 0o644))
	do(t, ann, "choose a GIF", chromedp.SetUploadFiles(chromedp.ID("reply-file"), []string{gif}))
	until(t, ann, "the GIF is refused", `!document.getElementById('file-error').hidden`)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", "party.gif")
	require.NoError(t, err)
	_, _ = fw.Write(gifBytes)
	require.NoError(t, mw.Close())
	req, err := http.NewRequest(http.MethodPost, s.url(fmt.Sprintf("/api/interactions/%d/messages", it.ID)), &body)
	require.NoError(t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+s.agents["ann"].Token)
	var apiErr struct{ Error struct{ Message string } }
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&apiErr))
	_ = resp.Body.Close()
	require.Equal(t, apiErr.Error.Message, text(t, ann, `document.getElementById('file-error').textContent`))
	require.Contains(t, apiErr.Error.Message, "GIF files cannot be sent on WhatsApp")

	screenshot(t, ann, "agent-conversation-desktop.png", browsertest.Desktop)
	screenshot(t, ann, "agent-conversation-phone.png", browsertest.Phone)
	noHorizontalScroll(t, ann, "the conversation")

	// The server ends the browser's stream (a second stream of the agent
	// supersedes it); a customer message sent while it is down still
	// arrives once the browser resumes with its last event id.
	do(t, ann, "count stream errors", chromedp.Evaluate[chromedp.Void](
		`window.__sseErrors = 0; document.addEventListener('htmx:sseError', () => window.__sseErrors++); undefined`, chromedp.EvalIgnoreExceptions))
	s.openEventStream(s.agents["ann"])
	until(t, ann, "the server ended the browser's stream", `window.__sseErrors > 0`)
	_, err = em.SendInbound(appID, emulator.Inbound{From: customer, Text: "Sent while you were away"})
	require.NoError(t, err)
	until(t, ann, "the missed message arrives after the resume",
		`[...document.querySelectorAll('#thread .msg.inbound .text')].some(p => p.textContent === 'Sent while you were away')`)
	until(t, ann, "the banner is gone", `document.getElementById('conn').hidden`)

	// The inbox lists it with its window; what the thread showed is read.
	do(t, ann, "inbox", chromedp.Navigate(base+"/console/agent/inbox"), chromedp.WaitVisible(chromedp.CSS("#inbox .conv")))
	require.Equal(t, "No unread messages", text(t, ann, `document.getElementById('unread-count').textContent`))
	require.Equal(t, "Acme Support", text(t, ann, `document.querySelector('#inbox .conv .badge.account').textContent`), "the account by name")
	until(t, ann, "the window in the list", `/left$/.test(document.querySelector('#inbox .conv time[data-countdown]').textContent)`)

	// A customer message while the agent is on the inbox: its unread
	// count shows, live, on the row and in total.
	_, err = em.SendInbound(appID, emulator.Inbound{From: customer, Text: "One more thing"})
	require.NoError(t, err)
	until(t, ann, "the unread count shows",
		`document.getElementById('unread-count').textContent === '1 unread' && document.querySelector('#inbox .conv .badge.unread').textContent === '1'`)
	require.Equal(t, "One more thing", text(t, ann, `document.querySelector('#inbox .conv .preview').textContent`))
	screenshot(t, ann, "agent-inbox-desktop.png", browsertest.Desktop)
	screenshot(t, ann, "agent-inbox-phone.png", browsertest.Phone)
	noHorizontalScroll(t, ann, "the inbox")
	// Opening the conversation reads it: back in the inbox, nothing is
	// unread.
	do(t, ann, "open the conversation", chromedp.Click(chromedp.CSS(`#inbox .conv .conv-link`)))
	until(t, ann, "the conversation shows the message",
		`[...document.querySelectorAll('#thread .msg.inbound .text')].some(p => p.textContent === 'One more thing')`)
	do(t, ann, "inbox again", chromedp.Navigate(base+"/console/agent/inbox"), chromedp.WaitVisible(chromedp.CSS("#inbox .conv")))
	require.Equal(t, "No unread messages", text(t, ann, `document.getElementById('unread-count').textContent`))
	require.Equal(t, "false", text(t, ann, `String(!!document.querySelector('#inbox .conv .badge.unread'))`))

	// Another customer: Ann accepts and transfers the conversation to Ben
	// through the list of the account's agents; it reaches Ben's inbox live.
	const other = "393330000002"
	_, err = em.SendInbound(appID, emulator.Inbound{From: other, Text: "I need billing"})
	require.NoError(t, err)
	until(t, ann, "ann is offered the second conversation", `!!document.querySelector('#inbox .conv.offered form.accept button')`)
	do(t, ann, "accept the second", chromedp.Click(chromedp.CSS(`#inbox .conv.offered form.accept button`)))
	until(t, ann, "the second conversation opens", `!!document.getElementById('transfer-target')`)
	var second uint64
	for _, x := range s.interactions("status=assigned") {
		if x.ID != it.ID {
			second = x.ID
		}
	}
	require.NotZero(t, second)
	benID := s.agents["ben"].ID
	require.Equal(t, "ben (available)", text(t, ann, fmt.Sprintf(`document.querySelector('#transfer-target option[value="agent:%d"]').textContent`, benID)))
	require.Equal(t, "support", text(t, ann, fmt.Sprintf(`document.querySelector('#transfer-target option[value="queue:%d"]').textContent`, s.queue)))
	require.Equal(t, "false", text(t, ann, fmt.Sprintf(`String(!!document.querySelector('#transfer-target option[value="agent:%d"]'))`, s.agents["ann"].ID)),
		"not to oneself")
	do(t, ann, "transfer to Ben", chromedp.SetValue(chromedp.ID("transfer-target"), fmt.Sprintf("agent:%d", benID)), chromedp.Click(chromedp.ID("transfer")))
	until(t, ann, "back to the inbox", `location.pathname === '/console/agent/inbox' && !!document.getElementById('inbox')`)
	until(t, ben, "the transferred conversation reaches Ben",
		fmt.Sprintf(`[...document.querySelectorAll('#inbox .conv')].some(li => li.dataset.id === '%d' && !li.classList.contains('offered'))`, second))
	got := s.interaction(second)
	require.NotNil(t, got.AgentID)
	require.Equal(t, benID, *got.AgentID)

	// A customer named <script> is shown as text, and runs nothing.
	require.NoError(t, s.dev.DB.Model(&models.Contact{}).Where("identity = ?", customer).
		Update("display_name", `<script>window.pwned=1</script>`).Error)
	do(t, ann, "conversation", chromedp.Navigate(fmt.Sprintf("%s/console/agent/conversations/%d", base, it.ID)), chromedp.WaitVisible(chromedp.ID("conv-title")))
	require.Equal(t, `<script>window.pwned=1</script>`, text(t, ann, `document.getElementById('conv-title').textContent`))
	require.Equal(t, "undefined", text(t, ann, `typeof window.pwned`))

	// Close with a disposition chosen from the account's list.
	require.Equal(t, `["","Solved","Call back"]`, text(t, ann, `JSON.stringify([...document.querySelectorAll('#disposition option')].map(o => o.value))`))
	do(t, ann, "close", chromedp.SetValue(chromedp.ID("disposition"), "Solved"), chromedp.Click(chromedp.ID("close")))
	until(t, ann, "closed", `document.getElementById('conv-status') && document.getElementById('conv-status').textContent.includes('closed: Solved')`)
	require.Equal(t, "Solved", s.interaction(it.ID).Disposition)

	// Sign out.
	do(t, ann, "sign out", chromedp.Click(chromedp.CSS(`form.signout button`)), chromedp.WaitVisible(chromedp.ID("token")))
	require.Contains(t, text(t, ann, `document.body.textContent`), "You have signed out.")
}
