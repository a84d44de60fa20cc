package models_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
)

func forEachEngine(t *testing.T, fn func(t *testing.T, db *gorm.DB)) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) { fn(t, testdb.Open(t, engine)) })
	}
}

func strp(s string) *string { return &s }

func seedAccount(t *testing.T, db *gorm.DB, key string) *models.Account {
	t.Helper()
	a := &models.Account{Name: "Acme " + key, Key: key, PublicURL: "https://motion.example.com", Type: models.AccountTypeSinchV2,
		Region: models.RegionEU, ProjectID: "p", AppID: "app-" + key, KeyID: "k", Phone: "+390612345678", Channels: "WHATSAPP"}
	require.NoError(t, db.Create(a).Error)
	return a
}

func TestMigrateCreatesEveryTableAndIsIdempotent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, db *gorm.DB) {
		for _, m := range models.All() {
			assert.True(t, db.Migrator().HasTable(m), "table for %T", m)
		}
		require.NoError(t, models.Migrate(db), "second run is a no-op")
		v, err := models.SchemaVersion(db)
		require.NoError(t, err)
		assert.Equal(t, models.LatestMigration(), v)
	})
}

func TestConcurrentMigrationsSerialise(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		if engine != models.Postgres {
			continue
		}
		t.Run(string(engine), func(t *testing.T) {
			dsn := testdb.PostgresDSN(t)
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					db, err := models.Open(models.OpenOptions{Engine: models.Postgres, DSN: dsn, MaxOpenConns: 2})
					if err != nil {
						errs[i] = err
						return
					}
					defer func() { _ = models.Close(db) }()
					errs[i] = models.Migrate(db)
				}()
			}
			wg.Wait()
			for i, err := range errs {
				assert.NoError(t, err, "migrator %d", i)
			}
		})
	}
}

func TestAccountKeyUniqueAmongLiveAccounts(t *testing.T) {
	forEachEngine(t, func(t *testing.T, db *gorm.DB) {
		a := seedAccount(t, db, "sales")
		dup := *a
		dup.ID = 0
		err := db.Create(&dup).Error
		require.Error(t, err)
		assert.True(t, models.IsDuplicate(err), "want a duplicate-key error, got %v", err)

		require.NoError(t, db.Delete(a).Error, "soft delete")
		again := seedAccount(t, db, "sales")
		assert.NotEqual(t, a.ID, again.ID, "a deleted account's key can be reused")
	})
}

func TestMessageProviderIDUniquePerAccount(t *testing.T) {
	forEachEngine(t, func(t *testing.T, db *gorm.DB) {
		acc := seedAccount(t, db, "a1")
		other := seedAccount(t, db, "a2")
		contact := &models.Contact{AccountID: acc.ID, Channel: models.ChannelWhatsApp, Identity: "393331234567"}
		require.NoError(t, db.Create(contact).Error)
		in := &models.Interaction{Key: "conversation/1/WHATSAPP/393331234567#1", WorkflowID: "conversation/1/WHATSAPP/393331234567",
			AccountID: acc.ID, ContactID: contact.ID, Channel: models.ChannelWhatsApp, Status: models.InteractionQueued, OpenedAt: time.Now()}
		require.NoError(t, db.Create(in).Error)
		msg := func(accountID uint64, providerID *string) *models.Message {
			return &models.Message{AccountID: accountID, InteractionID: in.ID, ContactID: contact.ID, Direction: models.DirectionInbound,
				Kind: "text", Text: "hi", ProviderMessageID: providerID, Status: models.StatusReceived}
		}
		require.NoError(t, db.Create(msg(acc.ID, strp("01HMSG"))).Error)
		err := db.Create(msg(acc.ID, strp("01HMSG"))).Error
		assert.True(t, models.IsDuplicate(err), "same Sinch id on the same account: %v", err)
		assert.NoError(t, db.Create(msg(other.ID, strp("01HMSG"))).Error, "same id on another account is another message")
		assert.NoError(t, db.Create(msg(acc.ID, nil)).Error, "outbound not yet sent: no provider id")
		assert.NoError(t, db.Create(msg(acc.ID, nil)).Error, "several NULL provider ids are allowed")

		out := msg(acc.ID, nil)
		out.Direction, out.ClientRef = models.DirectionOutbound, strp("reply-42")
		require.NoError(t, db.Create(out).Error)
		out2 := msg(acc.ID, nil)
		out2.ClientRef = strp("reply-42")
		assert.True(t, models.IsDuplicate(db.Create(out2).Error), "client ref makes a send idempotent")

		var n int64
		require.NoError(t, db.Model(&models.Message{}).Where("account_id = ? AND provider_message_id = ?", acc.ID, "01HMSG").Count(&n).Error)
		assert.EqualValues(t, 1, n)
	})
}

func TestOtherUniqueKeys(t *testing.T) {
	forEachEngine(t, func(t *testing.T, db *gorm.DB) {
		acc := seedAccount(t, db, "k")
		c := models.Contact{AccountID: acc.ID, Channel: models.ChannelWhatsApp, Identity: "4915112345678"}
		require.NoError(t, db.Create(&c).Error)
		c2 := c
		c2.ID = 0
		assert.True(t, models.IsDuplicate(db.Create(&c2).Error), "contact identity per account and channel")
		c3 := c2
		c3.Channel = models.ChannelInstagram
		assert.NoError(t, db.Create(&c3).Error, "same identity on another channel")

		in := models.Interaction{Key: "wf#1", WorkflowID: "wf", AccountID: acc.ID, ContactID: c.ID, Channel: models.ChannelWhatsApp, Status: models.InteractionQueued, OpenedAt: time.Now()}
		require.NoError(t, db.Create(&in).Error)
		in2 := in
		in2.ID = 0
		assert.True(t, models.IsDuplicate(db.Create(&in2).Error), "interaction key")

		ag := models.Agent{Name: "Ann", Capacity: 2, TokenHash: "h1"}
		require.NoError(t, db.Create(&ag).Error)
		ag2 := models.Agent{Name: "Bob", Capacity: 2, TokenHash: "h1"}
		assert.True(t, models.IsDuplicate(db.Create(&ag2).Error), "agent token hash")

		q := models.Queue{Name: "support", Strategy: models.StrategyRoundRobin}
		require.NoError(t, db.Create(&q).Error)
		assert.True(t, models.IsDuplicate(db.Create(&models.Queue{Name: "support", Strategy: models.StrategyRingAll}).Error), "queue name")
		require.NoError(t, db.Create(&models.QueueAccount{QueueID: q.ID, AccountID: acc.ID}).Error)
		assert.True(t, models.IsDuplicate(db.Create(&models.QueueAccount{QueueID: q.ID, AccountID: acc.ID}).Error), "queue-account link")
		require.NoError(t, db.Create(&models.QueueAgent{QueueID: q.ID, AgentID: ag.ID}).Error)
		assert.True(t, models.IsDuplicate(db.Create(&models.QueueAgent{QueueID: q.ID, AgentID: ag.ID}).Error), "queue-agent link")
		require.NoError(t, db.Create(&models.AgentAccount{AgentID: ag.ID, AccountID: acc.ID}).Error)
		assert.True(t, models.IsDuplicate(db.Create(&models.AgentAccount{AgentID: ag.ID, AccountID: acc.ID}).Error), "agent-account enablement")

		require.NoError(t, db.Create(&models.Disposition{AccountID: acc.ID, Name: "Solved"}).Error)
		assert.True(t, models.IsDuplicate(db.Create(&models.Disposition{AccountID: acc.ID, Name: "Solved"}).Error), "disposition per account")

		m := models.Message{AccountID: acc.ID, InteractionID: in.ID, ContactID: c.ID, Direction: models.DirectionInbound, Kind: "media", Status: models.StatusReceived}
		require.NoError(t, db.Create(&m).Error)
		att := models.Attachment{MessageID: m.ID, SourceURL: "https://media.example/1.jpg", Status: models.AttachmentPending}
		require.NoError(t, db.Create(&att).Error)
		att2 := att
		att2.ID = 0
		assert.True(t, models.IsDuplicate(db.Create(&att2).Error), "attachment per message and source")

		mig := models.Migration{SourceAccountID: acc.ID, ActiveSourceID: &acc.ID, WorkflowID: "migration/1", State: models.MigrationRunning, Target: "{}", StartedAt: time.Now()}
		require.NoError(t, db.Create(&mig).Error)
		mig2 := mig
		mig2.ID, mig2.ActiveSourceID = 0, nil
		assert.True(t, models.IsDuplicate(db.Create(&mig2).Error), "migration workflow id")
		mig3 := mig
		mig3.ID, mig3.WorkflowID = 0, "migration/2"
		assert.True(t, models.IsDuplicate(db.Create(&mig3).Error), "one active migration per source account")
		mig3.ActiveSourceID = nil
		require.NoError(t, db.Create(&mig3).Error, "ended migrations do not count")
	})
}

func TestForeignKeysAreEnforced(t *testing.T) {
	forEachEngine(t, func(t *testing.T, db *gorm.DB) {
		err := db.Create(&models.Contact{AccountID: 999999, Channel: models.ChannelWhatsApp, Identity: "1"}).Error
		assert.Error(t, err, "a contact of a missing account is refused")
	})
}

func TestStatusRankIsMonotonic(t *testing.T) {
	order := []models.MessageStatus{models.StatusPending, models.StatusAccepted, models.StatusQueued, models.StatusSwitching, models.StatusDelivered, models.StatusRead}
	for i := 1; i < len(order); i++ {
		assert.Greater(t, order[i].Rank(), order[i-1].Rank(), "%s after %s", order[i], order[i-1])
	}
	assert.Equal(t, models.StatusRead.Rank(), models.StatusFailed.Rank(), "both terminal")
	assert.Zero(t, models.MessageStatus("bogus").Rank())
}

// TestOutboundMigrationUpgradesAnOlderSchema turns a migrated database back
// into the 2026112102 schema (the outbound columns and table gone, the
// migration unrecorded) with a message in it, migrates again, and checks
// the columns are back and the message is intact.
func TestOutboundMigrationUpgradesAnOlderSchema(t *testing.T) {
	forEachEngine(t, func(t *testing.T, db *gorm.DB) {
		acc := seedAccount(t, db, "old")
		c := models.Contact{AccountID: acc.ID, Channel: models.ChannelWhatsApp, Identity: "393330000001"}
		require.NoError(t, db.Create(&c).Error)
		in := models.Interaction{Key: "wf#old", WorkflowID: "wf", AccountID: acc.ID, ContactID: c.ID, Channel: models.ChannelWhatsApp, Status: models.InteractionQueued, OpenedAt: time.Now()}
		require.NoError(t, db.Create(&in).Error)
		msg := models.Message{AccountID: acc.ID, InteractionID: in.ID, ContactID: c.ID, Direction: models.DirectionInbound, Kind: "text", Text: "kept", Status: models.StatusReceived}
		require.NoError(t, db.Create(&msg).Error)

		m := db.Migrator()
		if db.Dialector.Name() == "sqlite" {
			// SQLite drops a column by rebuilding the table: let the
			// setup (not the migration under test) do that with
			// foreign keys off.
			require.NoError(t, db.Exec("PRAGMA foreign_keys = OFF").Error)
			defer db.Exec("PRAGMA foreign_keys = ON")
		}
		for _, f := range []string{"ErrorClass", "ErrorMessage", "SendAttempt", "SendStartedAt", "ParentID", "Part"} {
			require.NoError(t, m.DropColumn(&models.Message{}, f))
		}
		for _, f := range []string{"SendRatePerSecond", "PolicyFailureStreak", "PolicyFailureLastCode", "PolicyFailureAt"} {
			require.NoError(t, m.DropColumn(&models.Account{}, f))
		}
		require.NoError(t, m.DropTable(&models.SendRateSlot{}))
		require.NoError(t, db.Exec("DELETE FROM schema_migrations WHERE id = ?", "2026120101_outbound").Error)
		require.False(t, m.HasColumn(&models.Message{}, "SendAttempt"))

		require.NoError(t, models.Migrate(db))
		for _, f := range []string{"ErrorClass", "ErrorMessage", "SendAttempt", "SendStartedAt", "ParentID", "Part"} {
			assert.True(t, m.HasColumn(&models.Message{}, f), "messages.%s", f)
		}
		assert.True(t, m.HasColumn(&models.Account{}, "PolicyFailureStreak"))
		assert.True(t, m.HasTable(&models.SendRateSlot{}))
		var got models.Message
		require.NoError(t, db.Take(&got, msg.ID).Error)
		assert.Equal(t, "kept", got.Text)
		assert.Zero(t, got.SendAttempt)
		v, err := models.SchemaVersion(db)
		require.NoError(t, err)
		assert.Equal(t, models.LatestMigration(), v)
	})
}

// TestTenancyMigrationKeepsWhatWorked turns a migrated database back into
// the schema before 2026120301_tenancy (no enabled columns, no
// allow_unsigned_webhooks) holding an agent who enabled an account and two
// accounts, one without a webhook secret, then migrates again: the link is
// permitted and enabled, the account without a secret takes unsigned
// callbacks explicitly, the one with a secret does not.
func TestTenancyMigrationKeepsWhatWorked(t *testing.T) {
	forEachEngine(t, func(t *testing.T, db *gorm.DB) {
		m := db.Migrator()
		if db.Dialector.Name() == "sqlite" {
			require.NoError(t, db.Exec("PRAGMA foreign_keys = OFF").Error)
			defer db.Exec("PRAGMA foreign_keys = ON")
		}
		for _, f := range []string{"EnabledAt", "Enabled"} {
			require.NoError(t, m.DropColumn(&models.AgentAccount{}, f))
		}
		require.NoError(t, m.DropColumn(&models.Account{}, "AllowUnsignedWebhooks"))
		require.NoError(t, db.Exec("DELETE FROM schema_migrations WHERE id = ?", "2026120301_tenancy").Error)

		oldAccount := func(key string) *models.Account {
			a := &models.Account{Name: "Acme " + key, Key: key, PublicURL: "https://motion.example.com", Type: models.AccountTypeSinchV2,
				Region: models.RegionEU, ProjectID: "p", AppID: "app-" + key, KeyID: "k", Phone: "+390612345678", Channels: "WHATSAPP"}
			require.NoError(t, db.Omit("AllowUnsignedWebhooks").Create(a).Error)
			return a
		}
		unsigned, signed := oldAccount("unsigned"), oldAccount("signed")
		require.NoError(t, db.Model(&models.Account{}).Where("id = ?", signed.ID).Update("webhook_secret_enc", []byte("sealed")).Error)
		agent := models.Agent{Name: "bob", TokenHash: "hash-bob"}
		require.NoError(t, db.Create(&agent).Error)
		for _, acc := range []uint64{unsigned.ID, signed.ID} {
			require.NoError(t, db.Exec("INSERT INTO agent_accounts (agent_id, account_id, created_at) VALUES (?, ?, ?)", agent.ID, acc, time.Now()).Error)
		}

		require.NoError(t, models.Migrate(db))
		var links []models.AgentAccount
		require.NoError(t, db.Where("agent_id = ?", agent.ID).Order("account_id").Find(&links).Error)
		require.Len(t, links, 2)
		for _, l := range links {
			assert.True(t, l.Enabled, "an account the agent had enabled stays enabled (account %d)", l.AccountID)
			assert.NotNil(t, l.EnabledAt)
		}
		var reach []uint64
		require.NoError(t, models.ReachableAccountIDs(db, agent.ID).Order("account_id").Pluck("account_id", &reach).Error)
		assert.Equal(t, []uint64{unsigned.ID, signed.ID}, reach)
		var got models.Account
		require.NoError(t, db.Take(&got, unsigned.ID).Error)
		assert.True(t, got.AllowUnsignedWebhooks, "an account without a secret keeps taking unsigned callbacks, explicitly")
		var signedNow models.Account
		require.NoError(t, db.Take(&signedNow, signed.ID).Error)
		assert.False(t, signedNow.AllowUnsignedWebhooks)

		// New links are permissions only until the agent enables them.
		other := seedAccount(t, db, "new")
		require.NoError(t, db.Create(&models.AgentAccount{AgentID: agent.ID, AccountID: other.ID}).Error)
		require.NoError(t, models.ReachableAccountIDs(db, agent.ID).Order("account_id").Pluck("account_id", &reach).Error)
		assert.NotContains(t, reach, other.ID)
	})
}

// The report figures of interactions that existed before the migration
// are backfilled from their rows, on both engines.
func TestReportFiguresMigrationBackfills(t *testing.T) {
	forEachEngine(t, func(t *testing.T, db *gorm.DB) {
		acc := seedAccount(t, db, "rep")
		c := models.Contact{AccountID: acc.ID, Channel: models.ChannelWhatsApp, Identity: "393330000001"}
		require.NoError(t, db.Create(&c).Error)
		t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
		at := func(d time.Duration) *time.Time { v := t0.Add(d); return &v }
		agentID := uint64(7)
		in := models.Interaction{Key: "rep#1", WorkflowID: "rep", AccountID: acc.ID, ContactID: c.ID, Channel: models.ChannelWhatsApp,
			Status: models.InteractionClosed, OpenedAt: t0, AssignedAt: at(30 * time.Second), ClosedAt: at(10 * time.Minute), CloseReason: "agent"}
		require.NoError(t, db.Create(&in).Error)
		msgs := []models.Message{
			{AccountID: acc.ID, InteractionID: in.ID, ContactID: c.ID, Direction: models.DirectionInbound, Kind: "text", ProviderMessageID: strp("in-1"),
				Status: models.StatusReceived, ProviderTime: at(-5 * time.Second), CreatedAt: t0},
			{AccountID: acc.ID, InteractionID: in.ID, ContactID: c.ID, Direction: models.DirectionOutbound, Kind: "text", ClientRef: strp("out-1"),
				AgentID: &agentID, Status: models.StatusDelivered, CreatedAt: *at(2 * time.Minute)},
			{AccountID: acc.ID, InteractionID: in.ID, ContactID: c.ID, Direction: models.DirectionOutbound, Kind: "text", ClientRef: strp("flow-1"),
				Status: models.StatusDelivered, CreatedAt: *at(time.Second)},
			{AccountID: acc.ID, InteractionID: in.ID, ContactID: c.ID, Direction: models.DirectionSystem, Kind: "system", ClientRef: strp("sys-1"),
				Status: models.StatusDelivered, CreatedAt: *at(3 * time.Minute)},
		}
		require.NoError(t, db.Create(&msgs).Error)
		require.NoError(t, db.Exec("DELETE FROM schema_migrations WHERE id = ?", "2026120303_report_figures").Error)
		require.NoError(t, db.Exec(`UPDATE interactions SET first_assigned_at = NULL, time_to_assign_ms = NULL, first_response_at = NULL,
  first_response_ms = NULL, handle_ms = NULL, messages_in = 0, messages_out = 0`).Error)

		require.NoError(t, models.Migrate(db))
		var got models.Interaction
		require.NoError(t, db.Take(&got, in.ID).Error)
		assert.Equal(t, 1, got.MessagesIn)
		assert.Equal(t, 1, got.MessagesOut, "an agent's reply; the flow reply and the system message apart")
		require.NotNil(t, got.TimeToAssignMs)
		assert.InDelta(t, 30_000, *got.TimeToAssignMs, 1)
		require.NotNil(t, got.HandleMs)
		assert.InDelta(t, 570_000, *got.HandleMs, 1)
		require.NotNil(t, got.FirstResponseAt)
		assert.True(t, got.FirstResponseAt.Equal(t0.Add(2*time.Minute)), "%s", got.FirstResponseAt)
		require.NotNil(t, got.FirstResponseMs)
		assert.InDelta(t, 125_000, *got.FirstResponseMs, 1, "from the customer's message (Sinch's time) to the agent's reply")
	})
}
