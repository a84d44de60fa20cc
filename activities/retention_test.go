package activities_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/internal/testdb"
	"github.com/xcally-connector/connector/models"
)

// retentionWorld is a database with rows on both sides of the cutoffs.
type retentionWorld struct {
	db      *gorm.DB
	account uint64
	now     time.Time
	// kept are the account_events ids that must survive: recent ones, held
	// messages and the newest of each kind and type.
	kept []uint64
}

func seedRetention(t *testing.T, db *gorm.DB) *retentionWorld {
	t.Helper()
	w := &retentionWorld{db: db, now: time.Now().UTC().Truncate(time.Second)}
	acc := models.Account{Name: "Acme", Key: "acme", PublicURL: "https://motion.example.com", Type: models.AccountTypeSinchV2,
		Region: models.RegionEU, ProjectID: "p", AppID: "app", KeyID: "k", Phone: "+390212345678", Channels: "WHATSAPP"}
	require.NoError(t, db.Create(&acc).Error)
	w.account = acc.ID
	old, recent := w.now.Add(-100*24*time.Hour), w.now.Add(-time.Hour)
	for i := range 7 {
		at := old.Add(time.Duration(i) * time.Minute)
		if i >= 5 {
			at = recent
		}
		require.NoError(t, db.Create(&models.AgentEvent{AgentID: 3, Type: "message.inbound", Data: "{}",
			DedupKey: fmt.Sprintf("ev-%d", i), CreatedAt: at}).Error)
	}
	event := func(kind, typ string, at time.Time, keep bool) {
		ev := models.AccountEvent{AccountID: acc.ID, Kind: kind, Type: typ, Payload: "{}", OccurredAt: at, CreatedAt: at}
		require.NoError(t, db.Create(&ev).Error)
		if keep {
			w.kept = append(w.kept, ev.ID)
		}
	}
	// Three old quality-rating changes: the newest of them stays.
	event("CHANNEL_EVENT", "WHATS_APP_QUALITY_RATING_CHANGED", old, false)
	event("CHANNEL_EVENT", "WHATS_APP_QUALITY_RATING_CHANGED", old.Add(time.Minute), false)
	event("CHANNEL_EVENT", "WHATS_APP_QUALITY_RATING_CHANGED", old.Add(2*time.Minute), true)
	// Another type of the same kind does not count as newer.
	event("CHANNEL_EVENT", "WHATS_APP_ACCOUNT_UPDATE", old.Add(3*time.Minute), true)
	// Old reminders go, as a recent one exists.
	event(activities.MigrationReminderKind, string(models.MigrationAwaitingConfirmation), old, false)
	event(activities.MigrationReminderKind, string(models.MigrationAwaitingConfirmation), old.Add(time.Hour), false)
	event(activities.MigrationReminderKind, string(models.MigrationAwaitingConfirmation), recent, true)
	// Held messages are the only copy of a customer's message: never pruned.
	event(activities.HeldMessageKind, "sinch-msg-1", old, true)
	event(activities.HeldMessageKind, "sinch-msg-2", old, true)
	event("OPT_OUT", "", old, false)
	event("OPT_OUT", "", recent, true)
	for i := range 5 {
		at := old
		if i >= 3 {
			at = recent
		}
		require.NoError(t, db.Create(&models.WebhookNonce{AccountID: acc.ID, Nonce: fmt.Sprintf("n-%d", i), SeenAt: at}).Error)
	}
	return w
}

func TestPrune(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			db := testdb.Open(t, engine)
			w := seedRetention(t, db)
			var ts testsuite.WorkflowTestSuite
			env := ts.NewTestActivityEnvironment()
			acts := &activities.Activities{DB: db}
			env.RegisterActivity(acts)
			cut := w.now.Add(-30 * 24 * time.Hour)
			// Batches of 2 rows: each table takes several statements.
			in := activities.PruneInput{AgentEventsBefore: cut, AccountEventsBefore: cut, NoncesBefore: cut, BatchSize: 2}

			val, err := env.ExecuteActivity(acts.Prune, in)
			require.NoError(t, err)
			var res activities.PruneResult
			require.NoError(t, val.Get(&res))
			assert.Equal(t, activities.PruneResult{AgentEvents: 5, AccountEvents: 5, Nonces: 3}, res)

			var agentKeys []string
			require.NoError(t, db.Model(&models.AgentEvent{}).Order("id").Pluck("dedup_key", &agentKeys).Error)
			assert.Equal(t, []string{"ev-5", "ev-6"}, agentKeys, "recent agent events stay")
			var kept []uint64
			require.NoError(t, db.Model(&models.AccountEvent{}).Order("id").Pluck("id", &kept).Error)
			assert.Equal(t, w.kept, kept, "recent, held and newest-of-their-type account events stay")
			var nonces []string
			require.NoError(t, db.Model(&models.WebhookNonce{}).Order("nonce").Pluck("nonce", &nonces).Error)
			assert.Equal(t, []string{"n-3", "n-4"}, nonces)

			val, err = env.ExecuteActivity(acts.Prune, in)
			require.NoError(t, err)
			res = activities.PruneResult{}
			require.NoError(t, val.Get(&res))
			assert.Equal(t, activities.PruneResult{}, res, "a second run deletes nothing")

			// A zero cutoff keeps its table whole.
			val, err = env.ExecuteActivity(acts.Prune, activities.PruneInput{AgentEventsBefore: w.now.Add(time.Minute)})
			require.NoError(t, err)
			res = activities.PruneResult{}
			require.NoError(t, val.Get(&res))
			assert.Equal(t, activities.PruneResult{AgentEvents: 2}, res)
			var n int64
			require.NoError(t, db.Model(&models.AccountEvent{}).Count(&n).Error)
			assert.EqualValues(t, len(w.kept), n)
			require.NoError(t, db.Model(&models.WebhookNonce{}).Count(&n).Error)
			assert.EqualValues(t, 2, n)

			// A retried attempt resumes from its last heartbeat's counts.
			retry := ts.NewTestActivityEnvironment()
			retry.RegisterActivity(acts)
			retry.SetHeartbeatDetails(activities.PruneResult{AgentEvents: 4000, Nonces: 9})
			val, err = retry.ExecuteActivity(acts.Prune, in)
			require.NoError(t, err)
			res = activities.PruneResult{}
			require.NoError(t, val.Get(&res))
			assert.Equal(t, activities.PruneResult{AgentEvents: 4000, Nonces: 9}, res)
		})
	}
}
