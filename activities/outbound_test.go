package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/internal/secretbox"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/sinch/emulator"
)

const outAppID = "01HOUTAPP"

// outWorld is a world whose account is bound to a Sinch emulator app.
type outWorld struct {
	*world
	em    *emulator.Server
	agent models.Agent
}

func newOutWorld(t *testing.T, engine models.Engine) *outWorld {
	return newOutWorldMode(t, engine, "CONVERSATION")
}

// newOutWorldMode binds the account to an emulator app in that processing mode.
func newOutWorldMode(t *testing.T, engine models.Engine, mode string) *outWorld {
	w := &outWorld{world: newWorld(t, engine)}
	hook := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { rw.WriteHeader(http.StatusOK) }))
	t.Cleanup(hook.Close)
	w.em = emulator.New(emulator.Options{RetrySchedule: []time.Duration{}})
	base, err := w.em.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.em.Close() })
	require.NoError(t, w.em.CreateApp(emulator.App{AppID: outAppID, ProjectID: "proj-out", Region: "eu", ProcessingMode: mode,
		WebhookURL: hook.URL, KeyID: "key-out", KeySecret: "secret-out"}))

	box, err := secretbox.New(make([]byte, 32))
	require.NoError(t, err)
	sealed, err := box.Seal("secret-out", secretbox.AccountAAD(w.acc.ID, "key_secret"))
	require.NoError(t, err)
	require.NoError(t, w.db.Model(&w.acc).Updates(map[string]any{
		"app_id": outAppID, "project_id": "proj-out", "key_id": "key-out", "key_secret_enc": sealed,
		"base_url": base, "auth_url": base + "/oauth2/token",
	}).Error)
	require.NoError(t, w.db.Take(&w.acc, w.acc.ID).Error)
	w.acts.Secrets = box
	w.acts.Tokens = sinch.NewTokenCache(nil, nil)
	w.acts.DefaultSendRate = 1000
	w.acts.AllowCustomURLs = true // the emulator on loopback

	q := w.queue("support", models.StrategyRoundRobin, true)
	w.agent = w.world.agent("ann", 50, q, true, true, true)
	return w
}

// reply opens an assigned interaction and stores a pending reply in it.
func (w *outWorld) reply(text string) (models.Message, models.Interaction) {
	id := w.interaction()
	res := w.route(id)
	require.True(w.t, res.Assigned)
	var inter models.Interaction
	require.NoError(w.t, w.db.Take(&inter, id).Error)
	created, err := w.acts.CreateOutbound(context.Background(), activities.CreateOutboundInput{
		AccountID: w.acc.ID, InteractionID: id, ContactID: inter.ContactID, AgentID: w.agent.ID, Text: text,
		ClientRef: fmt.Sprintf("reply:%d:%s", id, text),
	})
	require.NoError(w.t, err)
	require.True(w.t, created.Created)
	assert.Equal(w.t, "pending", created.Status)
	return w.message(created.MessageID), inter
}

func (w *outWorld) message(id uint64) models.Message {
	var m models.Message
	require.NoError(w.t, w.db.Take(&m, id).Error)
	return m
}

func (w *outWorld) send(m models.Message, attempt int) (activities.SendOutboundResult, error) {
	return w.acts.SendOutbound(context.Background(), activities.SendOutboundInput{
		WorkflowID: "conversation/x", AccountID: w.acc.ID, MessageID: m.ID, Attempt: attempt,
	})
}

func (w *outWorld) outbox(identity string) []emulator.OutboxItem {
	items, err := w.em.Outbox(outAppID, identity)
	require.NoError(w.t, err)
	return items
}

func (w *outWorld) contact(inter models.Interaction) models.Contact {
	var c models.Contact
	require.NoError(w.t, w.db.Take(&c, inter.ContactID).Error)
	return c
}

func (w *outWorld) events(typ string) []string {
	var data []string
	require.NoError(w.t, w.db.Model(&models.AgentEvent{}).Where("agent_id = ? AND type = ?", w.agent.ID, typ).Order("id").Pluck("data", &data).Error)
	return data
}

func TestOutbound(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			t.Run("send once, repeat adopts", func(t *testing.T) { testSendOnce(t, engine) })
			t.Run("unknown outcome is reconciled, not resent", func(t *testing.T) { testUnknownOutcome(t, engine) })
			t.Run("429 is retryable after Retry-After", func(t *testing.T) { testRateLimited(t, engine) })
			t.Run("bad credentials are a config failure", func(t *testing.T) { testBadCredentials(t, engine) })
			t.Run("a non-Sinch host gets no credentials", func(t *testing.T) { testForeignHost(t, engine) })
			t.Run("delivery reports are monotonic, early, stale", func(t *testing.T) { testDeliveryReports(t, engine) })
			t.Run("failure is recorded visibly once", func(t *testing.T) { testRecordFailure(t, engine) })
			t.Run("split parts roll up", func(t *testing.T) { testSplit(t, engine) })
			t.Run("send rate is shared by workers", func(t *testing.T) { testSendRate(t, engine) })
			t.Run("DISPATCH mode sends to the channel identity", func(t *testing.T) { testDispatchRecipient(t, engine) })
		})
	}
}

func testSendOnce(t *testing.T, engine models.Engine) {
	w := newOutWorld(t, engine)
	m, inter := w.reply("Hello from Ann")
	res, err := w.send(m, 1)
	require.NoError(t, err)
	assert.False(t, res.Reconciled)
	identity := w.contact(inter).Identity
	out := w.outbox(identity)
	require.Len(t, out, 1)
	assert.Equal(t, res.ProviderMessageID, out[0].MessageID)
	assert.Equal(t, "Hello from Ann", out[0].Text)
	var meta activities.SendMetadata
	require.NoError(t, json.Unmarshal([]byte(out[0].Metadata), &meta))
	assert.Equal(t, activities.SendMetadata{WorkflowID: "conversation/x", MessageID: m.ID, Attempt: 1}, meta, "the report finds its message and attempt")
	assert.Equal(t, "conversation/x", out[0].CorrelationID)

	got := w.message(m.ID)
	assert.Equal(t, models.StatusAccepted, got.Status)
	assert.Equal(t, res.ProviderMessageID, *got.ProviderMessageID)
	assert.Nil(t, got.SendStartedAt, "Sinch answered: no unknown outcome")
	assert.NotNil(t, got.SentAt)
	assert.Equal(t, 1, got.SendAttempt)
	ev := w.events("message.status")
	require.Len(t, ev, 2, "pending, then accepted")
	assert.Contains(t, ev[0], `"status":"pending"`)
	assert.Contains(t, ev[1], `"status":"accepted"`)

	again, err := w.send(m, 1)
	require.NoError(t, err)
	assert.True(t, again.Reconciled)
	assert.Equal(t, res.ProviderMessageID, again.ProviderMessageID)
	assert.Len(t, w.outbox(identity), 1, "a repeated activity sends nothing")

	// The same client ref stores nothing new.
	dup, err := w.acts.CreateOutbound(context.Background(), activities.CreateOutboundInput{
		AccountID: w.acc.ID, InteractionID: inter.ID, ContactID: inter.ContactID, Text: "Hello from Ann", ClientRef: *got.ClientRef})
	require.NoError(t, err)
	assert.False(t, dup.Created)
	assert.Equal(t, m.ID, dup.MessageID)
}

func testUnknownOutcome(t *testing.T, engine models.Engine) {
	w := newOutWorld(t, engine)
	m, inter := w.reply("Are you still there?")
	identity := w.contact(inter).Identity
	// Sinch accepts, the answer never comes: the worker "dies" (its
	// context ends) with the outcome unknown.
	require.NoError(t, w.em.AddFault(outAppID, emulator.Fault{HangAfterAccept: true}))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	_, err := w.acts.SendOutbound(ctx, activities.SendOutboundInput{WorkflowID: "conversation/x", AccountID: w.acc.ID, MessageID: m.ID, Attempt: 1})
	cancel()
	require.Error(t, err)
	require.Len(t, w.outbox(identity), 1, "Sinch has it")
	got := w.message(m.ID)
	require.NotNil(t, got.SendStartedAt, "the attempt was recorded before the call")
	assert.Nil(t, got.ProviderMessageID)

	res, err := w.send(m, 1)
	require.NoError(t, err)
	assert.True(t, res.Reconciled, "found in Sinch's message list by its metadata")
	out := w.outbox(identity)
	require.Len(t, out, 1, "not sent twice")
	assert.Equal(t, out[0].MessageID, res.ProviderMessageID)
	assert.Equal(t, models.StatusAccepted, w.message(m.ID).Status)

	// The same for a resend (attempt 2): attempt 1's Sinch id must not be
	// taken for attempt 2's lost outcome.
	require.NoError(t, w.em.AddFault(outAppID, emulator.Fault{HangAfterAccept: true}))
	ctx, cancel = context.WithTimeout(context.Background(), 500*time.Millisecond)
	_, err = w.acts.SendOutbound(ctx, activities.SendOutboundInput{WorkflowID: "conversation/x", AccountID: w.acc.ID, MessageID: m.ID, Attempt: 2})
	cancel()
	require.Error(t, err)
	require.Len(t, w.outbox(identity), 2)
	assert.Nil(t, w.message(m.ID).ProviderMessageID, "attempt 1's id is cleared when attempt 2 starts")
	res2, err := w.send(m, 2)
	require.NoError(t, err)
	assert.True(t, res2.Reconciled)
	out = w.outbox(identity)
	require.Len(t, out, 2, "attempt 2 was not sent a second time")
	assert.Equal(t, out[1].MessageID, res2.ProviderMessageID)
	assert.NotEqual(t, res.ProviderMessageID, res2.ProviderMessageID)

	// An attempt marked started that Sinch never received is sent.
	m2, _ := w.reply("Second question")
	require.NoError(t, w.db.Model(&models.Message{}).Where("id = ?", m2.ID).
		Updates(map[string]any{"send_attempt": 1, "send_started_at": time.Now().UTC()}).Error)
	res3, err := w.send(w.message(m2.ID), 1)
	require.NoError(t, err)
	assert.False(t, res3.Reconciled)
}

func testRateLimited(t *testing.T, engine models.Engine) {
	w := newOutWorld(t, engine)
	m, inter := w.reply("hi")
	require.NoError(t, w.em.AddFault(outAppID, emulator.Fault{HTTPStatus: http.StatusTooManyRequests, RetryAfterSeconds: 7}))
	_, err := w.send(m, 1)
	require.Error(t, err)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	assert.Equal(t, activities.ErrTypeSinchRetryable, appErr.Type())
	assert.False(t, appErr.NonRetryable())
	assert.Equal(t, 7*time.Second, appErr.NextRetryDelay(), "Sinch's Retry-After")
	assert.Nil(t, w.message(m.ID).SendStartedAt, "a 429 proves Sinch did not take it")
	assert.Empty(t, w.outbox(w.contact(inter).Identity))
	_, err = w.send(m, 1)
	require.NoError(t, err)
	assert.Len(t, w.outbox(w.contact(inter).Identity), 1)
}

func testBadCredentials(t *testing.T, engine models.Engine) {
	w := newOutWorld(t, engine)
	sealed, err := w.acts.Secrets.Seal("wrong-secret", secretbox.AccountAAD(w.acc.ID, "key_secret"))
	require.NoError(t, err)
	require.NoError(t, w.db.Model(&w.acc).Update("key_secret_enc", sealed).Error)
	m, _ := w.reply("hi")
	_, err = w.send(m, 1)
	require.Error(t, err)
	f, ok := activities.FailureOf(err)
	require.True(t, ok, "classified: %v", err)
	assert.Equal(t, models.ErrorClassConfig, f.Class)
	assert.Contains(t, f.Message, "check the Sinch account settings")
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	assert.True(t, appErr.NonRetryable())
	assert.Equal(t, activities.ErrTypeSinchConfig, appErr.Type())
}

// testForeignHost: an account saved with the emulator's URL while custom
// URLs were allowed fails as a configuration error once they are not, and
// neither its key secret nor its message reaches that host.
func testForeignHost(t *testing.T, engine models.Engine) {
	w := newOutWorld(t, engine)
	w.acts.AllowCustomURLs = false
	m, inter := w.reply("hi")
	_, err := w.send(m, 1)
	require.Error(t, err)
	f, ok := activities.FailureOf(err)
	require.True(t, ok, "classified: %v", err)
	assert.Equal(t, models.ErrorClassConfig, f.Class)
	assert.Contains(t, f.Message, "baseUrl: want a regional Conversation API origin")
	assert.Empty(t, w.outbox(w.contact(inter).Identity), "nothing was sent to the foreign host")
}

func testDeliveryReports(t *testing.T, engine models.Engine) {
	w := newOutWorld(t, engine)
	ctx := context.Background()
	apply := func(m models.Message, sinchID, status string, attempt int, code string) activities.ApplyDeliveryResult {
		res, err := w.acts.ApplyDelivery(ctx, activities.ApplyDeliveryInput{AccountID: w.acc.ID, DeliveryReport: activities.DeliveryReport{
			MessageID: sinchID, Status: status, ReasonCode: code, RefMessageID: m.ID, RefAttempt: attempt, At: time.Now()}})
		require.NoError(t, err)
		return res
	}

	// Reports that overtake the send's result: the attempt is marked
	// started, Sinch took it, DELIVERED arrives before the result.
	m, _ := w.reply("early")
	require.NoError(t, w.db.Model(&models.Message{}).Where("id = ?", m.ID).Updates(map[string]any{"send_attempt": 1, "send_started_at": time.Now()}).Error)
	res := apply(m, "01EARLY", "DELIVERED", 1, "")
	assert.True(t, res.Applied)
	got := w.message(m.ID)
	assert.Equal(t, models.StatusDelivered, got.Status)
	assert.Equal(t, "01EARLY", *got.ProviderMessageID, "the report's id is kept")
	// The send's own result lands later: it must not move the status back.
	again, err := w.send(got, 1)
	require.NoError(t, err)
	assert.True(t, again.Reconciled)
	assert.Equal(t, "01EARLY", again.ProviderMessageID)
	assert.Equal(t, models.StatusDelivered, w.message(m.ID).Status)

	// Out of order: READ, then DELIVERED and QUEUED_ON_CHANNEL late.
	m2, _ := w.reply("ordered")
	sent, err := w.send(m2, 1)
	require.NoError(t, err)
	assert.True(t, apply(m2, sent.ProviderMessageID, "READ", 1, "").Applied)
	assert.False(t, apply(m2, sent.ProviderMessageID, "DELIVERED", 1, "").Applied, "a late lower status never overwrites")
	assert.False(t, apply(m2, sent.ProviderMessageID, "QUEUED_ON_CHANNEL", 1, "").Applied)
	got2 := w.message(m2.ID)
	assert.Equal(t, models.StatusRead, got2.Status)
	assert.NotNil(t, got2.ReadAt)

	// FAILED is returned classified, not written; an earlier attempt's
	// report is stale.
	m3, _ := w.reply("failing")
	s3, err := w.send(m3, 1)
	require.NoError(t, err)
	res = apply(m3, s3.ProviderMessageID, "FAILED", 1, "RATE_LIMITED")
	require.NotNil(t, res.Failure)
	assert.Equal(t, models.ErrorClassNetwork, res.Failure.Class)
	assert.Equal(t, models.StatusAccepted, w.message(m3.ID).Status, "the workflow decides: resend or fail")
	assert.Equal(t, "RATE_LIMITED", w.message(m3.ID).ReasonCode)
	_, err = w.send(w.message(m3.ID), 2)
	require.NoError(t, err)
	res = apply(m3, s3.ProviderMessageID, "DELIVERED", 1, "")
	assert.True(t, res.Stale, "a report of attempt 1 after attempt 2 was sent")
	assert.Equal(t, models.StatusAccepted, w.message(m3.ID).Status)
	// A report without our metadata is matched by Sinch id.
	cur := w.message(m3.ID)
	res, err = w.acts.ApplyDelivery(ctx, activities.ApplyDeliveryInput{AccountID: w.acc.ID, DeliveryReport: activities.DeliveryReport{
		MessageID: *cur.ProviderMessageID, Status: "DELIVERED"}})
	require.NoError(t, err)
	assert.True(t, res.Applied)
	assert.Equal(t, models.StatusDelivered, w.message(m3.ID).Status)

	var ticks []string
	for _, e := range w.events("message.status") {
		if strings.Contains(e, fmt.Sprintf(`"messageId":%d,`, m2.ID)) {
			var v struct{ Status string }
			require.NoError(t, json.Unmarshal([]byte(e), &v))
			ticks = append(ticks, v.Status)
		}
	}
	assert.Equal(t, []string{"pending", "accepted", "read"}, ticks, "every status change is an event, once")
}

func testRecordFailure(t *testing.T, engine models.Engine) {
	w := newOutWorld(t, engine)
	ctx := context.Background()
	f := activities.ClassifyReason("RECIPIENT_NOT_OPTED_IN", "", "The underlying channel reported: not opted in")
	var msgs []models.Message
	for i := 0; i < 3; i++ {
		m, _ := w.reply(fmt.Sprintf("policy %d", i))
		msgs = append(msgs, m)
		in := activities.RecordOutboundFailureInput{MessageID: m.ID, Failure: f, Attempts: 1}
		require.NoError(t, w.acts.RecordOutboundFailure(ctx, in))
		require.NoError(t, w.acts.RecordOutboundFailure(ctx, in), "repeating changes nothing")
	}
	got := w.message(msgs[0].ID)
	assert.Equal(t, models.StatusFailed, got.Status)
	assert.Equal(t, models.ErrorClassPolicy, got.ErrorClass)
	assert.Equal(t, "RECIPIENT_NOT_OPTED_IN", got.ReasonCode)
	assert.Contains(t, got.ErrorMessage, "may be blocked by Meta")
	assert.NotNil(t, got.FailedAt)

	var sys []models.Message
	require.NoError(t, w.db.Where("interaction_id = ? AND direction = ?", got.InteractionID, models.DirectionSystem).Find(&sys).Error)
	require.Len(t, sys, 1, "one system message per failure")
	assert.Contains(t, sys[0].Text, "Message not delivered (policy error) RECIPIENT_NOT_OPTED_IN:")
	assert.Contains(t, sys[0].Text, "Meta account manager")

	var failedEvents int
	for _, e := range w.events("message.status") {
		if strings.Contains(e, `"status":"failed"`) {
			failedEvents++
			assert.Contains(t, e, `"class":"policy"`)
			assert.Contains(t, e, `"code":"RECIPIENT_NOT_OPTED_IN"`)
		}
	}
	assert.Equal(t, 3, failedEvents)

	var acc models.Account
	require.NoError(t, w.db.Take(&acc, w.acc.ID).Error)
	assert.Equal(t, 3, acc.PolicyFailureStreak, "three policy failures in a row")
	assert.Equal(t, "RECIPIENT_NOT_OPTED_IN", acc.PolicyFailureLastCode)

	// A delivered reply ends the streak.
	m, _ := w.reply("this one arrives")
	sent, err := w.send(m, 1)
	require.NoError(t, err)
	_, err = w.acts.ApplyDelivery(ctx, activities.ApplyDeliveryInput{AccountID: w.acc.ID, DeliveryReport: activities.DeliveryReport{
		MessageID: sent.ProviderMessageID, Status: "DELIVERED", RefMessageID: m.ID, RefAttempt: 1}})
	require.NoError(t, err)
	require.NoError(t, w.db.Take(&acc, w.acc.ID).Error)
	assert.Zero(t, acc.PolicyFailureStreak)
}

func testSplit(t *testing.T, engine models.Engine) {
	w := newOutWorld(t, engine)
	ctx := context.Background()
	m, inter := w.reply("first half second half")
	_, err := w.send(m, 1)
	require.NoError(t, err)
	res, err := w.acts.SplitOutbound(ctx, activities.SplitOutboundInput{MessageID: m.ID, Parts: []string{"first half", "second half"}})
	require.NoError(t, err)
	require.Len(t, res.PartIDs, 2)
	again, err := w.acts.SplitOutbound(ctx, activities.SplitOutboundInput{MessageID: m.ID, Parts: []string{"first half", "second half"}})
	require.NoError(t, err)
	assert.Equal(t, res.PartIDs, again.PartIDs, "idempotent")
	for i, id := range res.PartIDs {
		p := w.message(id)
		assert.Equal(t, m.ID, *p.ParentID)
		assert.Equal(t, i+1, p.Part)
		sent, err := w.send(p, 1)
		require.NoError(t, err)
		_, err = w.acts.ApplyDelivery(ctx, activities.ApplyDeliveryInput{AccountID: w.acc.ID, DeliveryReport: activities.DeliveryReport{
			MessageID: sent.ProviderMessageID, Status: "DELIVERED", RefMessageID: id, RefAttempt: 1}})
		require.NoError(t, err)
		want := models.StatusAccepted
		if i == 1 {
			want = models.StatusDelivered
		}
		assert.Equal(t, want, w.message(m.ID).Status, "the original follows its slowest part")
	}
	out := w.outbox(w.contact(inter).Identity)
	require.Len(t, out, 3)
	assert.Equal(t, []string{"first half second half", "first half", "second half"}, []string{out[0].Text, out[1].Text, out[2].Text})
	var note models.Message
	require.NoError(t, w.db.Where("interaction_id = ? AND direction = ?", inter.ID, models.DirectionSystem).Take(&note).Error)
	assert.Contains(t, note.Text, "sent again in 2 parts")
}

// testSendRate runs two "workers" (Activities on one database) sending a
// burst at 20/s: the shared schedule spaces their sends (1 s + 50 ms)/20 =
// 52.5 ms apart, so no one-second window ever holds 21.
func testSendRate(t *testing.T, engine models.Engine) {
	w := newOutWorld(t, engine)
	require.NoError(t, w.db.Model(&w.acc).Update("send_rate_per_second", 20).Error)
	other := *w.acts
	var msgs []models.Message
	for i := 0; i < 6; i++ {
		m, _ := w.reply(fmt.Sprintf("burst %d", i))
		msgs = append(msgs, m)
	}
	start := time.Now()
	errs := make(chan error, len(msgs))
	for i, m := range msgs {
		acts := w.acts
		if i%2 == 1 {
			acts = &other
		}
		go func() {
			_, err := acts.SendOutbound(context.Background(), activities.SendOutboundInput{WorkflowID: "conversation/x", AccountID: w.acc.ID, MessageID: m.ID, Attempt: 1})
			errs <- err
		}()
	}
	for range msgs {
		require.NoError(t, <-errs)
	}
	elapsed := time.Since(start)
	// Six sends at 20/s need at least five intervals of 50 ms.
	assert.GreaterOrEqual(t, elapsed, 250*time.Millisecond, "the rate holds across both workers")
	var slot models.SendRateSlot
	require.NoError(t, w.db.Take(&slot, "app_id = ?", outAppID).Error)
	assert.True(t, slot.NextAt.After(start.Add(314*time.Millisecond)), "six slots reserved 52.5 ms apart: next free at %s after start", slot.NextAt.Sub(start))

	// With no room to wait, a send far back in the queue is retried later.
	w.acts.MaxRateWait = time.Millisecond
	require.NoError(t, w.db.Model(&models.SendRateSlot{}).Where("app_id = ?", outAppID).Update("next_at", time.Now().Add(10*time.Second)).Error)
	m, _ := w.reply("queued behind")
	_, err := w.send(m, 1)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	assert.Equal(t, activities.ErrTypeSinchRetryable, appErr.Type())
	assert.InDelta(t, float64(10*time.Second), float64(appErr.NextRetryDelay()), float64(time.Second))
	assert.Nil(t, w.message(m.ID).SendStartedAt, "not sent")
}

// testDispatchRecipient: a DISPATCH-mode interaction is answered with
// identified_by, even when a Sinch contact id is known (Sinch refuses
// contact_id in DISPATCH mode).
func testDispatchRecipient(t *testing.T, engine models.Engine) {
	w := newOutWorldMode(t, engine, "DISPATCH")
	m, inter := w.reply("dispatch reply")
	require.NoError(t, w.db.Model(&models.Interaction{}).Where("id = ?", inter.ID).Update("processing_mode", models.ProcessingDispatch).Error)
	require.NoError(t, w.db.Model(&models.Contact{}).Where("id = ?", inter.ContactID).Update("sinch_contact_id", "01HSTALECONTACT").Error)
	res, err := w.send(m, 1)
	require.NoError(t, err)
	out := w.outbox(w.contact(inter).Identity)
	require.Len(t, out, 1)
	assert.Equal(t, res.ProviderMessageID, out[0].MessageID)
}
