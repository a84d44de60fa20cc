package diagnostics

import (
	"context"
	"fmt"
	"time"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/internal/media"
	"github.com/xcally-connector/connector/models"
)

// checkProcessingMode reports the account's processing-mode warning.
func checkProcessingMode(_ context.Context, d *run) checkResult {
	if w := d.warnings.DispatchMode; w != "" {
		return warn(fmt.Sprintf("in the Sinch dashboard (Conversation API → Apps → %s → Settings) set the processing mode to CONVERSATION; apps created since 16 April 2025 default to DISPATCH", d.acc.AppID),
			"%s", w)
	}
	if d.acc.LastProcessingMode == "" {
		return skip("send a WhatsApp message to "+d.acc.Phone+": the mode is read from each message and delivery callback", "no message or delivery callback seen yet")
	}
	return pass("the latest callback came in %s mode", d.acc.LastProcessingMode)
}

// checkDiskSpace compares the free space of MEDIA_DIR with the guard.
func checkDiskSpace(_ context.Context, d *run) checkResult {
	store := d.deps.Media
	if store == nil {
		return skip("configure MEDIA_DIR on the api process", "this API has no media store")
	}
	free, minFree, err := store.Free()
	if err != nil {
		return warn("check that MEDIA_DIR exists and is readable by the connector", "cannot read the free space of MEDIA_DIR: %v", err)
	}
	freeS, minS := formatBytes(free), formatBytes(minFree)
	fix := fmt.Sprintf("free disk space on the file system of MEDIA_DIR (delete old attachments with DELETE /api/attachments/{id}, grow the volume) to well above MEDIA_MIN_FREE_BYTES (%s)", minS)
	switch {
	case minFree == 0:
		return pass("%s free in MEDIA_DIR; the guard is off (MEDIA_MIN_FREE_BYTES=0)", freeS)
	case free < minFree:
		return fail(fix, "%s free in MEDIA_DIR, below MEDIA_MIN_FREE_BYTES (%s): no attachment is saved", freeS, minS)
	case free < 2*minFree:
		return warn(fix, "%s free in MEDIA_DIR, less than twice MEDIA_MIN_FREE_BYTES (%s)", freeS, minS)
	}
	return pass("%s free in MEDIA_DIR (MEDIA_MIN_FREE_BYTES is %s)", freeS, minS)
}

// formatBytes is media.FormatSize of an unsigned count.
func formatBytes(n uint64) string {
	return media.FormatSize(int64(min(n, 1<<62))) //nolint:gosec // bounded above
}

// checkAccountStatus reports a migrated or disabled account and the
// contact messages held because the account opened no interaction.
func checkAccountStatus(ctx context.Context, d *run) checkResult {
	db := d.deps.DB.WithContext(ctx)
	held := db.Model(&models.AccountEvent{}).Where("account_id = ? AND kind = ?", d.acc.ID, activities.HeldMessageKind)
	var n int64
	if err := held.Count(&n).Error; err != nil {
		return fail("check the database (DATABASE_URL) and retry", "cannot count the held messages: %v", err)
	}
	heldMsg := ""
	if n > 0 {
		var latest models.AccountEvent
		if err := db.Where("account_id = ? AND kind = ?", d.acc.ID, activities.HeldMessageKind).Order("occurred_at DESC, id DESC").Take(&latest).Error; err != nil {
			return fail("check the database (DATABASE_URL) and retry", "cannot read the held messages: %v", err)
		}
		heldMsg = fmt.Sprintf("%d contact messages were held as %s account events (latest at %s): they opened no interaction",
			n, activities.HeldMessageKind, latest.OccurredAt.UTC().Format(time.RFC3339))
	}
	if w := d.warnings.Status; w != "" {
		fix := "expected after a migration: point the Sinch app's webhook at the new account's receive URL, and tell customers the number changed"
		if d.acc.Status == models.AccountDisabled {
			fix = "the account is the target of a cancelled migration: start the migration again (POST /api/migrations) or delete the account (DELETE /api/whatsapp/accounts/{id})"
		}
		if heldMsg != "" {
			return warn(fix, "%s; %s", w, heldMsg)
		}
		return warn(fix, "%s", w)
	}
	if heldMsg != "" {
		return warn("the messages arrived while the account opened no interaction (migrated or disabled); contact those customers from the active account", "%s", heldMsg)
	}
	return pass("active; no contact message was held")
}
