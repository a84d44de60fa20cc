package emulator_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/sinch/emulator"
)

func TestRetriesOn503UntilOK(t *testing.T) {
	opts := fastOptions()
	opts.RetrySchedule = []time.Duration{30 * time.Millisecond, 60 * time.Millisecond, 120 * time.Millisecond}
	e := newEnv(t, opts, emulator.ModeConversation)
	e.rcv.setAnswer(func(n int) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})

	id := e.inbound(emulator.Inbound{From: "393331234567", Text: "hi"})
	require.Eventually(t, func() bool { return len(e.rcv.snapshot()) == 3 }, waitFor, tick)
	// Give a would-be fourth attempt (due 120 ms later) time to show up.
	time.Sleep(200 * time.Millisecond)
	hits := e.rcv.snapshot()
	require.Len(t, hits, 3)
	for _, h := range hits {
		assert.Equal(t, id, h.cb.Message.ID, "the same callback is retried")
	}
	// Each retry is signed afresh.
	assert.NotEqual(t, hits[0].header.Get(sinch.HeaderNonce), hits[1].header.Get(sinch.HeaderNonce))
	// The schedule's delays are respected (lower bounds only).
	assert.GreaterOrEqual(t, hits[1].at.Sub(hits[0].at), 30*time.Millisecond)
	assert.GreaterOrEqual(t, hits[2].at.Sub(hits[1].at), 60*time.Millisecond)

	attempts := e.emu.CallbackAttempts(e.app.AppID)
	require.Len(t, attempts, 3)
	for i, want := range []int{503, 503, 200} {
		assert.Equal(t, want, attempts[i].StatusCode)
		assert.Equal(t, i+1, attempts[i].Number)
		assert.Equal(t, sinch.TriggerMessageInbound, attempts[i].Trigger)
		assert.Equal(t, id, attempts[i].MessageID)
	}
}

func TestRetriesGiveUpAfterSchedule(t *testing.T) {
	e := newEnv(t, fastOptions(), emulator.ModeConversation)
	e.rcv.setAnswer(func(int) int { return http.StatusInternalServerError })
	e.inbound(emulator.Inbound{From: "393331234567", Text: "hi"})
	// 1 attempt + 3 retries (10+20+40 ms), then nothing more.
	require.Eventually(t, func() bool { return len(e.emu.CallbackAttempts(e.app.AppID)) == 4 }, waitFor, tick)
	time.Sleep(100 * time.Millisecond)
	assert.Len(t, e.rcv.snapshot(), 4)
}

func TestRetriesOnTimeout(t *testing.T) {
	opts := fastOptions()
	opts.CallbackTimeout = 50 * time.Millisecond
	e := newEnv(t, opts, emulator.ModeConversation)
	e.rcv.mu.Lock()
	e.rcv.stall = func(n int) time.Duration {
		if n == 1 {
			return time.Second
		}
		return 0
	}
	e.rcv.mu.Unlock()
	e.inbound(emulator.Inbound{From: "393331234567", Text: "hi"})
	require.Eventually(t, func() bool {
		a := e.emu.CallbackAttempts(e.app.AppID)
		return len(a) == 2 && a[1].StatusCode == 200
	}, waitFor, tick)
	first := e.emu.CallbackAttempts(e.app.AppID)[0]
	assert.Zero(t, first.StatusCode)
	assert.NotEmpty(t, first.Err)
}

// A failing webhook delays only the callbacks of the message concerned.
func TestCallbacksOfOneMessageInOrderOthersUnblocked(t *testing.T) {
	opts := fastOptions()
	opts.RetrySchedule = []time.Duration{300 * time.Millisecond}
	e := newEnv(t, opts, emulator.ModeConversation)
	e.rcv.setAnswer(func(n int) int {
		if n == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	slow := e.send(textTo(e.app.AppID, "393330000001", "one"))
	require.Eventually(t, func() bool { return len(e.rcv.snapshot()) >= 1 }, waitFor, tick)
	fast := e.send(textTo(e.app.AppID, "393330000002", "two"))
	e.waitReports(fast, 3)
	assert.Len(t, e.reports(slow), 1, "the slow message waits for its first callback's retry")
	assert.Equal(t, []string{"QUEUED_ON_CHANNEL", "QUEUED_ON_CHANNEL", "DELIVERED", "READ"}, statuses(e.waitReports(slow, 4)))
}

func TestCloseStopsPendingRetries(t *testing.T) {
	opts := fastOptions()
	opts.RetrySchedule = []time.Duration{20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond}
	rcv := newReceiver(t, testSecret)
	rcv.setAnswer(func(int) int { return http.StatusServiceUnavailable })
	emu := emulator.New(opts)
	_, err := emu.Start("127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, emu.CreateApp(emulator.App{AppID: "a", ProjectID: "p", Region: "eu",
		WebhookURL: rcv.srv.URL, WebhookSecret: testSecret, KeyID: "k", KeySecret: "s"}))
	_, err = emu.SendInbound("a", emulator.Inbound{From: "393331234567", Text: "hi"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(rcv.snapshot()) >= 1 }, waitFor, tick)

	require.NoError(t, emu.Close())
	after := len(rcv.snapshot())
	time.Sleep(150 * time.Millisecond)
	assert.Equal(t, after, len(rcv.snapshot()), "no callback after Close")
	assert.Less(t, after, 5)
	_, err = emu.SendInbound("a", emulator.Inbound{From: "393331234567", Text: "late"})
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond)
	assert.Equal(t, after, len(rcv.snapshot()))
	assert.NoError(t, emu.Close(), "Close is idempotent")
}
