package emulator_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/sinch/emulator"
)

func (e *env) addFault(f any) {
	e.t.Helper()
	res, body := e.do(http.MethodPost, "/emulator/apps/"+e.app.AppID+"/faults", f, nil)
	require.Equal(e.t, http.StatusNoContent, res.StatusCode, string(body))
}

func TestFaultHTTPStatus(t *testing.T) {
	e := newEnv(t, fastOptions(), emulator.ModeConversation)
	const to = "393331234567"
	e.addFault(emulator.Fault{To: to, Times: 2, HTTPStatus: 429, RetryAfterSeconds: 7})
	e.addFault(emulator.Fault{To: to, Times: 1, HTTPStatus: 500})
	e.addFault(emulator.Fault{To: to, HTTPStatus: 503}) // times 0 means once

	// Another recipient is unaffected.
	res, body := e.sendAt("", textTo(e.app.AppID, "393330000000", "x"), nil)
	assert.Equal(t, http.StatusOK, res.StatusCode, string(body))

	for i, want := range []struct {
		code   int
		status string
	}{{429, "RESOURCE_EXHAUSTED"}, {429, "RESOURCE_EXHAUSTED"}, {500, "INTERNAL"}, {503, "UNAVAILABLE"}, {200, ""}} {
		res, body := e.sendAt("", textTo(e.app.AppID, to, "hello"), nil)
		require.Equal(t, want.code, res.StatusCode, "send %d: %s", i, body)
		if want.code == 429 {
			assert.Equal(t, "7", res.Header.Get("Retry-After"))
		} else {
			assert.Empty(t, res.Header.Get("Retry-After"))
		}
		if want.code != 200 {
			requireSinchError(t, body, want.code, want.status)
		}
	}
	// Rejected sends are not in the outbox.
	items, err := e.emu.Outbox(e.app.AppID, to)
	require.NoError(t, err)
	assert.Len(t, items, 1)
}

func TestFaultReasonCode(t *testing.T) {
	e := newEnv(t, fastOptions(), emulator.ModeConversation)
	const to = "393331234567"
	e.addFault(emulator.Fault{To: to, Times: 2, ReasonCode: "OUTSIDE_ALLOWED_SENDING_WINDOW"})
	e.addFault(emulator.Fault{To: "393330000009", ReasonCode: "RECIPIENT_NOT_OPTED_IN"})

	for range 2 {
		id := e.send(textTo(e.app.AppID, to, "hello"))
		hits := e.waitReports(id, 2)
		require.Equal(t, []string{"QUEUED_ON_CHANNEL", "FAILED"}, statuses(hits))
		r := hits[1].cb.MessageDeliveryReport.Reason
		require.NotNil(t, r)
		assert.Equal(t, "OUTSIDE_ALLOWED_SENDING_WINDOW", r.Code)
		assert.Equal(t, "UNSPECIFIED_SUB_CODE", r.SubCode)
		assert.Equal(t, "131047", r.ChannelCode)
		assert.Contains(t, r.Description, "24 hours")
	}
	id := e.send(textTo(e.app.AppID, to, "hello"))
	assert.Equal(t, []string{"QUEUED_ON_CHANNEL", "DELIVERED", "READ"}, statuses(e.waitReports(id, 3)), "fault consumed")

	// A code without a WhatsApp channel code omits channel_code.
	other := e.send(textTo(e.app.AppID, "393330000009", "hello"))
	hits := e.waitReports(other, 2)
	r := hits[1].cb.MessageDeliveryReport.Reason
	require.NotNil(t, r)
	assert.Equal(t, "RECIPIENT_NOT_OPTED_IN", r.Code)
	assert.NotContains(t, string(hits[1].body), "channel_code")

	require.Eventually(t, func() bool {
		items, _ := e.emu.Outbox(e.app.AppID, to)
		return len(items) == 3 && items[0].Status == "FAILED" && items[2].Status == "READ"
	}, waitFor, tick)
	items, _ := e.emu.Outbox(e.app.AppID, to)
	assert.Equal(t, "OUTSIDE_ALLOWED_SENDING_WINDOW", items[0].ReasonCode)
}

func TestFaultLatency(t *testing.T) {
	e := newEnv(t, fastOptions(), emulator.ModeConversation)
	const to = "393331234567"
	e.addFault(emulator.Fault{To: to, Times: 1, LatencyMs: 300})

	start := time.Now()
	res, body := e.sendAt("", textTo(e.app.AppID, to, "hello"), nil)
	require.Equal(t, http.StatusOK, res.StatusCode, string(body))
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)

	start = time.Now()
	res, _ = e.sendAt("", textTo(e.app.AppID, to, "hello"), nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Less(t, time.Since(start), 300*time.Millisecond, "fault consumed")
}

func TestFaultValidation(t *testing.T) {
	e := newEnv(t, fastOptions(), emulator.ModeConversation)
	path := "/emulator/apps/" + e.app.AppID + "/faults"
	for name, f := range map[string]any{
		"none":                 emulator.Fault{To: "1"},
		"two options":          emulator.Fault{HTTPStatus: 500, LatencyMs: 10},
		"bad status":           emulator.Fault{HTTPStatus: 404},
		"retry-after with 500": emulator.Fault{HTTPStatus: 500, RetryAfterSeconds: 3},
		"unknown reason":       emulator.Fault{ReasonCode: "NOPE"},
		"negative times":       emulator.Fault{Times: -1, HTTPStatus: 500},
		"negative latency":     emulator.Fault{LatencyMs: -5},
		"hang and latency":     emulator.Fault{HangAfterAccept: true, LatencyMs: 10},
		"hang and status":      emulator.Fault{HangAfterAccept: true, HTTPStatus: 503},
		"misspelt option":      map[string]any{"http_status": 500},
	} {
		t.Run(name, func(t *testing.T) {
			res, body := e.do(http.MethodPost, path, f, nil)
			assert.Equal(t, http.StatusBadRequest, res.StatusCode, string(body))
		})
	}
	res, _ := e.do(http.MethodPost, "/emulator/apps/nope/faults", emulator.Fault{HTTPStatus: 500}, nil)
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
}

// Close ends an injected latency early, also when the handler is served by
// someone else.
func TestFaultLatencyEndsOnClose(t *testing.T) {
	emu := emulator.New(fastOptions())
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)
	e := &env{t: t, emu: emu, url: srv.URL, app: emulator.App{AppID: "a", ProjectID: testProject, Region: "eu",
		WebhookURL: "http://127.0.0.1:1/hook", KeyID: "k", KeySecret: "s"}}
	require.NoError(t, emu.CreateApp(e.app))
	e.token = e.fetchToken("k", "s")
	e.addFault(emulator.Fault{LatencyMs: 60_000})

	body, err := json.Marshal(textTo("a", "393331234567", "hi"))
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/projects/"+testProject+"/messages:send", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+e.token)
	done := make(chan int, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		res.Body.Close()
		done <- res.StatusCode
	}()
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, emu.Close())
	select {
	case code := <-done:
		assert.Equal(t, http.StatusServiceUnavailable, code)
	case <-time.After(waitFor):
		t.Fatal("the delayed send outlived Close")
	}
}

// A hangAfterAccept send is accepted and delivered as usual, but never
// answered: the client sees a retryable network error once the connection
// drops, and the message is in the outbox once.
func TestFaultHangAfterAccept(t *testing.T) {
	env := newClientEnv(t, time.Hour)
	c := env.client(t, nil)
	require.NoError(t, env.em.AddFault("01APPEU", emulator.Fault{To: env.contact, HangAfterAccept: true}))

	done := make(chan error, 1)
	go func() {
		_, err := env.send(c, "hello")
		done <- err
	}()
	var id string
	require.Eventually(t, func() bool {
		items, _ := env.em.Outbox("01APPEU", env.contact)
		if len(items) == 1 && items[0].Status == emulator.StatusRead {
			id = items[0].MessageID
			return true
		}
		return false
	}, waitFor, tick, "accepted and delivered")
	require.Eventually(t, func() bool {
		n := 0
		for _, h := range env.rcv.snapshot() {
			if r := h.cb.MessageDeliveryReport; r != nil && r.MessageID == id {
				n++
			}
		}
		return n == 3
	}, waitFor, tick, "QUEUED_ON_CHANNEL, DELIVERED and READ callbacks")
	select {
	case err := <-done:
		t.Fatalf("the send was answered: %v", err)
	default:
	}

	require.NoError(t, env.em.Close())
	select {
	case err := <-done:
		apiErr, ok := sinch.AsAPIError(err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, sinch.OpSend, apiErr.Op)
		assert.Zero(t, apiErr.HTTPStatus, "no answer at all")
		assert.Equal(t, sinch.ErrorClassRetryable, apiErr.Class)
	case <-time.After(waitFor):
		t.Fatal("the held send outlived Close")
	}
	items, err := env.em.Outbox("01APPEU", env.contact)
	require.NoError(t, err)
	assert.Len(t, items, 1, "the transport did not resend it")
}

// The held request ends without a response also when the handler is served
// by someone else, whose server stays up.
func TestFaultHangAfterAcceptAbortsConnection(t *testing.T) {
	emu := emulator.New(fastOptions())
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)
	e := &env{t: t, emu: emu, url: srv.URL, app: emulator.App{AppID: "a", ProjectID: testProject, Region: "eu",
		WebhookURL: "http://127.0.0.1:1/hook", KeyID: "k", KeySecret: "s"}}
	require.NoError(t, emu.CreateApp(e.app))
	e.token = e.fetchToken("k", "s")
	e.addFault(map[string]any{"hangAfterAccept": true})

	res, body := e.sendAt("", textTo("a", "393331234567", ""), nil)
	require.Equal(t, http.StatusBadRequest, res.StatusCode, "a rejected send is answered: %s", body)

	body, err := json.Marshal(textTo("a", "393331234567", "hi"))
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/projects/"+testProject+"/messages:send", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+e.token)
	done := make(chan error, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			err = fmt.Errorf("answered %d", res.StatusCode)
		}
		done <- err
	}()
	require.Eventually(t, func() bool {
		items, _ := emu.Outbox("a", "")
		return len(items) == 1
	}, waitFor, tick)
	require.NoError(t, emu.Close())
	select {
	case err := <-done:
		assert.NotContains(t, err.Error(), "answered")
	case <-time.After(waitFor):
		t.Fatal("the held send outlived Close")
	}
}

// A client that gives up ends the hold; the fault is then used up.
func TestFaultHangAfterAcceptClientTimeout(t *testing.T) {
	env := newClientEnv(t, time.Hour)
	impatient, err := sinch.NewClient(env.appCfg, env.tokens, &http.Client{Timeout: 300 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, env.em.AddFault("01APPEU", emulator.Fault{HangAfterAccept: true}))

	_, err = env.send(impatient, "first")
	apiErr, ok := sinch.AsAPIError(err)
	require.True(t, ok, "%v", err)
	assert.True(t, apiErr.Retryable())
	var netErr net.Error
	require.ErrorAs(t, err, &netErr)
	assert.True(t, netErr.Timeout())

	_, err = env.send(impatient, "second")
	require.NoError(t, err, "the fault is used up")
	items, err := env.em.Outbox("01APPEU", "")
	require.NoError(t, err)
	require.Len(t, items, 2)
	assert.Equal(t, "first", items[0].Text, "the unanswered send was accepted")
}
