package activities_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
)

// TestDirectDelivery covers the API's fast path for delivery reports
// (ApplyDeliveryDirect): what it applies without the workflow, what it
// leaves to the workflow untouched, and the resend it makes pointless.
func TestDirectDelivery(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			t.Run("reports of a recorded send are applied", func(t *testing.T) { testDirectApplied(t, engine) })
			t.Run("what the workflow must see is left to it", func(t *testing.T) { testDirectLeftToWorkflow(t, engine) })
			t.Run("a failure after delivery is recorded", func(t *testing.T) { testFailureAfterDelivery(t, engine) })
			t.Run("no resend of a delivered message", func(t *testing.T) { testNoResendAfterDelivery(t, engine) })
			t.Run("the next reply names the settled ones", func(t *testing.T) { testSettledOutstanding(t, engine) })
		})
	}
}

// direct applies a report of attempt through ApplyDeliveryDirect.
func (w *outWorld) direct(m models.Message, sinchID, status string, attempt int, code string) activities.DirectDeliveryResult {
	w.t.Helper()
	res, err := activities.ApplyDeliveryDirect(context.Background(), w.db, nil, w.acc.ID, activities.DeliveryReport{
		MessageID: sinchID, Status: status, ReasonCode: code, RefMessageID: m.ID, RefAttempt: attempt, At: time.Now()})
	require.NoError(w.t, err)
	return res
}

// ticks are the statuses the agent's stream got for a message, in order.
func (w *outWorld) ticks(id uint64) []string {
	var out []string
	for _, e := range w.events("message.status") {
		if strings.Contains(e, fmt.Sprintf(`"messageId":%d,`, id)) {
			var v struct{ Status string }
			require.NoError(w.t, json.Unmarshal([]byte(e), &v))
			out = append(out, v.Status)
		}
	}
	return out
}

func testDirectApplied(t *testing.T, engine models.Engine) {
	w := newOutWorld(t, engine)
	m, _ := w.reply("ticks")
	sent, err := w.send(m, 1)
	require.NoError(t, err)
	for _, st := range []string{"QUEUED_ON_CHANNEL", "DELIVERED", "READ"} {
		res := w.direct(m, sent.ProviderMessageID, st, 1, "")
		assert.False(t, res.NeedsWorkflow, st)
		assert.True(t, res.Applied, st)
	}
	late := w.direct(m, sent.ProviderMessageID, "DELIVERED", 1, "")
	assert.False(t, late.NeedsWorkflow)
	assert.False(t, late.Applied, "a late delivered never overwrites read")
	got := w.message(m.ID)
	assert.Equal(t, models.StatusRead, got.Status)
	assert.NotNil(t, got.DeliveredAt)
	assert.NotNil(t, got.ReadAt)
	assert.Equal(t, []string{"pending", "accepted", "queued", "delivered", "read"}, w.ticks(m.ID), "each tick once, on the agent's stream")

	// Without our metadata the report is matched by Sinch id.
	m2, _ := w.reply("by id")
	s2, err := w.send(m2, 1)
	require.NoError(t, err)
	res, err := activities.ApplyDeliveryDirect(context.Background(), w.db, nil, w.acc.ID, activities.DeliveryReport{
		MessageID: s2.ProviderMessageID, Status: "DELIVERED"})
	require.NoError(t, err)
	assert.False(t, res.NeedsWorkflow)
	assert.Equal(t, models.StatusDelivered, w.message(m2.ID).Status)

	// A report of an earlier attempt changes nothing, here either.
	m3, _ := w.reply("resent")
	s3, err := w.send(m3, 1)
	require.NoError(t, err)
	_, err = w.send(w.message(m3.ID), 2)
	require.NoError(t, err)
	stale := w.direct(m3, s3.ProviderMessageID, "READ", 1, "")
	assert.True(t, stale.Stale)
	assert.False(t, stale.NeedsWorkflow)
	assert.Equal(t, models.StatusAccepted, w.message(m3.ID).Status)
}

func testDirectLeftToWorkflow(t *testing.T, engine models.Engine) {
	w := newOutWorld(t, engine)
	ctx := context.Background()

	// No such message (its send has not stored Sinch's id yet).
	res, err := activities.ApplyDeliveryDirect(ctx, w.db, nil, w.acc.ID, activities.DeliveryReport{MessageID: "01UNKNOWN", Status: "DELIVERED"})
	require.NoError(t, err)
	assert.True(t, res.NeedsWorkflow)

	// The send is in flight: the report overtook its result.
	m, _ := w.reply("in flight")
	require.NoError(t, w.db.Model(&models.Message{}).Where("id = ?", m.ID).Updates(map[string]any{"send_attempt": 1, "send_started_at": time.Now()}).Error)
	res = w.direct(m, "01EARLY", "DELIVERED", 1, "")
	assert.True(t, res.NeedsWorkflow)
	got := w.message(m.ID)
	assert.Equal(t, models.StatusPending, got.Status, "nothing written")
	assert.Nil(t, got.ProviderMessageID, "the workflow adopts the id, as before")

	// A FAILED report before delivery: resend, split or fail is the
	// workflow's decision.
	m2, _ := w.reply("failing")
	s2, err := w.send(m2, 1)
	require.NoError(t, err)
	w.direct(m2, s2.ProviderMessageID, "QUEUED_ON_CHANNEL", 1, "")
	res = w.direct(m2, s2.ProviderMessageID, "FAILED", 1, "RATE_LIMITED")
	assert.True(t, res.NeedsWorkflow)
	got = w.message(m2.ID)
	assert.Equal(t, models.StatusQueued, got.Status)
	assert.Empty(t, got.ReasonCode, "nothing written: the workflow applies it")
}

func testFailureAfterDelivery(t *testing.T, engine models.Engine) {
	w := newOutWorld(t, engine)
	ctx := context.Background()
	m, inter := w.reply("delivered then failed")
	sent, err := w.send(m, 1)
	require.NoError(t, err)
	w.direct(m, sent.ProviderMessageID, "DELIVERED", 1, "")
	res := w.direct(m, sent.ProviderMessageID, "FAILED", 1, "RECIPIENT_NOT_OPTED_IN")
	assert.False(t, res.NeedsWorkflow, "nothing is left to resend")
	require.NotNil(t, res.Failed)
	assert.Equal(t, models.ErrorClassPolicy, res.Failed.Class)
	got := w.message(m.ID)
	assert.Equal(t, models.StatusFailed, got.Status)
	assert.Equal(t, "RECIPIENT_NOT_OPTED_IN", got.ReasonCode)
	var sys int64
	require.NoError(t, w.db.Model(&models.Message{}).Where("interaction_id = ? AND direction = ?", inter.ID, models.DirectionSystem).Count(&sys).Error)
	assert.EqualValues(t, 1, sys, "the failure's system message")
	assert.Equal(t, []string{"pending", "accepted", "delivered", "failed"}, w.ticks(m.ID))
	var acc models.Account
	require.NoError(t, w.db.Take(&acc, w.acc.ID).Error)
	assert.Equal(t, 1, acc.PolicyFailureStreak)

	// A read message is final: a FAILED report moves nothing.
	m2, _ := w.reply("read")
	s2, err := w.send(m2, 1)
	require.NoError(t, err)
	w.direct(m2, s2.ProviderMessageID, "READ", 1, "")
	res = w.direct(m2, s2.ProviderMessageID, "FAILED", 1, "RATE_LIMITED")
	assert.False(t, res.NeedsWorkflow)
	assert.Nil(t, res.Failed)
	assert.Equal(t, models.StatusRead, w.message(m2.ID).Status)

	// The workflow's own activity does the same with a late FAILED: no
	// failure returned for it to decide on.
	m3, _ := w.reply("activity path")
	s3, err := w.send(m3, 1)
	require.NoError(t, err)
	w.direct(m3, s3.ProviderMessageID, "DELIVERED", 1, "")
	ar, err := w.acts.ApplyDelivery(ctx, activities.ApplyDeliveryInput{AccountID: w.acc.ID, DeliveryReport: activities.DeliveryReport{
		MessageID: s3.ProviderMessageID, Status: "FAILED", ReasonCode: "RATE_LIMITED", RefMessageID: m3.ID, RefAttempt: 1}})
	require.NoError(t, err)
	assert.Nil(t, ar.Failure)
	assert.Equal(t, string(models.StatusFailed), ar.Status)
	assert.Equal(t, models.StatusFailed, w.message(m3.ID).Status)
}

// testNoResendAfterDelivery: attempt 1 failed with a network code and the
// workflow queued a resend; attempt 1's DELIVERED then arrives at the API,
// which applies it without waking the workflow: the resend sends nothing.
func testNoResendAfterDelivery(t *testing.T, engine models.Engine) {
	w := newOutWorld(t, engine)
	m, inter := w.reply("delivered after all")
	sent, err := w.send(m, 1)
	require.NoError(t, err)
	assert.True(t, w.direct(m, sent.ProviderMessageID, "FAILED", 1, "RATE_LIMITED").NeedsWorkflow)
	assert.False(t, w.direct(m, sent.ProviderMessageID, "DELIVERED", 1, "").NeedsWorkflow)
	again, err := w.send(w.message(m.ID), 2)
	require.NoError(t, err)
	assert.True(t, again.Reconciled)
	assert.Equal(t, sent.ProviderMessageID, again.ProviderMessageID)
	assert.Len(t, w.outbox(w.contact(inter).Identity), 1, "not sent twice")
	got := w.message(m.ID)
	assert.Equal(t, models.StatusDelivered, got.Status)
	assert.Equal(t, 1, got.SendAttempt)
}

func testSettledOutstanding(t *testing.T, engine models.Engine) {
	w := newOutWorld(t, engine)
	m1, inter := w.reply("one")
	s1, err := w.send(m1, 1)
	require.NoError(t, err)
	m2, _ := w.reply("two")
	_, err = w.send(m2, 1)
	require.NoError(t, err)
	w.direct(m1, s1.ProviderMessageID, "DELIVERED", 1, "")
	res, err := w.acts.CreateOutbound(context.Background(), activities.CreateOutboundInput{
		AccountID: w.acc.ID, InteractionID: inter.ID, ContactID: inter.ContactID, AgentID: w.agent.ID, Text: "three",
		ClientRef: fmt.Sprintf("reply:%d:three", inter.ID), Outstanding: []uint64{m1.ID, m2.ID}})
	require.NoError(t, err)
	assert.True(t, res.Created)
	assert.Equal(t, []uint64{m1.ID}, res.Settled, "delivered: settled; accepted: still outstanding")
}
