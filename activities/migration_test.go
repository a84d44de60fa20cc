package activities_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/internal/metrics"
	"github.com/xcally-connector/connector/internal/secretbox"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/sinch/emulator"
)

// migFixture is a source account with every setting, a queue, agents and
// a migration row ready for its steps.
type migFixture struct {
	t      *testing.T
	db     *gorm.DB
	box    *secretbox.Box
	acts   *activities.Activities
	env    *testsuite.TestActivityEnvironment
	source models.Account
	queue  models.Queue
	agent  models.Agent
	// permitted is permitted on the source but has not enabled it.
	permitted models.Agent
	mig       models.Migration
}

func newMigFixture(t *testing.T, engine models.Engine) *migFixture {
	t.Helper()
	f := &migFixture{t: t, db: testdb.Open(t, engine)}
	var err error
	f.box, err = secretbox.New(bytes.Repeat([]byte{3}, 32))
	require.NoError(t, err)
	f.acts = &activities.Activities{DB: f.db, Secrets: f.box, Tokens: sinch.NewTokenCache(nil, nil), AllowCustomURLs: true}
	var ts testsuite.WorkflowTestSuite
	f.env = ts.NewTestActivityEnvironment()
	f.env.RegisterActivity(f.acts)

	f.source = models.Account{
		Name: "Acme", Key: "acme", List: "Customers", PublicURL: "https://motion.example.com", Type: models.AccountTypeSinchV2,
		Region: models.RegionEU, ProjectID: "proj-old", AppID: "01HOLDAPP", KeyID: "key-old", Phone: "+390212345678",
		Description: "Italian line", NotificationTemplate: "{{account.name}}: {{contact.mobile}}", Channels: "WHATSAPP,INSTAGRAM",
		Debug: true, SendRatePerSecond: 7, TransferOptions: `{"queues":[1],"agents":null,"returnToQueueAfterSeconds":30}`,
		ActionFlow: `[{"queue":1,"seconds":60},{"reply":"All agents are busy"}]`, RoutingStrategy: models.StrategyLeastBusy,
		AgentNotifyTimeoutSeconds: 45, InactivityTimeoutSeconds: 3600, Status: models.AccountActive,
	}
	require.NoError(t, f.db.Create(&f.source).Error)
	for _, name := range []string{"Solved", "Call back"} {
		require.NoError(t, f.db.Create(&models.Disposition{AccountID: f.source.ID, Name: name}).Error)
	}
	for i, title := range []string{"Hello", "Goodbye"} {
		require.NoError(t, f.db.Create(&models.CannedAnswer{AccountID: f.source.ID, Key: "k" + title, Title: title, Text: title + " {{contact.name}}", Position: i + 1}).Error)
	}
	f.queue = models.Queue{Name: "support", Strategy: models.StrategyRoundRobin}
	require.NoError(t, f.db.Create(&f.queue).Error)
	require.NoError(t, f.db.Create(&models.QueueAccount{QueueID: f.queue.ID, AccountID: f.source.ID}).Error)
	f.agent = models.Agent{Name: "bob", TokenHash: "hash-bob"}
	require.NoError(t, f.db.Create(&f.agent).Error)
	require.NoError(t, f.db.Create(&models.AgentAccount{AgentID: f.agent.ID, AccountID: f.source.ID, Enabled: true}).Error)
	f.permitted = models.Agent{Name: "pat", TokenHash: "hash-pat"}
	require.NoError(t, f.db.Create(&f.permitted).Error)
	require.NoError(t, f.db.Create(&models.AgentAccount{AgentID: f.permitted.ID, AccountID: f.source.ID}).Error)
	// A deleted agent keeps no permission on the new account.
	gone := models.Agent{Name: "gone", TokenHash: "hash-gone"}
	require.NoError(t, f.db.Create(&gone).Error)
	require.NoError(t, f.db.Create(&models.AgentAccount{AgentID: gone.ID, AccountID: f.source.ID, Enabled: true}).Error)
	require.NoError(t, f.db.Delete(&gone).Error)
	f.mig = f.newMigration("acme-v2", "ks-new")
	return f
}

// newMigration records a running migration of the source to key.
func (f *migFixture) newMigration(key, keySecret string) models.Migration {
	f.t.Helper()
	target, err := json.Marshal(activities.MigrationTarget{
		Name: "Acme V2", Key: key, PublicURL: "https://motion.example.com", Type: "sinch_v2", Region: "eu",
		ProjectID: "proj-new", AppID: "01HNEWAPP", KeyID: "key-new", Phone: "+390212345678",
	})
	require.NoError(f.t, err)
	m := models.Migration{SourceAccountID: f.source.ID, WorkflowID: "migration/test/" + key + "/" + keySecret, State: models.MigrationRunning,
		Target: string(target), StartedAt: time.Now().UTC()}
	require.NoError(f.t, f.db.Create(&m).Error)
	ks, err := f.box.Seal(keySecret, secretbox.MigrationAAD(m.ID, "key_secret"))
	require.NoError(f.t, err)
	ws, err := f.box.Seal("wh-new", secretbox.MigrationAAD(m.ID, "webhook_secret"))
	require.NoError(f.t, err)
	require.NoError(f.t, f.db.Model(&m).Updates(map[string]any{"target_key_secret_enc": ks, "target_webhook_secret_enc": ws}).Error)
	return m
}

// run executes an activity and decodes its result into out (may be nil).
func (f *migFixture) run(out any, fn, in any) error {
	f.t.Helper()
	val, err := f.env.ExecuteActivity(fn, in)
	if err == nil && out != nil {
		require.NoError(f.t, val.Get(out))
	}
	return err
}

func (f *migFixture) count(model any, where string, args ...any) int64 {
	f.t.Helper()
	var n int64
	require.NoError(f.t, f.db.Unscoped().Model(model).Where(where, args...).Count(&n).Error)
	return n
}

func (f *migFixture) create() activities.MigrationTargetResult {
	f.t.Helper()
	var res activities.MigrationTargetResult
	require.NoError(f.t, f.run(&res, f.acts.CreateMigrationTarget, activities.MigrationInput{MigrationID: f.mig.ID}))
	return res
}

func appErrType(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "want an application error, got %v", err)
	return appErr
}

func TestMigrationActivities(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			t.Run("create the target twice", func(t *testing.T) { testCreateTarget(t, newMigFixture(t, engine)) })
			t.Run("copy access and bridge twice", func(t *testing.T) { testCopyAndBridge(t, newMigFixture(t, engine)) })
			t.Run("bridge created for a source without queues", func(t *testing.T) { testBridgeCreated(t, newMigFixture(t, engine)) })
			t.Run("reminders, first message, mark migrated", func(t *testing.T) { testWaitsAndMark(t, newMigFixture(t, engine)) })
			t.Run("credentials", func(t *testing.T) { testVerifyCredentials(t, newMigFixture(t, engine)) })
		})
	}
}

func testCreateTarget(t *testing.T, f *migFixture) {
	first := f.create()
	again := f.create()
	assert.Equal(t, first, again, "a repeat returns the account already created")
	assert.EqualValues(t, 2, f.count(&models.Account{}, "1 = 1"), "one new account")
	assert.Equal(t, "https://motion.example.com/api/whatsapp/accounts/"+itoa(first.AccountID)+"/notify", first.ReceiveURL)
	assert.Equal(t, "01HNEWAPP", first.AppID)
	assert.Equal(t, "Acme", first.SourceName)
	assert.Equal(t, 2, first.Dispositions)
	assert.Equal(t, 2, first.CannedAnswers)

	var acc models.Account
	require.NoError(t, f.db.Take(&acc, first.AccountID).Error)
	src := f.source
	assert.Equal(t, "acme-v2", acc.Key)
	assert.Equal(t, "key-new", acc.KeyID)
	assert.Equal(t, models.AccountActive, acc.Status)
	// Every setting of the source.
	assert.Equal(t, src.List, acc.List)
	assert.Equal(t, src.Description, acc.Description)
	assert.Equal(t, src.NotificationTemplate, acc.NotificationTemplate)
	assert.Equal(t, src.Channels, acc.Channels)
	assert.Equal(t, src.Debug, acc.Debug)
	assert.Equal(t, src.SendRatePerSecond, acc.SendRatePerSecond)
	assert.Equal(t, src.TransferOptions, acc.TransferOptions)
	assert.Equal(t, src.ActionFlow, acc.ActionFlow)
	assert.Equal(t, src.RoutingStrategy, acc.RoutingStrategy)
	assert.Equal(t, src.AgentNotifyTimeoutSeconds, acc.AgentNotifyTimeoutSeconds)
	assert.Equal(t, src.InactivityTimeoutSeconds, acc.InactivityTimeoutSeconds)
	var names []string
	require.NoError(t, f.db.Model(&models.Disposition{}).Where("account_id = ?", acc.ID).Order("name").Pluck("name", &names).Error)
	assert.Equal(t, []string{"Call back", "Solved"}, names)
	var answers []models.CannedAnswer
	require.NoError(t, f.db.Where("account_id = ?", acc.ID).Order("position").Find(&answers).Error)
	require.Len(t, answers, 2)
	assert.Equal(t, []string{"kHello", "Hello", "Hello {{contact.name}}"}, []string{answers[0].Key, answers[0].Title, answers[0].Text})
	assert.Equal(t, 2, answers[1].Position)
	// The secrets, sealed again for the new row.
	ks, err := f.box.Open(acc.KeySecretEnc, secretbox.AccountAAD(acc.ID, "key_secret"))
	require.NoError(t, err)
	assert.Equal(t, "ks-new", ks)
	ws, err := f.box.Open(acc.WebhookSecretEnc, secretbox.AccountAAD(acc.ID, "webhook_secret"))
	require.NoError(t, err)
	assert.Equal(t, "wh-new", ws)
	var mig models.Migration
	require.NoError(t, f.db.Take(&mig, f.mig.ID).Error)
	require.NotNil(t, mig.TargetAccountID)
	assert.Equal(t, acc.ID, *mig.TargetAccountID)

	// A target whose key is taken can never be created.
	require.NoError(t, f.db.Model(&models.Migration{}).Where("id = ?", f.mig.ID).Update("active_source_id", nil).Error)
	taken := f.newMigration("acme-v2", "ks-other")
	err = f.run(nil, f.acts.CreateMigrationTarget, activities.MigrationInput{MigrationID: taken.ID})
	appErr := appErrType(t, err)
	assert.Equal(t, activities.ErrTypeMigrationConflict, appErr.Type())
	assert.True(t, appErr.NonRetryable())
	assert.Equal(t, `target.key: an account with key "acme-v2" already exists`, appErr.Message())
	assert.EqualValues(t, 2, f.count(&models.Account{}, "1 = 1"), "nothing created")
}

func testCopyAndBridge(t *testing.T, f *migFixture) {
	target := f.create()
	pair := activities.MigrationPairInput{MigrationID: f.mig.ID, SourceAccountID: f.source.ID, TargetAccountID: target.AccountID}
	var first, again activities.CopyAccessResult
	require.NoError(t, f.run(&first, f.acts.CopyMigrationAccess, pair))
	require.NoError(t, f.run(&again, f.acts.CopyMigrationAccess, pair))
	assert.Equal(t, []uint64{f.queue.ID}, first.QueueIDs)
	assert.Equal(t, []uint64{f.agent.ID, f.permitted.ID}, first.AgentIDs, "the deleted agent gets no permission")
	assert.Equal(t, 1, first.QueuesAdded)
	assert.Equal(t, 2, first.AgentsAdded)
	assert.Zero(t, again.QueuesAdded, "a repeat adds nothing")
	assert.Zero(t, again.AgentsAdded)
	assert.EqualValues(t, 1, f.count(&models.QueueAccount{}, "account_id = ?", target.AccountID))
	// The permissions are copied with each agent's choice: enabled where
	// the agent enabled the source, permitted only where it had not.
	assert.EqualValues(t, 1, f.count(&models.AgentAccount{}, "account_id = ? AND agent_id = ? AND enabled = ?", target.AccountID, f.agent.ID, true))
	assert.EqualValues(t, 1, f.count(&models.AgentAccount{}, "account_id = ? AND agent_id = ? AND enabled = ?", target.AccountID, f.permitted.ID, false))

	// The source's queue now serves both: it is the bridge.
	var b1, b2 activities.BridgeResult
	require.NoError(t, f.run(&b1, f.acts.EnsureMigrationBridge, pair))
	require.NoError(t, f.run(&b2, f.acts.EnsureMigrationBridge, pair))
	assert.Equal(t, activities.BridgeResult{QueueID: f.queue.ID, Name: "support"}, b1)
	assert.Equal(t, b1, b2)
	assert.EqualValues(t, 1, f.count(&models.Queue{}, "1 = 1"), "no queue created")
	var mig models.Migration
	require.NoError(t, f.db.Take(&mig, f.mig.ID).Error)
	require.NotNil(t, mig.BridgeQueueID)
	assert.Equal(t, f.queue.ID, *mig.BridgeQueueID)
	assert.False(t, mig.BridgeCreated)

	// Compensation, twice: the target is disabled and unlinked; the reused
	// queue and the source stay.
	in := activities.CompensateMigrationInput{MigrationID: f.mig.ID, Reason: "migration cancelled by the admin"}
	var c1, c2 activities.CompensateMigrationResult
	require.NoError(t, f.run(&c1, f.acts.CompensateMigration, in))
	require.NoError(t, f.run(&c2, f.acts.CompensateMigration, in))
	assert.Equal(t, activities.CompensateMigrationResult{TargetAccountID: target.AccountID}, c1)
	assert.Equal(t, c1, c2)
	var acc models.Account
	require.NoError(t, f.db.Take(&acc, target.AccountID).Error)
	assert.Equal(t, models.AccountDisabled, acc.Status)
	assert.Equal(t, "migration cancelled by the admin", acc.StatusReason)
	assert.False(t, acc.OpensInteractions())
	assert.Zero(t, f.count(&models.QueueAccount{}, "account_id = ?", target.AccountID))
	assert.Zero(t, f.count(&models.AgentAccount{}, "account_id = ?", target.AccountID))
	assert.EqualValues(t, 1, f.count(&models.Queue{}, "deleted_at IS NULL"), "the reused queue stays")
	assert.EqualValues(t, 1, f.count(&models.QueueAccount{}, "account_id = ?", f.source.ID))
	assert.EqualValues(t, 3, f.count(&models.AgentAccount{}, "account_id = ?", f.source.ID))
	var src models.Account
	require.NoError(t, f.db.Take(&src, f.source.ID).Error)
	assert.Equal(t, models.AccountActive, src.Status, "the source is untouched")
}

func testBridgeCreated(t *testing.T, f *migFixture) {
	require.NoError(t, f.db.Where("account_id = ?", f.source.ID).Delete(&models.QueueAccount{}).Error)
	target := f.create()
	pair := activities.MigrationPairInput{MigrationID: f.mig.ID, SourceAccountID: f.source.ID, TargetAccountID: target.AccountID}
	require.NoError(t, f.run(nil, f.acts.CopyMigrationAccess, pair))
	var b1, b2 activities.BridgeResult
	require.NoError(t, f.run(&b1, f.acts.EnsureMigrationBridge, pair))
	require.NoError(t, f.run(&b2, f.acts.EnsureMigrationBridge, pair))
	assert.True(t, b1.Created)
	assert.Equal(t, "Migration bridge: Acme → Acme V2", b1.Name)
	assert.Equal(t, b1, b2, "a repeat returns the queue it created")
	assert.EqualValues(t, 2, f.count(&models.Queue{}, "1 = 1"), "one queue created")
	var q models.Queue
	require.NoError(t, f.db.Take(&q, b1.QueueID).Error)
	assert.Equal(t, models.StrategyRoundRobin, q.Strategy)
	assert.EqualValues(t, 2, f.count(&models.QueueAccount{}, "queue_id = ?", q.ID), "both accounts")
	assert.EqualValues(t, 1, f.count(&models.QueueAgent{}, "queue_id = ? AND agent_id = ?", q.ID, f.agent.ID), "the source's agent is a member")
	assert.Zero(t, f.count(&models.QueueAgent{}, "queue_id = ? AND agent_id = ?", q.ID, f.permitted.ID), "an agent who did not enable the source is not")

	in := activities.CompensateMigrationInput{MigrationID: f.mig.ID, Reason: "expired"}
	var c1, c2 activities.CompensateMigrationResult
	require.NoError(t, f.run(&c1, f.acts.CompensateMigration, in))
	require.NoError(t, f.run(&c2, f.acts.CompensateMigration, in))
	assert.Equal(t, activities.CompensateMigrationResult{TargetAccountID: target.AccountID, BridgeQueueID: q.ID}, c1)
	assert.Equal(t, c1, c2)
	assert.Zero(t, f.count(&models.Queue{}, "id = ? AND deleted_at IS NULL", q.ID), "the created bridge is deleted")
	assert.EqualValues(t, 1, f.count(&models.Queue{}, "id = ?", q.ID), "softly")
	assert.Zero(t, f.count(&models.QueueAccount{}, "queue_id = ?", q.ID))
	assert.Zero(t, f.count(&models.QueueAgent{}, "queue_id = ?", q.ID))
	assert.EqualValues(t, 3, f.count(&models.AgentAccount{}, "account_id = ?", f.source.ID), "the source keeps its agents")
}

func testWaitsAndMark(t *testing.T, f *migFixture) {
	target := f.create()
	deadline := time.Now().Add(24 * time.Hour).UTC()
	for _, n := range []int{1, 1, 2, 2} {
		require.NoError(t, f.run(nil, f.acts.RemindMigration, activities.RemindMigrationInput{
			MigrationID: f.mig.ID, SourceAccountID: f.source.ID, Reminder: n, NextAction: "email your Sinch account manager", Deadline: deadline,
		}))
	}
	assert.EqualValues(t, 2, f.count(&models.AccountEvent{}, "account_id = ? AND kind = ?", f.source.ID, activities.MigrationReminderKind), "one event per reminder")
	var mig models.Migration
	require.NoError(t, f.db.Take(&mig, f.mig.ID).Error)
	assert.Equal(t, 2, mig.Reminders)
	assert.Equal(t, "email your Sinch account manager", mig.NextAction)

	// No message on the new account yet: retryable "not yet".
	in := activities.MigrationAccountInput{MigrationID: f.mig.ID, AccountID: target.AccountID}
	err := f.run(nil, f.acts.AwaitFirstInbound, in)
	appErr := appErrType(t, err)
	assert.Equal(t, activities.ErrTypeMigrationNoMessageYet, appErr.Type())
	assert.False(t, appErr.NonRetryable())
	// A message on the source does not count; one on the target does.
	for _, acc := range []uint64{f.source.ID, target.AccountID} {
		contact := models.Contact{AccountID: acc, Channel: models.ChannelWhatsApp, Identity: "393331234567"}
		require.NoError(t, f.db.Create(&contact).Error)
		it := models.Interaction{Key: "it-" + itoa(acc), WorkflowID: "wf", AccountID: acc, ContactID: contact.ID,
			Channel: models.ChannelWhatsApp, Status: models.InteractionQueued}
		require.NoError(t, f.db.Create(&it).Error)
		require.NoError(t, f.db.Create(&models.Message{AccountID: acc, InteractionID: it.ID, ContactID: contact.ID,
			Direction: models.DirectionInbound, Kind: "text", Text: "hi", Status: models.StatusReceived}).Error)
		if acc == f.source.ID {
			require.Error(t, f.run(nil, f.acts.AwaitFirstInbound, in))
		}
	}
	var first activities.FirstInboundResult
	require.NoError(t, f.run(&first, f.acts.AwaitFirstInbound, in))
	assert.NotZero(t, first.MessageID)

	pair := activities.MigrationPairInput{MigrationID: f.mig.ID, SourceAccountID: f.source.ID, TargetAccountID: target.AccountID}
	var m1, m2 activities.MarkMigratedResult
	require.NoError(t, f.run(&m1, f.acts.MarkSourceMigrated, pair))
	require.NoError(t, f.run(&m2, f.acts.MarkSourceMigrated, pair))
	assert.False(t, m1.MigratedAt.IsZero())
	assert.True(t, m1.MigratedAt.Equal(m2.MigratedAt), "a repeat keeps the first time")
	var src models.Account
	require.NoError(t, f.db.Take(&src, f.source.ID).Error)
	assert.Equal(t, models.AccountMigrated, src.Status)
	require.NotNil(t, src.MigratedToAccountID)
	assert.Equal(t, target.AccountID, *src.MigratedToAccountID)
	assert.Contains(t, src.StatusReason, "migrated to account "+itoa(target.AccountID)+" (Acme V2) by migration "+itoa(f.mig.ID))
	assert.False(t, src.OpensInteractions())

	// The final record frees the source for another migration.
	mig.ActiveSourceID = &f.source.ID
	require.NoError(t, f.db.Model(&models.Migration{}).Where("id = ?", f.mig.ID).Update("active_source_id", f.source.ID).Error)
	now := time.Now().UTC()
	rec := activities.MigrationRecord{MigrationID: f.mig.ID, State: models.MigrationCompleted, Steps: activities.NewMigrationSteps(),
		NextAction: "nothing to do", TargetAccountID: target.AccountID, Reminders: 2, ConfirmedAt: &now, FinishedAt: &now}
	m, err := metrics.New()
	require.NoError(t, err)
	f.acts.Metrics = m
	require.NoError(t, f.run(nil, f.acts.RecordMigration, rec))
	require.NoError(t, f.run(nil, f.acts.RecordMigration, rec))
	assert.Contains(t, scrapeText(t, m), `connector_migrations_total{state="completed"} 1`, "a transition counts once, a repeated record not again")
	require.NoError(t, f.db.Take(&mig, f.mig.ID).Error)
	assert.Equal(t, models.MigrationCompleted, mig.State)
	assert.Nil(t, mig.ActiveSourceID)
	assert.NotNil(t, mig.FinishedAt)
	var steps []activities.MigrationStep
	require.NoError(t, json.Unmarshal([]byte(mig.Steps), &steps))
	assert.Len(t, steps, len(activities.NewMigrationSteps()))
}

func testVerifyCredentials(t *testing.T, f *migFixture) {
	em := emulator.New(emulator.Options{})
	url, err := em.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = em.Close() })
	require.NoError(t, em.CreateApp(emulator.App{AppID: "01HNEWAPP", ProjectID: "proj-new", Region: "eu", ProcessingMode: "CONVERSATION",
		WebhookURL: "http://127.0.0.1:1/notify", KeyID: "key-new", KeySecret: "ks-right"}))
	target := f.create() // sealed with "ks-new": not the emulator's secret
	require.NoError(t, f.db.Model(&models.Account{}).Where("id = ?", target.AccountID).Update("auth_url", url+"/oauth2/token").Error)
	in := activities.MigrationAccountInput{MigrationID: f.mig.ID, AccountID: target.AccountID}

	err = f.run(nil, f.acts.VerifyMigrationCredentials, in)
	appErr := appErrType(t, err)
	assert.Equal(t, activities.ErrTypeMigrationCredentials, appErr.Type())
	assert.True(t, appErr.NonRetryable(), "a refused key is not retried")
	assert.Contains(t, appErr.Message(), "Sinch refused the key of account "+itoa(target.AccountID))
	assert.Contains(t, appErr.Message(), "401")
	assert.Contains(t, appErr.Message(), `key id "key-new"`, "names the key id")
	assert.NotContains(t, appErr.Message(), "ks-new", "no secret in the error")

	// The admin corrects the secret: the same activity passes.
	sealed, err := f.box.Seal("ks-right", secretbox.AccountAAD(target.AccountID, "key_secret"))
	require.NoError(t, err)
	require.NoError(t, f.db.Model(&models.Account{}).Where("id = ?", target.AccountID).Update("key_secret_enc", sealed).Error)
	var res activities.VerifyCredentialsResult
	require.NoError(t, f.run(&res, f.acts.VerifyMigrationCredentials, in))
	assert.Equal(t, url+"/oauth2/token", res.AuthURL)
	assert.Equal(t, "key-new", res.KeyID)
}

func itoa(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
