package app_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/app"
	"github.com/xcally-connector/connector/internal/media"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/workflows"
)

// TestRetentionSchedule: the dev stack's worker creates the retention
// schedule; triggered once, its run prunes real rows past their retention,
// deletes media files past RETENTION_MEDIA (their links then answer 410)
// and keeps the rest; a later start with other settings updates it, and
// RETENTION_EVERY=off deletes it.
func TestRetentionSchedule(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			cfg := devConfig(t, engine)
			cfg.RetentionAgentEvents = 24 * time.Hour
			cfg.RetentionAccountEvents = 24 * time.Hour
			cfg.RetentionMedia = 24 * time.Hour
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			d, err := app.StartDev(ctx, cfg, cfg.NewLogger(os.Stderr))
			require.NoError(t, err)
			defer d.Stop()

			now := time.Now().UTC()
			acc := models.Account{Name: "Acme", Key: "acme", PublicURL: "https://motion.example.com", Type: models.AccountTypeSinchV2,
				Region: models.RegionEU, ProjectID: "p", AppID: "app", KeyID: "k", Phone: "+390212345678", Channels: "WHATSAPP"}
			require.NoError(t, d.DB.Create(&acc).Error)
			for i, at := range []time.Time{now.Add(-48 * time.Hour), now.Add(-47 * time.Hour), now.Add(-time.Hour)} {
				require.NoError(t, d.DB.Create(&models.AgentEvent{AgentID: 1, Type: "message.inbound", Data: "{}",
					DedupKey: "retention-" + string(rune('a'+i)), CreatedAt: at}).Error)
			}
			for _, at := range []time.Time{now.Add(-72 * time.Hour), now.Add(-71 * time.Hour)} {
				require.NoError(t, d.DB.Create(&models.AccountEvent{AccountID: acc.ID, Kind: "OPT_OUT", Payload: "{}", OccurredAt: at, CreatedAt: at}).Error)
			}
			require.NoError(t, d.DB.Create(&models.AccountEvent{AccountID: acc.ID, Kind: activities.HeldMessageKind, Type: "m1",
				Payload: "{}", OccurredAt: now.Add(-72 * time.Hour), CreatedAt: now.Add(-72 * time.Hour)}).Error)
			// Past WEBHOOK_TIMESTAMP_TOLERANCE (48h) plus the margin, and within it.
			require.NoError(t, d.DB.Create(&models.WebhookNonce{AccountID: acc.ID, Nonce: "old", SeenAt: now.Add(-50 * time.Hour)}).Error)
			require.NoError(t, d.DB.Create(&models.WebhookNonce{AccountID: acc.ID, Nonce: "young", SeenAt: now.Add(-48 * time.Hour)}).Error)

			// A customer's file stored two days ago and one stored an hour ago.
			c := models.Contact{AccountID: acc.ID, Channel: models.ChannelWhatsApp, Identity: "393331112222"}
			require.NoError(t, d.DB.Create(&c).Error)
			inter := models.Interaction{Key: "wf#1", WorkflowID: "wf", AccountID: acc.ID, ContactID: c.ID, Channel: models.ChannelWhatsApp,
				Status: models.InteractionQueued, OpenedAt: now}
			require.NoError(t, d.DB.Create(&inter).Error)
			msg := models.Message{AccountID: acc.ID, InteractionID: inter.ID, ContactID: c.ID, Direction: models.DirectionInbound,
				Kind: "media", Status: models.StatusReceived}
			require.NoError(t, d.DB.Create(&msg).Error)
			file := func(name, content string, at time.Time) (uint64, string) {
				obj, err := d.Media.Put(ctx, strings.NewReader(content), 1<<20)
				require.NoError(t, err)
				require.NoError(t, os.Chtimes(filepath.Join(d.Media.Dir(), obj.Key[0:2], obj.Key[2:4], obj.Key), at, at))
				att := models.Attachment{MessageID: msg.ID, AccountID: acc.ID, SourceURL: "https://media.example.com/" + name,
					Direction: models.DirectionInbound, ContentType: "text/plain", Filename: name, Size: obj.Size,
					StoragePath: obj.Key, Status: models.AttachmentStored, FetchedAt: &at}
				require.NoError(t, d.DB.Create(&att).Error)
				return att.ID, obj.Key
			}
			oldFile, oldKey := file("old.txt", "stored two days ago", now.Add(-48*time.Hour))
			youngFile, youngKey := file("young.txt", "stored an hour ago", now.Add(-time.Hour))

			h := d.Client.ScheduleClient().GetHandle(ctx, workflows.RetentionScheduleID)
			desc, err := h.Describe(ctx)
			require.NoError(t, err, "the worker created the schedule")
			require.Len(t, desc.Schedule.Spec.Intervals, 1)
			assert.Equal(t, time.Hour, desc.Schedule.Spec.Intervals[0].Every)
			assert.Equal(t, enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, desc.Schedule.Policy.Overlap)
			act, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction)
			require.True(t, ok, "%T", desc.Schedule.Action)
			assert.Equal(t, workflows.RetentionWorkflowName, act.Workflow)
			assert.Equal(t, cfg.TemporalTaskQueue, act.TaskQueue)

			require.NoError(t, h.Trigger(ctx, client.ScheduleTriggerOptions{}))
			var runID string
			require.Eventually(t, func() bool {
				desc, err := h.Describe(ctx)
				if err != nil || len(desc.Info.RecentActions) == 0 || desc.Info.RecentActions[0].StartWorkflowResult == nil {
					return false
				}
				runID = desc.Info.RecentActions[0].StartWorkflowResult.WorkflowID
				return true
			}, 20*time.Second, 100*time.Millisecond, "the triggered run started")
			assert.Regexp(t, `^retention-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`, runID)
			var res workflows.RetentionResult
			require.NoError(t, d.Client.GetWorkflow(ctx, runID, "").Get(ctx, &res))
			assert.Equal(t, workflows.RetentionResult{AgentEvents: 2, AccountEvents: 1, Nonces: 1, MediaExpired: 1, MediaFiles: 1}, res)
			if engine == models.SQLite {
				// retention.json stays as recorded before media retention:
				// both histories must replay.
				saveHistory(t, d, runID, "retention_media.json")
			}

			var keys []string
			require.NoError(t, d.DB.Model(&models.AgentEvent{}).Pluck("dedup_key", &keys).Error)
			assert.Equal(t, []string{"retention-c"}, keys)
			var kinds []string
			require.NoError(t, d.DB.Model(&models.AccountEvent{}).Order("id").Pluck("kind", &kinds).Error)
			assert.Equal(t, []string{"OPT_OUT", activities.HeldMessageKind}, kinds, "the newest opt-out and the held message stay")
			var nonces []string
			require.NoError(t, d.DB.Model(&models.WebhookNonce{}).Pluck("nonce", &nonces).Error)
			assert.Equal(t, []string{"young"}, nonces)

			_, _, err = d.Media.Open(oldKey)
			assert.ErrorIs(t, err, media.ErrNotFound, "the old file is deleted from disk")
			f, _, err := d.Media.Open(youngKey)
			require.NoError(t, err, "the young file stays")
			_ = f.Close()
			var gone api.ErrorBody
			assert.Equal(t, http.StatusGone, getJSON(t, fmt.Sprintf("%s/api/attachments/%d", d.APIURL(), oldFile), cfg.AdminToken, &gone))
			assert.Equal(t, "attachment_expired", gone.Error.Code)
			assert.Equal(t, http.StatusOK, getJSON(t, fmt.Sprintf("%s/api/attachments/%d", d.APIURL(), youngFile), cfg.AdminToken, nil))

			v, err := d.Client.QueryWorkflow(ctx, runID, "", workflows.StateQueryName)
			require.NoError(t, err)
			var state workflows.RetentionState
			require.NoError(t, v.Get(&state))
			assert.True(t, state.Done)
			assert.Equal(t, res, state.Result)
			assert.WithinDuration(t, now.Add(-24*time.Hour), state.Cutoffs.MediaBefore, time.Minute, "the schedule carries RETENTION_MEDIA")

			// A later worker start with another interval updates the schedule.
			cfg.RetentionEvery = 2 * time.Hour
			require.NoError(t, app.EnsureRetentionSchedule(ctx, d.Client, cfg))
			desc, err = h.Describe(ctx)
			require.NoError(t, err)
			assert.Equal(t, 2*time.Hour, desc.Schedule.Spec.Intervals[0].Every)
			assert.Equal(t, enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, desc.Schedule.Policy.Overlap)

			cfg.RetentionEvery = 0
			require.NoError(t, app.EnsureRetentionSchedule(ctx, d.Client, cfg))
			_, err = h.Describe(ctx)
			var nf *serviceerror.NotFound
			assert.True(t, errors.As(err, &nf), "off deletes the schedule: %v", err)
			assert.NoError(t, app.EnsureRetentionSchedule(ctx, d.Client, cfg), "off again is a no-op")
		})
	}
}
