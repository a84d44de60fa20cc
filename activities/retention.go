package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/internal/media"
	"github.com/xcally-connector/connector/models"
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
	// MediaBefore expires the stored files of attachments stored before it
	// (RETENTION_MEDIA); the rows stay, their bytes go.
	MediaBefore time.Time
	// BatchSize bounds each DELETE (DefaultPruneBatch when 0).
	BatchSize int
}

// PruneResult counts the rows deleted per table, and the media expired.
type PruneResult struct {
	AgentEvents   int64
	AccountEvents int64
	Nonces        int64
	// MediaExpired counts the attachments whose file passed its retention
	// and that now say expired; MediaFiles the files deleted from the media
	// store (fewer when attachments share content, as a file another
	// attachment still holds is kept).
	MediaExpired int64
	MediaFiles   int64
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

// The media retention statements. A file's age is measured from when it
// was stored: fetched_at, set when a customer's file was fetched from
// Sinch or an agent's upload was recorded (created_at for rows stored
// before that column existed, a statement of their own so that each reads
// the index ix_attachments_stored_age instead of the whole table). The
// expire statements change rows only; the bytes go afterwards, in the
// release step, so a crash in between leaves an expired row whose bytes
// are still to release (unreleasedMediaSQL finds it again), never a stored
// row without its file. The outer status check keeps a row an admin
// deleted meanwhile as deleted. The literal states match the partial index
// ix_attachments_unreleased of migration 2026120302_media_retention.
const (
	expireMediaSQL = `UPDATE attachments SET status = 'expired', deleted_at = ?, updated_at = ?
WHERE status = 'stored' AND id IN (
  SELECT id FROM attachments WHERE status = 'stored' AND fetched_at < ?
  ORDER BY fetched_at LIMIT ?)`
	expireLegacyMediaSQL = `UPDATE attachments SET status = 'expired', deleted_at = ?, updated_at = ?
WHERE status = 'stored' AND id IN (
  SELECT id FROM attachments WHERE status = 'stored' AND fetched_at IS NULL AND created_at < ?
  ORDER BY id LIMIT ?)`
	unreleasedMediaSQL = `SELECT id, storage_path FROM attachments
WHERE released_at IS NULL AND status IN ('deleted', 'expired') AND id > ? ORDER BY id LIMIT ?`
)

// MediaPutGrace is how long after its content was last stored a file is
// never released by retention: an agent's upload of the same content
// (same key) may be on its way to its attachment row, which the API
// records through the conversation workflow after the file is stored. Its
// rows stay unreleased, for a later run.
const MediaPutGrace = time.Hour

// Prune deletes agent events, account events and webhook nonces older than
// their cutoffs, then expires media files stored before MediaBefore (see
// pruneMedia), in batches of BatchSize rows, until none is left, and
// heartbeats the counts after every batch. It is idempotent: a retried
// attempt resumes from its last heartbeat's counts and deletes only what
// is still there, and a second run finds nothing. A run that completes sets
// connector_retention_last_success_timestamp_seconds.
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
	if !in.MediaBefore.IsZero() {
		if err := a.pruneMedia(ctx, in.MediaBefore.UTC(), batch, &res); err != nil {
			return res, err
		}
	}
	a.Metrics.RetentionRun(time.Now())
	return res, nil
}

// pruneMedia marks stored attachments older than before expired, a batch
// at a time, then releases the bytes of every deleted or expired
// attachment that has not let go of them yet: a file goes only when no
// attachment still holding its file uses the same content (content-
// addressed storage keeps one copy of identical files), so a file that a
// younger attachment also uses stays until that one expires too, and a
// file stored again within MediaPutGrace waits for a later run. The rows
// and their messages stay: the conversation keeps "a file was here".
func (a *Activities) pruneMedia(ctx context.Context, before time.Time, batch int, res *PruneResult) error {
	if a.Media == nil {
		return temporal.NewNonRetryableApplicationError("this worker has no media store (MEDIA_DIR): media retention cannot delete files", ErrTypeBadInput, nil)
	}
	db := a.DB.WithContext(ctx)
	now := time.Now().UTC()
	for _, stmt := range []string{expireMediaSQL, expireLegacyMediaSQL} {
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			r := db.Exec(stmt, now, now, before, batch)
			if r.Error != nil {
				return fmt.Errorf("expire media stored before %s: %w", before.Format(time.RFC3339), r.Error)
			}
			res.MediaExpired += r.RowsAffected
			activity.RecordHeartbeat(ctx, *res)
			if r.RowsAffected < int64(batch) {
				break
			}
		}
	}
	busyAfter := now.Add(-MediaPutGrace)
	// after is the last id seen: rows left unreleased (busy) are not read
	// again by this run.
	var after uint64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var rows []struct {
			ID          uint64
			StoragePath string
		}
		if err := db.Raw(unreleasedMediaSQL, after, batch).Scan(&rows).Error; err != nil {
			return fmt.Errorf("list media to release: %w", err)
		}
		if len(rows) == 0 {
			return nil
		}
		after = rows[len(rows)-1].ID
		released := make([]uint64, 0, len(rows))
		// A key's verdict, once per batch: released (true) or busy.
		verdict := make(map[string]bool, len(rows))
		for _, row := range rows {
			ok, seen := verdict[row.StoragePath]
			if !seen {
				var err error
				if ok, err = a.releaseMedia(ctx, row.StoragePath, busyAfter, res); err != nil {
					return err
				}
				verdict[row.StoragePath] = ok
			}
			if ok {
				released = append(released, row.ID)
			}
		}
		if len(released) > 0 {
			if err := db.Model(&models.Attachment{}).Where("id IN ? AND released_at IS NULL", released).
				Update("released_at", now).Error; err != nil {
				return fmt.Errorf("record released media: %w", err)
			}
		}
		activity.RecordHeartbeat(ctx, *res)
		if len(rows) < batch {
			return nil
		}
	}
}

// releaseMedia releases key for retention and counts a removed file; it
// reports false, leaving the rows for a later run, while the file was
// stored again after busyAfter.
func (a *Activities) releaseMedia(ctx context.Context, key string, busyAfter time.Time, res *PruneResult) (bool, error) {
	if key != "" {
		at, err := a.Media.StoredAt(key)
		switch {
		case err == nil && at.After(busyAfter):
			return false, nil
		case err != nil && !errors.Is(err, media.ErrNotFound):
			return false, fmt.Errorf("media %s: %w", key, err)
		}
	}
	removed, err := ReleaseMedia(ctx, a.DB, a.Media, key)
	if err != nil {
		return false, err
	}
	if removed {
		res.MediaFiles++
	}
	return true, nil
}

// ReleaseMedia deletes the file stored under key unless an attachment that
// may still hold its file (any state but deleted or expired) uses the same
// content, and reports whether it removed one. It is the one place stored
// bytes are dropped: by retention, by DELETE /api/attachments/{id}, and
// for an upload that was refused. Repeating it is harmless; an empty key or
// a nil store does nothing.
func ReleaseMedia(ctx context.Context, db *gorm.DB, store media.Store, key string) (bool, error) {
	if key == "" || store == nil {
		return false, nil
	}
	var n int64
	if err := db.WithContext(ctx).Model(&models.Attachment{}).
		Where("storage_path = ? AND status NOT IN ?", key, models.GoneAttachmentStatuses()).Count(&n).Error; err != nil {
		return false, fmt.Errorf("attachments using media %s: %w", key, err)
	}
	if n > 0 {
		return false, nil
	}
	// Looked up first only to count files really removed: a repeated
	// release finds none.
	_, err := store.StoredAt(key)
	if errors.Is(err, media.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("media %s: %w", key, err)
	}
	if err := store.Delete(key); err != nil {
		return false, fmt.Errorf("delete media %s: %w", key, err)
	}
	return true, nil
}
