package api_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/internal/ptr"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/workflows"
)

// TestDeliveryReportsAppliedWhereTheyArrive: reports the conversation
// workflow would not act on are applied by the webhook (status forward
// only, a message.status event for the agent) and signal nothing; a
// FAILED report before delivery and a report whose send is not recorded
// yet still go to the workflow.
func TestDeliveryReportsAppliedWhereTheyArrive(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			w := newWebhookEnv(t, engine, "01HAPP", fixtureSecret)
			wfID := workflows.ConversationWorkflowID(w.acc.ID, "WHATSAPP", "393331234567")
			agent := models.Agent{Name: "ann", TokenHash: "h-ann"}
			require.NoError(t, w.db.Create(&agent).Error)
			contact := models.Contact{AccountID: w.acc.ID, Channel: "WHATSAPP", Identity: "393331234567"}
			require.NoError(t, w.db.Create(&contact).Error)
			inter := models.Interaction{Key: wfID + "#1", WorkflowID: wfID, AccountID: w.acc.ID, ContactID: contact.ID,
				Channel: "WHATSAPP", Status: models.InteractionAssigned, AgentID: &agent.ID, OpenedAt: time.Now()}
			require.NoError(t, w.db.Create(&inter).Error)
			now := time.Now().UTC()
			sent := func(ref, sinchID string) models.Message {
				m := models.Message{AccountID: w.acc.ID, InteractionID: inter.ID, ContactID: contact.ID, Direction: models.DirectionOutbound,
					Kind: "text", Text: ref, ClientRef: ptr.To(ref), AgentID: &agent.ID, Status: models.StatusAccepted,
					StatusRank: models.StatusAccepted.Rank(), SendAttempt: 1, SentAt: &now}
				if sinchID != "" {
					m.ProviderMessageID = ptr.To(sinchID)
				}
				require.NoError(t, w.db.Create(&m).Error)
				return m
			}
			report := func(m models.Message, sinchID, status, nonce string) api.WebhookResponse {
				t.Helper()
				body := mustJSON(t, map[string]any{
					"app_id": "01HAPP", "project_id": "p", "accepted_time": now.Format(time.RFC3339Nano), "event_time": now.Format(time.RFC3339),
					"correlation_id": wfID, "message_delivery_report": map[string]any{
						"message_id": sinchID, "conversation_id": "01HCONV", "status": status, "contact_id": "01HCONT",
						"metadata":         mustJSON(t, map[string]any{"workflowId": wfID, "messageId": m.ID, "attempt": 1}),
						"channel_identity": map[string]any{"channel": "WHATSAPP", "identity": "393331234567", "app_id": "01HAPP"},
						"processing_mode":  "CONVERSATION",
					},
				})
				rec := w.post(t, []byte(body), nonce)
				require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
				return cfgDecode[api.WebhookResponse](t, rec, http.StatusOK)
			}

			m := sent("ticks", "01HOUT1")
			for i, st := range []string{"QUEUED_ON_CHANNEL", "DELIVERED", "READ", "DELIVERED"} {
				assert.Equal(t, "accepted", report(m, "01HOUT1", st, fmt.Sprintf("n-%d", i)).Status, st)
			}
			assert.Empty(t, w.tc.signals, "no report of a recorded send woke the workflow")
			var got models.Message
			require.NoError(t, w.db.Take(&got, m.ID).Error)
			assert.Equal(t, models.StatusRead, got.Status, "a late delivered never overwrites read")
			var ticks []string
			require.NoError(t, w.db.Model(&models.AgentEvent{}).Where("agent_id = ? AND type = ?", agent.ID, "message.status").
				Order("id").Pluck("dedup_key", &ticks).Error)
			assert.Equal(t, []string{fmt.Sprintf("status:%d:queued", m.ID), fmt.Sprintf("status:%d:delivered", m.ID), fmt.Sprintf("status:%d:read", m.ID)}, ticks,
				"the agent's ticks, once each")

			// A FAILED report before delivery is the workflow's to decide.
			f := sent("failing", "01HOUT2")
			assert.Equal(t, "accepted", report(f, "01HOUT2", "FAILED", "n-failed").Status)
			require.Len(t, w.tc.signals, 1)
			assert.Equal(t, wfID, w.tc.signals[0].workflowID)
			assert.Equal(t, workflows.DeliverySignalName, w.tc.signals[0].name)
			d, ok := w.tc.signals[0].arg.(workflows.DeliverySignal)
			require.True(t, ok)
			assert.Equal(t, "FAILED", d.Status)
			assert.Equal(t, f.ID, d.RefMessageID)

			// A report that overtook its send's result goes to the workflow.
			early := sent("in flight", "")
			require.NoError(t, w.db.Model(&models.Message{}).Where("id = ?", early.ID).Update("send_started_at", now).Error)
			report(early, "01HOUT3", "DELIVERED", "n-early")
			require.Len(t, w.tc.signals, 2)
			var left models.Message
			require.NoError(t, w.db.Take(&left, early.ID).Error)
			assert.Equal(t, models.StatusAccepted, left.Status, "left to the workflow")

			// A status Sinch does not document is ignored.
			resp := report(m, "01HOUT1", "EXPLODED", "n-unknown")
			assert.Equal(t, "ignored", resp.Status)
			assert.Contains(t, resp.Reason, "unknown delivery status")
			assert.Len(t, w.tc.signals, 2)
		})
	}
}
