package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"gorm.io/gorm"
)

// DefaultPruneBatch is how many rows one DELETE statement of Prune removes
// at most: short statements keep the table's writers (the webhook, the
// conversation activities) waiting milliseconds, not minutes, on both
// engines.
const DefaultPruneBatch = 1000

// PruneInput names the cutoffs of one retention run, computed by the
// workflow (so a retried attempt deletes against the same instants). A zero
// cutoff keeps that table whole.
type PruneInput struct {
	AgentEventsBefore   time.Time
	AccountEventsBefore time.Time
	NoncesBefore        time.Time
	// BatchSize bounds each DELETE (DefaultPruneBatch when 0).
	BatchSize int
}

// PruneResult counts the rows deleted per table.
type PruneResult struct {
	AgentEvents   int64
	AccountEvents int64
	Nonces        int64
}

// The batched deletes. Each removes at most ? rows older than the cutoff
// through a subquery with LIMIT, which Postgres and SQLite both accept.
//
// account_events keeps what the product still reads: held customer
// messages (MESSAGE_NOT_OPENED, the only copy of a message sent to a
// migrated or disabled account) are never pruned, and the newest event of
// each kind and type of an account stays whatever its age (the last
// quality-rating change, the last migration reminder, the last opt-out),
// so a check that asks "what was the last one" still has an answer.
const (
	pruneAgentEventsSQL = `DELETE FROM agent_events WHERE id IN (
  SELECT id FROM agent_events WHERE created_at < ? ORDER BY id LIMIT ?)`
	pruneAccountEventsSQL = `DELETE FROM account_events WHERE id IN (
  SELECT e.id FROM account_events e
  WHERE e.created_at < ? AND e.kind <> ?
    AND EXISTS (SELECT 1 FROM account_events n
      WHERE n.account_id = e.account_id AND n.kind = e.kind
        AND COALESCE(n.type, '') = COALESCE(e.type, '') AND n.id > e.id)
  ORDER BY e.id LIMIT ?)`
	pruneNoncesSQL = `DELETE FROM webhook_nonces WHERE (account_id, nonce) IN (
  SELECT account_id, nonce FROM webhook_nonces WHERE seen_at < ? ORDER BY seen_at LIMIT ?)`
)

// Prune deletes agent events, account events and webhook nonces older than
// their cutoffs, in batches of BatchSize rows, until none is left, and
// heartbeats the counts after every batch. It is idempotent: a retried
// attempt resumes from its last heartbeat's counts and deletes only what
// is still there, and a second run finds nothing.
func (a *Activities) Prune(ctx context.Context, in PruneInput) (PruneResult, error) {
	batch := in.BatchSize
	if batch <= 0 {
		batch = DefaultPruneBatch
	}
	var res PruneResult
	if activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &res)
	}
	db := a.DB.WithContext(ctx)
	steps := []struct {
		table  string
		before time.Time
		count  *int64
		delete func(n int) *gorm.DB
	}{
		{"agent_events", in.AgentEventsBefore, &res.AgentEvents, func(n int) *gorm.DB {
			return db.Exec(pruneAgentEventsSQL, in.AgentEventsBefore.UTC(), n)
		}},
		{"account_events", in.AccountEventsBefore, &res.AccountEvents, func(n int) *gorm.DB {
			return db.Exec(pruneAccountEventsSQL, in.AccountEventsBefore.UTC(), HeldMessageKind, n)
		}},
		{"webhook_nonces", in.NoncesBefore, &res.Nonces, func(n int) *gorm.DB {
			return db.Exec(pruneNoncesSQL, in.NoncesBefore.UTC(), n)
		}},
	}
	for _, s := range steps {
		if s.before.IsZero() {
			continue
		}
		for {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			r := s.delete(batch)
			if r.Error != nil {
				return res, fmt.Errorf("prune %s older than %s: %w", s.table, s.before.UTC().Format(time.RFC3339), r.Error)
			}
			*s.count += r.RowsAffected
			activity.RecordHeartbeat(ctx, res)
			if r.RowsAffected < int64(batch) {
				break
			}
		}
	}
	return res, nil
}
