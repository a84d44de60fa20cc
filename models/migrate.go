package models

import (
	"fmt"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

// All lists every table's model in dependency order.
func All() []any {
	return []any{
		&Account{}, &AccountEvent{}, &Disposition{}, &CannedAnswer{},
		&Queue{}, &Agent{}, &QueueAccount{}, &QueueAgent{}, &AgentAccount{},
		&Contact{}, &Interaction{}, &Message{}, &Attachment{}, &Migration{},
		&AgentEvent{}, &WebhookNonce{}, &SendRateSlot{}, &Heartbeat{}, &WebhookHealth{},
	}
}

// initialTables are the tables of the first migration; each later migration
// names the tables it adds or changes.
func initialTables() []any {
	return []any{
		&Account{}, &AccountEvent{}, &Disposition{}, &CannedAnswer{},
		&Queue{}, &Agent{}, &QueueAccount{}, &QueueAgent{}, &AgentAccount{},
		&Contact{}, &Interaction{}, &Message{}, &Attachment{}, &Migration{},
	}
}

// migrations is the ordered, append-only list of schema changes. Never edit or
// reorder a shipped entry: add a new one. Each runs in a transaction on both
// engines and is recorded in the schema_migrations table.
var migrations = []*gormigrate.Migration{
	{
		ID: "2026112101_initial",
		Migrate: func(tx *gorm.DB) error {
			return tx.AutoMigrate(initialTables()...)
		},
		Rollback: func(tx *gorm.DB) error {
			all := initialTables()
			for i := len(all) - 1; i >= 0; i-- {
				if err := tx.Migrator().DropTable(all[i]); err != nil {
					return err
				}
			}
			return nil
		},
	},
	{
		ID: "2026112102_agent_events_webhook_nonces",
		Migrate: func(tx *gorm.DB) error {
			return tx.AutoMigrate(&AgentEvent{}, &WebhookNonce{})
		},
		Rollback: func(tx *gorm.DB) error {
			return tx.Migrator().DropTable(&WebhookNonce{}, &AgentEvent{})
		},
	},
	{
		// Outbound replies: failure class and advice, send attempts (for
		// reconciliation and stale reports), split parts, the per-app send
		// schedule and the account's policy-failure streak. Columns are
		// added one by one (AutoMigrate on SQLite may rebuild a table), and
		// only when missing: on a new database the first migration already
		// created today's structs.
		ID: "2026120101_outbound",
		Migrate: func(tx *gorm.DB) error {
			m := tx.Migrator()
			for _, f := range []string{"ErrorClass", "ErrorMessage", "SendAttempt", "SendStartedAt", "ParentID", "Part"} {
				if err := addColumn(tx, &Message{}, f); err != nil {
					return err
				}
			}
			if !m.HasIndex(&Message{}, "ParentID") {
				if err := m.CreateIndex(&Message{}, "ParentID"); err != nil {
					return err
				}
			}
			for _, f := range []string{"SendRatePerSecond", "PolicyFailureStreak", "PolicyFailureLastCode", "PolicyFailureAt"} {
				if err := addColumn(tx, &Account{}, f); err != nil {
					return err
				}
			}
			if m.HasTable(&SendRateSlot{}) {
				return nil
			}
			return m.CreateTable(&SendRateSlot{})
		},
		Rollback: func(tx *gorm.DB) error {
			m := tx.Migrator()
			if err := m.DropTable(&SendRateSlot{}); err != nil {
				return err
			}
			for _, f := range []string{"ErrorClass", "ErrorMessage", "SendAttempt", "SendStartedAt", "ParentID", "Part"} {
				if err := m.DropColumn(&Message{}, f); err != nil {
					return err
				}
			}
			for _, f := range []string{"SendRatePerSecond", "PolicyFailureStreak", "PolicyFailureLastCode", "PolicyFailureAt"} {
				if err := m.DropColumn(&Account{}, f); err != nil {
					return err
				}
			}
			return nil
		},
	},
	{
		ID: "2026120102_heartbeats",
		Migrate: func(tx *gorm.DB) error {
			if tx.Migrator().HasTable(&Heartbeat{}) {
				return nil
			}
			return tx.Migrator().CreateTable(&Heartbeat{})
		},
		Rollback: func(tx *gorm.DB) error { return tx.Migrator().DropTable(&Heartbeat{}) },
	},
	{
		// Media both ways: the attachment's account, direction, sniffed
		// format, fetch attempts and deletion; the account's media warning.
		ID: "2026120103_media",
		Migrate: func(tx *gorm.DB) error {
			for _, f := range attachmentMediaColumns {
				if err := addColumn(tx, &Attachment{}, f); err != nil {
					return err
				}
			}
			m := tx.Migrator()
			for _, f := range []string{"AccountID", "StoragePath"} {
				if !m.HasIndex(&Attachment{}, f) {
					if err := m.CreateIndex(&Attachment{}, f); err != nil {
						return err
					}
				}
			}
			for _, f := range []string{"MediaWarning", "MediaWarningAt"} {
				if err := addColumn(tx, &Account{}, f); err != nil {
					return err
				}
			}
			return nil
		},
		Rollback: func(tx *gorm.DB) error {
			m := tx.Migrator()
			for _, f := range attachmentMediaColumns {
				if err := m.DropColumn(&Attachment{}, f); err != nil {
					return err
				}
			}
			for _, f := range []string{"MediaWarning", "MediaWarningAt"} {
				if err := m.DropColumn(&Account{}, f); err != nil {
					return err
				}
			}
			return nil
		},
	},
	{
		// Account settings (routing parameters, status after a migration,
		// canned answers' titles) and the migration workflow's table. The
		// first version of the migrations table was never written to: it
		// is replaced.
		ID: "2026120104_settings_migrations",
		Migrate: func(tx *gorm.DB) error {
			for _, f := range accountSettingsColumns {
				if err := addColumn(tx, &Account{}, f); err != nil {
					return err
				}
			}
			for _, f := range []string{"Title", "Position"} {
				if err := addColumn(tx, &CannedAnswer{}, f); err != nil {
					return err
				}
			}
			m := tx.Migrator()
			if m.HasTable(&Migration{}) && m.HasColumn(&Migration{}, "from_account_id") {
				if err := m.DropTable(&Migration{}); err != nil {
					return err
				}
			}
			if m.HasTable(&Migration{}) {
				return nil
			}
			return m.CreateTable(&Migration{})
		},
		Rollback: func(tx *gorm.DB) error {
			m := tx.Migrator()
			for _, f := range accountSettingsColumns {
				if err := m.DropColumn(&Account{}, f); err != nil {
					return err
				}
			}
			for _, f := range []string{"Title", "Position"} {
				if err := m.DropColumn(&CannedAnswer{}, f); err != nil {
					return err
				}
			}
			return m.DropTable(&Migration{})
		},
	},
	{
		// What the webhook last saw of each account (last verified
		// callback, last signature failure), for the account diagnostics.
		ID: "2026120201_account_webhook_health",
		Migrate: func(tx *gorm.DB) error {
			return tx.AutoMigrate(&WebhookHealth{})
		},
		Rollback: func(tx *gorm.DB) error {
			return tx.Migrator().DropTable(&WebhookHealth{})
		},
	},
	{
		// Postgres wakes the agents' SSE streams with LISTEN/NOTIFY: every
		// insert into agent_events, by any process, notifies channel
		// agent_events with the agent id once its transaction commits. No-op
		// on SQLite, whose streams poll.
		ID: "2026120202_agent_events_notify",
		Migrate: func(tx *gorm.DB) error {
			if tx.Dialector.Name() != "postgres" {
				return nil
			}
			for _, stmt := range []string{
				`CREATE OR REPLACE FUNCTION agent_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('` + AgentEventsChannel + `', NEW.agent_id::text);
  RETURN NULL;
END $$`,
				`DROP TRIGGER IF EXISTS agent_events_notify ON agent_events`,
				`CREATE TRIGGER agent_events_notify AFTER INSERT ON agent_events FOR EACH ROW EXECUTE FUNCTION agent_events_notify()`,
			} {
				if err := tx.Exec(stmt).Error; err != nil {
					return fmt.Errorf("agent_events notify trigger: %w", err)
				}
			}
			return nil
		},
		Rollback: func(tx *gorm.DB) error {
			if tx.Dialector.Name() != "postgres" {
				return nil
			}
			if err := tx.Exec(`DROP TRIGGER IF EXISTS agent_events_notify ON agent_events`).Error; err != nil {
				return err
			}
			return tx.Exec(`DROP FUNCTION IF EXISTS agent_events_notify()`).Error
		},
	},
	{
		// Retention keeps the newest account event of each kind and type
		// per account: this index answers "is there a newer one" with one
		// range read instead of a scan of the account's events.
		ID: "2026120203_account_events_kind_index",
		Migrate: func(tx *gorm.DB) error {
			return tx.Exec(`CREATE INDEX IF NOT EXISTS ix_account_events_kind ON account_events (account_id, kind, id)`).Error
		},
		Rollback: func(tx *gorm.DB) error {
			return tx.Exec(`DROP INDEX IF EXISTS ix_account_events_kind`).Error
		},
	},
	{
		// Tenancy: an agent_accounts row becomes the admin's permission and
		// its enabled column the agent's choice. Every link that exists is
		// an account an agent enabled, so it becomes permitted and enabled:
		// nothing that works today stops working. Accounts without a
		// webhook secret keep taking unsigned callbacks, now as an explicit
		// allowUnsignedWebhooks (with a warning), while new accounts must
		// be signed.
		ID: "2026120301_tenancy",
		Migrate: func(tx *gorm.DB) error {
			for _, f := range []string{"Enabled", "EnabledAt"} {
				if err := addColumn(tx, &AgentAccount{}, f); err != nil {
					return err
				}
			}
			if err := tx.Exec(`UPDATE agent_accounts SET enabled = ?, enabled_at = created_at`, true).Error; err != nil {
				return fmt.Errorf("enable existing agent accounts: %w", err)
			}
			if err := addColumn(tx, &Account{}, "AllowUnsignedWebhooks"); err != nil {
				return err
			}
			err := tx.Exec(`UPDATE accounts SET allow_unsigned_webhooks = ? WHERE webhook_secret_enc IS NULL OR length(webhook_secret_enc) = 0`, true).Error
			if err != nil {
				return fmt.Errorf("mark unsigned accounts: %w", err)
			}
			return nil
		},
		Rollback: func(tx *gorm.DB) error {
			m := tx.Migrator()
			for _, f := range []string{"EnabledAt", "Enabled"} {
				if err := m.DropColumn(&AgentAccount{}, f); err != nil {
					return err
				}
			}
			return m.DropColumn(&Account{}, "AllowUnsignedWebhooks")
		},
	},
	{
		// Media retention: an expired attachment keeps its row (status
		// expired, DeletedAt) and records when it let go of its bytes
		// (ReleasedAt). The indexes keep the hourly run off a table scan:
		// stored files by age, and gone rows whose bytes are still to
		// release (a partial index: its predicate is the run's query, word
		// for word, so Postgres can use it).
		ID: "2026120302_media_retention",
		Migrate: func(tx *gorm.DB) error {
			if err := addColumn(tx, &Attachment{}, "ReleasedAt"); err != nil {
				return err
			}
			for _, stmt := range []string{
				`CREATE INDEX IF NOT EXISTS ix_attachments_stored_age ON attachments (status, fetched_at)`,
				`CREATE INDEX IF NOT EXISTS ix_attachments_unreleased ON attachments (id) WHERE released_at IS NULL AND status IN ('deleted', 'expired')`,
			} {
				if err := tx.Exec(stmt).Error; err != nil {
					return fmt.Errorf("media retention index: %w", err)
				}
			}
			return nil
		},
		Rollback: func(tx *gorm.DB) error {
			for _, ix := range []string{"ix_attachments_unreleased", "ix_attachments_stored_age"} {
				if err := tx.Exec(`DROP INDEX IF EXISTS ` + ix).Error; err != nil {
					return err
				}
			}
			return tx.Migrator().DropColumn(&Attachment{}, "ReleasedAt")
		},
	},
	{
		// Reports: the figures of an interaction and of an agent's reply
		// are written when they happen (first assignment, first response,
		// handle time, transfers, overflows, message counts, reply time),
		// and indexes by opening and creation time keep every report an
		// indexed range read. Existing rows are backfilled from what they
		// hold: their current assignment stands for the first one, and
		// replies sent before the upgrade have no reply time.
		ID: "2026120303_report_figures",
		Migrate: func(tx *gorm.DB) error {
			for _, f := range []string{"FirstAssignedAt", "TimeToAssignMs", "FirstResponseAt", "FirstResponseMs", "HandleMs",
				"Transfers", "Overflows", "MessagesIn", "MessagesOut"} {
				if err := addColumn(tx, &Interaction{}, f); err != nil {
					return err
				}
			}
			if err := addColumn(tx, &Message{}, "ReplyMs"); err != nil {
				return err
			}
			ms := func(later, earlier string) string {
				if tx.Dialector.Name() == "postgres" {
					return "CAST(EXTRACT(EPOCH FROM (" + later + " - " + earlier + ")) * 1000 AS BIGINT)"
				}
				return "CAST((julianday(" + later + ") - julianday(" + earlier + ")) * 86400000 AS INTEGER)"
			}
			const replies = "m.direction = 'outbound' AND m.agent_id IS NOT NULL AND m.parent_id IS NULL"
			for _, stmt := range []string{
				`UPDATE interactions SET
  messages_in = (SELECT count(*) FROM messages m WHERE m.interaction_id = interactions.id AND m.direction = 'inbound'),
  messages_out = (SELECT count(*) FROM messages m WHERE m.interaction_id = interactions.id AND ` + replies + `)`,
				`UPDATE interactions SET first_assigned_at = assigned_at, time_to_assign_ms = ` + ms("assigned_at", "opened_at") + `
  WHERE assigned_at IS NOT NULL`,
				`UPDATE interactions SET handle_ms = ` + ms("closed_at", "assigned_at") + ` WHERE closed_at IS NOT NULL AND assigned_at IS NOT NULL`,
				`UPDATE interactions SET first_response_at = (SELECT min(m.created_at) FROM messages m WHERE m.interaction_id = interactions.id AND ` + replies + `)`,
				`UPDATE interactions SET first_response_ms = ` + ms("first_response_at",
					"COALESCE((SELECT min(COALESCE(m.provider_time, m.created_at)) FROM messages m WHERE m.interaction_id = interactions.id AND m.direction = 'inbound'), opened_at)") + `
  WHERE first_response_at IS NOT NULL`,
				`CREATE INDEX IF NOT EXISTS ix_interactions_opened ON interactions (opened_at)`,
				`CREATE INDEX IF NOT EXISTS ix_interactions_account_opened ON interactions (account_id, opened_at)`,
				`CREATE INDEX IF NOT EXISTS ix_interactions_queue_opened ON interactions (queue_id, opened_at)`,
				`CREATE INDEX IF NOT EXISTS ix_interactions_agent_opened ON interactions (agent_id, opened_at)`,
				`CREATE INDEX IF NOT EXISTS ix_interactions_status_opened ON interactions (status, opened_at)`,
				`CREATE INDEX IF NOT EXISTS ix_messages_created ON messages (created_at)`,
				`CREATE INDEX IF NOT EXISTS ix_messages_account_created ON messages (account_id, created_at)`,
			} {
				if err := tx.Exec(stmt).Error; err != nil {
					return fmt.Errorf("report figures: %w", err)
				}
			}
			return nil
		},
		Rollback: func(tx *gorm.DB) error {
			for _, ix := range []string{"ix_messages_account_created", "ix_messages_created", "ix_interactions_status_opened",
				"ix_interactions_agent_opened", "ix_interactions_queue_opened", "ix_interactions_account_opened", "ix_interactions_opened"} {
				if err := tx.Exec(`DROP INDEX IF EXISTS ` + ix).Error; err != nil {
					return err
				}
			}
			m := tx.Migrator()
			if err := m.DropColumn(&Message{}, "ReplyMs"); err != nil {
				return err
			}
			for _, f := range []string{"MessagesOut", "MessagesIn", "Overflows", "Transfers", "HandleMs", "FirstResponseMs",
				"FirstResponseAt", "TimeToAssignMs", "FirstAssignedAt"} {
				if err := m.DropColumn(&Interaction{}, f); err != nil {
					return err
				}
			}
			return nil
		},
	},
	{
		// The reports' reply times: a partial index of the agent replies
		// that have one, holding the interaction and the time, so the
		// report joins interactions to it without reading the messages
		// table (its predicate is the report's, word for word).
		ID: "2026120304_reply_times_index",
		Migrate: func(tx *gorm.DB) error {
			return tx.Exec(`CREATE INDEX IF NOT EXISTS ix_messages_reply_times ON messages (interaction_id, reply_ms)
  WHERE direction = 'outbound' AND agent_id IS NOT NULL AND parent_id IS NULL AND reply_ms IS NOT NULL`).Error
		},
		Rollback: func(tx *gorm.DB) error {
			return tx.Exec(`DROP INDEX IF EXISTS ix_messages_reply_times`).Error
		},
	},
	{
		// The deliveries report's covering index: the columns it counts of
		// the outbound messages that are not split parts, by creation
		// time, so the report scans this index alone instead of the
		// messages table with their bodies (a third of the rows, about a
		// sixth of the size). Postgres only: SQLite has no INCLUDE, and
		// development data is small.
		ID: "2026120305_deliveries_index",
		Migrate: func(tx *gorm.DB) error {
			if tx.Dialector.Name() != "postgres" {
				return nil
			}
			return tx.Exec(`CREATE INDEX IF NOT EXISTS ix_messages_deliveries ON messages (created_at)
  INCLUDE (id, account_id, agent_id, interaction_id, status, sent_at, send_attempt, reason_code, error_class)
  WHERE direction = 'outbound' AND parent_id IS NULL`).Error
		},
		Rollback: func(tx *gorm.DB) error {
			return tx.Exec(`DROP INDEX IF EXISTS ix_messages_deliveries`).Error
		},
	},
	{
		// The web console's server-side sessions.
		ID: "2026120306_console_sessions",
		Migrate: func(tx *gorm.DB) error {
			return tx.AutoMigrate(&ConsoleSession{})
		},
		Rollback: func(tx *gorm.DB) error {
			return tx.Migrator().DropTable(&ConsoleSession{})
		},
	},
	{
		// Each agent's read mark of an interaction (its unread count).
		ID: "2026120307_interaction_reads",
		Migrate: func(tx *gorm.DB) error {
			return tx.AutoMigrate(&InteractionRead{})
		},
		Rollback: func(tx *gorm.DB) error {
			return tx.Migrator().DropTable(&InteractionRead{})
		},
	},
	{
		// A transfer waiting for its target agent to accept it.
		ID: "2026120308_interaction_accept_by",
		Migrate: func(tx *gorm.DB) error {
			return addColumn(tx, &Interaction{}, "AcceptBy")
		},
		Rollback: func(tx *gorm.DB) error {
			return tx.Migrator().DropColumn(&Interaction{}, "AcceptBy")
		},
	},
}

// AgentEventsChannel is the Postgres NOTIFY channel that the trigger of
// 2026120202_agent_events_notify notifies after every insert into
// agent_events, with the agent id as payload.
const AgentEventsChannel = "agent_events"

// accountSettingsColumns are the Account fields added by
// 2026120104_settings_migrations.
var accountSettingsColumns = []string{
	"RoutingStrategy", "AgentNotifyTimeoutSeconds", "InactivityTimeoutSeconds",
	"Status", "StatusReason", "MigratedToAccountID", "MigratedAt",
}

// attachmentMediaColumns are the Attachment fields added by 2026120103_media.
var attachmentMediaColumns = []string{"AccountID", "Direction", "Format", "Attempts", "FetchedAt", "DeletedAt"}

// addColumn adds a model field's column unless the table already has it.
func addColumn(tx *gorm.DB, model any, field string) error {
	if tx.Migrator().HasColumn(model, field) {
		return nil
	}
	if err := tx.Migrator().AddColumn(model, field); err != nil {
		return fmt.Errorf("add column %s: %w", field, err)
	}
	return nil
}

// migrationLockID is the Postgres advisory lock key that serialises schema
// migrations across processes (api and worker both migrate at start).
const migrationLockID = 7_470_221_101

// Migrate applies every pending migration in one transaction. On Postgres the
// transaction first takes an advisory lock, so an api and a worker starting
// together migrate one after the other instead of racing; on SQLite the
// immediate transaction lock does the same.
func Migrate(db *gorm.DB) error {
	err := db.Transaction(func(tx *gorm.DB) error {
		if tx.Dialector.Name() == "postgres" {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", migrationLockID).Error; err != nil {
				return fmt.Errorf("take migration lock: %w", err)
			}
		}
		return gormigrate.New(tx, &gormigrate.Options{
			TableName:                 "schema_migrations",
			IDColumnName:              "id",
			IDColumnSize:              255,
			ValidateUnknownMigrations: true,
		}, migrations).Migrate()
	})
	if err != nil {
		return fmt.Errorf("migrate schema: %w", err)
	}
	return nil
}

// SchemaVersion returns the id of the latest applied migration.
func SchemaVersion(db *gorm.DB) (string, error) {
	var id string
	err := db.Table("schema_migrations").Select("id").Order("id DESC").Limit(1).Scan(&id).Error
	return id, err
}

// LatestMigration is the id of the newest migration this binary knows.
func LatestMigration() string { return migrations[len(migrations)-1].ID }
