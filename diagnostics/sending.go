package diagnostics

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/xcally-connector/connector/models"
)

// Thresholds of the send failures check.
const (
	// sendFailureWindow is how far back send failures are grouped (Motion's
	// Sinch V2 guide: "check Sinch analytics failed messages").
	sendFailureWindow = 24 * time.Hour
	// maxFailureGroups bounds the (class, code) groups reported.
	maxFailureGroups = 20
)

// failureGroup is the failed outbound messages of one class and code.
type failureGroup struct {
	ErrorClass models.ErrorClass
	ReasonCode string
	N          int64
}

// checkSendFailures groups the account's failed outbound messages of the
// last sendFailureWindow by class and code, with the latest example of
// each (Motion's Sinch V2 guide: "check Sinch analytics failed messages").
func checkSendFailures(ctx context.Context, d *run) checkResult {
	db := d.deps.DB.WithContext(ctx)
	since := d.now.Add(-sendFailureWindow)
	failed := func() *gorm.DB {
		return db.Model(&models.Message{}).Where("account_id = ? AND direction = ? AND status = ? AND failed_at >= ?",
			d.acc.ID, models.DirectionOutbound, models.StatusFailed, since)
	}
	var groups []failureGroup
	if err := failed().Select("error_class, reason_code, COUNT(*) AS n").Group("error_class, reason_code").
		Order("n DESC, error_class, reason_code").Limit(maxFailureGroups).Scan(&groups).Error; err != nil {
		return fail("check the database (DATABASE_URL) and retry", "cannot read the failed messages: %v", err)
	}
	if len(groups) == 0 {
		return pass("no outbound message failed in the last %.0f h", sendFailureWindow.Hours())
	}
	var total int64
	parts := make([]string, 0, len(groups))
	classes := map[models.ErrorClass]bool{}
	var fixes []string
	for _, g := range groups {
		total += g.N
		var latest models.Message
		if err := failed().Where("error_class = ? AND reason_code = ?", g.ErrorClass, g.ReasonCode).
			Order("failed_at DESC, id DESC").Take(&latest).Error; err != nil {
			return fail("check the database (DATABASE_URL) and retry", "cannot read the failed messages: %v", err)
		}
		class, code := string(g.ErrorClass), g.ReasonCode
		if class == "" {
			class = "unclassified"
		}
		if code == "" {
			code = "no code"
		}
		at := ""
		if latest.FailedAt != nil {
			at = latest.FailedAt.UTC().Format(time.RFC3339)
		}
		parts = append(parts, fmt.Sprintf("%s/%s ×%d (latest %s, message %d: %s)", class, code, g.N, at, latest.ID, truncate(latest.ErrorMessage, 200)))
		if !classes[g.ErrorClass] {
			classes[g.ErrorClass] = true
			fixes = append(fixes, class+": "+failureClassFix(g.ErrorClass))
		}
	}
	msg := fmt.Sprintf("%d outbound messages failed in the last %.0f h: %s", total, sendFailureWindow.Hours(), strings.Join(parts, "; "))
	fix := strings.Join(fixes, " | ") + " | compare with Sinch Analytics → Conversation API → failed messages"
	if classes[models.ErrorClassConfig] {
		return fail(fix, "%s", msg)
	}
	return warn(fix, "%s", msg)
}

// failureClassFix is the admin's action for a failure class.
func failureClassFix(c models.ErrorClass) string {
	switch c {
	case models.ErrorClassNetwork:
		return "transient (RATE_LIMITED, DELIVERY_TIMED_OUT, …), resent automatically up to REPLY_MAX_RESENDS; if it persists check Sinch's status page and the app's rate limits"
	case models.ErrorClassPolicy:
		return "Meta refused the messages: reply within 24 h of the customer's last message or use an approved template; see " + CheckPolicyStreak
	case models.ErrorClassConfig:
		return "the Sinch app or the account is misconfigured (RECIPIENT_NOT_REACHABLE, CHANNEL_BAD_CONFIGURATION, …): check in the Sinch dashboard that the app has the WhatsApp channel with this sender number, and the account's appId, projectId and region (PATCH /api/whatsapp/accounts/{id})"
	case models.ErrorClassMedia:
		return "WhatsApp refused the attachments (type or size): send supported types (JPG, PNG, MP3, MP4, PDF as a link) within the limits, or another channel"
	}
	return "contact XCALLY support with the message ids above (CHANNEL_FAILURE, BAD_REQUEST, unknown codes)"
}

// Quality ratings Meta reports through CHANNEL_EVENT.
var (
	ratingWarn = map[string]bool{"YELLOW": true, "MEDIUM": true}
	ratingFail = map[string]bool{"RED": true, "LOW": true, "FLAGGED": true}
	ratingOK   = map[string]bool{"GREEN": true, "HIGH": true}
)

// checkQualityRating reports the latest WhatsApp quality rating stored
// from CHANNEL_EVENT WHATS_APP_QUALITY_RATING_CHANGED.
func checkQualityRating(_ context.Context, d *run) checkResult {
	rating := strings.ToUpper(strings.TrimSpace(d.acc.QualityRating))
	if rating == "" {
		return skip(fmt.Sprintf("include the CHANNEL_EVENT trigger in the webhook of the Sinch app %s so rating changes reach the connector", d.acc.AppID),
			"Sinch has reported no quality rating yet (CHANNEL_EVENT WHATS_APP_QUALITY_RATING_CHANGED)")
	}
	at := ""
	if d.acc.QualityRatingAt != nil {
		at = " since " + d.acc.QualityRatingAt.UTC().Format(time.RFC3339)
	}
	const fix = "open WhatsApp Manager → Phone numbers → Quality rating for the reasons (blocks, reports); send fewer unsolicited messages, review the templates against Meta's Business Policy and contact your Meta account manager"
	switch {
	case ratingFail[rating]:
		return fail(fix, "the WhatsApp quality rating is %s%s: Meta may limit or block the number", rating, at)
	case ratingWarn[rating]:
		return warn(fix, "the WhatsApp quality rating is %s%s: customers block or report the number", rating, at)
	case ratingOK[rating]:
		return pass("the WhatsApp quality rating is %s%s", rating, at)
	}
	return warn(fix, "the WhatsApp quality rating is %q%s, a value the connector does not know", rating, at)
}

// checkPolicyStreak reports the account warning "account may be blocked
// by Meta" (POLICY_WARNING_STREAK policy failures in a row).
func checkPolicyStreak(_ context.Context, d *run) checkResult {
	if w := d.warnings.MetaBlocked; w != "" {
		return fail("review Meta's Business Policy (unauthorised templates, many users blocking the number), check the recent failures in "+CheckSendFailures+", then contact your Meta account manager; the streak resets when a reply is delivered", "%s", w)
	}
	return pass("%d consecutive Meta policy failures (the warning starts at POLICY_WARNING_STREAK, %d)", d.acc.PolicyFailureStreak, d.deps.PolicyWarningStreak)
}
