package activities

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/xcally-connector/connector/internal/media"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinch"
)

// Application error types of media fetches.
const (
	// ErrTypeMediaFetch: the customer's file can never be fetched (refused
	// address, gone, too large): the attachment fails visibly at once.
	ErrTypeMediaFetch = "MediaFetchFailed"
	// ErrTypeMediaDiskLow: the connector's disk is below its free-space
	// threshold; retried, and the account shows a warning meanwhile.
	ErrTypeMediaDiskLow = "MediaDiskLow"
)

// DefaultMediaURLTTL is how long a signed media URL handed to Sinch stays
// valid when Activities.MediaURLTTL is 0.
const DefaultMediaURLTTL = 24 * time.Hour

// DefaultMediaMaxBytes is the connector's own file size limit when
// MEDIA_MAX_BYTES is not set: WhatsApp's largest (documents).
const DefaultMediaMaxBytes = 100 * media.MiB

// UploadSourcePrefix starts the SourceURL of a file an agent uploaded.
const UploadSourcePrefix = "upload:"

// MediaPath is the route under the account's public URL that serves a
// stored file to Sinch by signed token (no other auth).
const MediaPath = "/api/media/"

// isMediaKind reports whether a contact message kind carries a file.
func isMediaKind(kind string) bool { return kind == "media" || kind == "media_card" }

// addInboundAttachment records the file of a stored media message, to be
// fetched by MediaFetchWorkflow. Repeating it is a no-op.
func addInboundAttachment(tx *gorm.DB, row models.Message, m InboundMessage) error {
	if !isMediaKind(m.Kind) || m.MediaURL == "" {
		return nil
	}
	name := m.Filename
	if name == "" {
		name = sinch.FileName(m.MediaURL)
	}
	// The customer's name as given (bounded to the column); FetchMedia
	// replaces it with the sanitised one once it knows the real type.
	att := models.Attachment{
		MessageID: row.ID, AccountID: row.AccountID, SourceURL: m.MediaURL, Direction: models.DirectionInbound,
		Filename: truncateUTF8(name, 255), Status: models.AttachmentPending,
	}
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&att).Error; err != nil {
		return fmt.Errorf("record attachment of message %s: %w", m.MessageID, err)
	}
	return nil
}

// FetchMediaInput names the inbound message whose files to fetch.
type FetchMediaInput struct {
	AccountID         uint64
	ProviderMessageID string
}

// FetchMediaResult lists the attachments stored.
type FetchMediaResult struct {
	Stored []StoredAttachment
}

// StoredAttachment is one fetched file.
type StoredAttachment struct {
	AttachmentID uint64
	ContentType  string
	Size         int64
}

// FetchMedia downloads the customer's files of a message into the media
// store (activity): through the SSRF-safe fetcher, typed by their bytes,
// capped per type. It is idempotent: stored attachments are skipped. A
// refused or gone file is a non-retryable ErrTypeMediaFetch; a full disk
// (ErrTypeMediaDiskLow) and network trouble are retried by the policy.
func (a *Activities) FetchMedia(ctx context.Context, in FetchMediaInput) (FetchMediaResult, error) {
	var res FetchMediaResult
	if a.Media == nil || a.Fetcher == nil {
		return res, temporal.NewNonRetryableApplicationError("this worker has no media store", ErrTypeBadInput, nil)
	}
	db := a.DB.WithContext(ctx)
	var msg models.Message
	if err := db.Where("account_id = ? AND provider_message_id = ?", in.AccountID, in.ProviderMessageID).Take(&msg).Error; err != nil {
		if isNotFound(err) {
			return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("no message %s on account %d", in.ProviderMessageID, in.AccountID), ErrTypeBadInput, err)
		}
		return res, err
	}
	var atts []models.Attachment
	if err := db.Where("message_id = ? AND direction = ?", msg.ID, models.DirectionInbound).Order("id").Find(&atts).Error; err != nil {
		return res, err
	}
	for _, att := range atts {
		if att.Status == models.AttachmentStored || att.Status.Gone() {
			continue
		}
		stored, err := a.fetchOne(ctx, msg, att)
		if err != nil {
			return res, err
		}
		res.Stored = append(res.Stored, stored)
	}
	return res, nil
}

// fetchOne fetches and records one attachment.
func (a *Activities) fetchOne(ctx context.Context, msg models.Message, att models.Attachment) (StoredAttachment, error) {
	db := a.DB.WithContext(ctx)
	if err := db.Model(&models.Attachment{}).Where("id = ?", att.ID).
		Updates(map[string]any{"attempts": gorm.Expr("attempts + 1"), "status": models.AttachmentPending}).Error; err != nil {
		return StoredAttachment{}, err
	}
	obj, typ, err := a.Fetcher.Fetch(ctx, att.SourceURL, a.Media, func(t media.Type) int64 {
		return media.InboundCap(t, a.mediaMax())
	})
	if err != nil {
		return StoredAttachment{}, a.fetchFailure(ctx, msg, att, err)
	}
	now := time.Now().UTC()
	err = db.Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&models.Attachment{}).Where("id = ?", att.ID).Updates(map[string]any{
			"status": models.AttachmentStored, "storage_path": obj.Key, "sha256": obj.SHA256, "size": obj.Size,
			"content_type": typ.ContentType, "format": typ.Format, "kind": typ.Kind,
			"filename": media.SafeFilename(att.Filename, typ), "fetched_at": now, "error": "",
		}).Error; err != nil {
			return err
		}
		if err := tx.Model(&models.Account{}).Where("id = ? AND media_warning <> ''", msg.AccountID).
			Updates(map[string]any{"media_warning": "", "media_warning_at": nil}).Error; err != nil {
			return err
		}
		return announceAttachment(tx, msg, att.ID, att.Attempts+1, models.AttachmentStored, "")
	})
	if err != nil {
		return StoredAttachment{}, fmt.Errorf("record stored attachment %d: %w", att.ID, err)
	}
	a.Metrics.MediaBytes("in", obj.Size)
	a.log(ctx, msg.AccountID).Info("attachment stored", "attachment_id", att.ID, "content_type", typ.ContentType, "size", obj.Size)
	return StoredAttachment{AttachmentID: att.ID, ContentType: typ.ContentType, Size: obj.Size}, nil
}

// fetchFailure records why a fetch failed and classifies it for the retry
// policy.
func (a *Activities) fetchFailure(ctx context.Context, msg models.Message, att models.Attachment, err error) error {
	db := a.DB.WithContext(ctx)
	reason := err.Error()
	var fe *media.FetchError
	if errors.As(err, &fe) && fe.Reason != "" {
		reason = fe.Reason
	}
	var low *media.DiskLowError
	if errors.As(err, &low) {
		reason = low.Error()
		if e := RecordDiskLow(ctx, a.DB, msg.AccountID, low); e != nil {
			return fmt.Errorf("%w (after %v)", e, err)
		}
	}
	if e := db.Model(&models.Attachment{}).Where("id = ?", att.ID).Update("error", reason).Error; e != nil {
		return fmt.Errorf("record fetch error: %w (after %v)", e, err)
	}
	a.log(ctx, msg.AccountID).Warn("attachment fetch failed", "attachment_id", att.ID, "reason", reason)
	a.Metrics.MediaFailure("in", fetchFailureReason(ctx, low, fe))
	switch {
	case low != nil:
		return temporal.NewApplicationErrorWithOptions(reason, ErrTypeMediaDiskLow, temporal.ApplicationErrorOptions{Cause: err})
	case fe != nil && fe.Permanent:
		return temporal.NewNonRetryableApplicationError(reason, ErrTypeMediaFetch, err)
	case ctx.Err() != nil:
		return err
	}
	return fmt.Errorf("fetch attachment %d: %w", att.ID, err)
}

// fetchFailureReason is the bounded metrics label of a failed fetch.
func fetchFailureReason(ctx context.Context, low *media.DiskLowError, fe *media.FetchError) string {
	switch {
	case low != nil:
		return "disk_low"
	case fe != nil && fe.Permanent:
		return "refused"
	case ctx.Err() != nil:
		return "cancelled"
	}
	return "transient"
}

// WarningDiskLow starts the account warning of a full media disk.
const WarningDiskLow = "disk space low on the connector"

// RecordDiskLow sets the account warning of a full media disk (a fetch or
// an upload hit the guard); the next stored file clears it.
func RecordDiskLow(ctx context.Context, db *gorm.DB, accountID uint64, low *media.DiskLowError) error {
	warning := fmt.Sprintf("%s: attachments cannot be saved (%s); free disk space on the connector, then retry the failed attachments (POST /api/attachments/{id}/retry)", WarningDiskLow, low.Error())
	if err := db.WithContext(ctx).Model(&models.Account{}).Where("id = ?", accountID).
		Updates(map[string]any{"media_warning": warning, "media_warning_at": time.Now().UTC()}).Error; err != nil {
		return fmt.Errorf("record media warning of account %d: %w", accountID, err)
	}
	return nil
}

// FailMediaFetchInput fails the unstored files of a message for good.
type FailMediaFetchInput struct {
	AccountID         uint64
	ProviderMessageID string
	// Reason is the final error; the attachment's last recorded error is
	// used when it is empty. RetriedFor is how long transient failures
	// were retried before giving up (0: a permanent failure).
	Reason     string
	RetriedFor time.Duration `json:",omitempty"`
}

// FailMediaFetch marks the message's unstored attachments failed and adds
// a system message to the interaction, so a missing file is always
// visible; an admin can retry it (POST /api/attachments/{id}/retry).
// Repeating it adds nothing.
func (a *Activities) FailMediaFetch(ctx context.Context, in FailMediaFetchInput) error {
	return a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var msg models.Message
		if err := tx.Where("account_id = ? AND provider_message_id = ?", in.AccountID, in.ProviderMessageID).Take(&msg).Error; err != nil {
			if isNotFound(err) {
				return nil
			}
			return err
		}
		var atts []models.Attachment
		if err := tx.Where("message_id = ? AND direction = ? AND status = ?", msg.ID, models.DirectionInbound, models.AttachmentPending).
			Order("id").Find(&atts).Error; err != nil {
			return err
		}
		for _, att := range atts {
			reason := in.Reason
			if reason == "" {
				reason = att.Error
			}
			if reason == "" {
				reason = "the download did not succeed"
			}
			if in.RetriedFor > 0 {
				reason = fmt.Sprintf("%s (still failing after retrying for %s)", reason, in.RetriedFor)
			}
			if err := tx.Model(&models.Attachment{}).Where("id = ?", att.ID).
				Updates(map[string]any{"status": models.AttachmentFailed, "error": reason}).Error; err != nil {
				return err
			}
			note := fmt.Sprintf("The customer's attachment %q could not be saved on the connector: %s. An admin can retry it (POST /api/attachments/%d/retry); if it keeps failing, check the connector's disk space and the account's proxy URL and token.",
				att.Filename, reason, att.ID)
			if err := addSystemMessage(tx, msg, fmt.Sprintf("attachment-failed:%d:%d", att.ID, att.Attempts), note); err != nil {
				return err
			}
			if err := announceAttachment(tx, msg, att.ID, att.Attempts, models.AttachmentFailed, reason); err != nil {
				return err
			}
		}
		return nil
	})
}

// announceAttachment puts message.attachment on the stream of the agent
// holding the message's interaction.
func announceAttachment(tx *gorm.DB, msg models.Message, attachmentID uint64, attempt int, st models.AttachmentStatus, reason string) error {
	var inter models.Interaction
	if err := tx.Take(&inter, msg.InteractionID).Error; err != nil {
		return err
	}
	if inter.AgentID == nil {
		return nil
	}
	data := map[string]any{"interactionId": inter.ID, "messageId": msg.ID, "attachmentId": attachmentID, "status": st}
	if reason != "" {
		data["error"] = reason
	}
	return insertAgentEvent(tx, *inter.AgentID, "message.attachment", inter.ID,
		fmt.Sprintf("attachment:%d:%s:%d", attachmentID, st, attempt), data)
}

// OutboundAttachment is a file an agent sends, already in the media store
// and checked against WhatsApp's matrix by the API.
type OutboundAttachment struct {
	Key         string
	SHA256      string
	Size        int64
	ContentType string
	Format      string
	Kind        string
	Filename    string
}

// addOutboundAttachment records the file of an outbound media message.
func addOutboundAttachment(tx *gorm.DB, m models.Message, f OutboundAttachment) error {
	now := time.Now().UTC()
	att := models.Attachment{
		MessageID: m.ID, AccountID: m.AccountID, SourceURL: UploadSourcePrefix + f.SHA256, Direction: models.DirectionOutbound,
		Kind: f.Kind, Format: f.Format, ContentType: f.ContentType, Filename: f.Filename, Size: f.Size, SHA256: f.SHA256,
		StoragePath: f.Key, Status: models.AttachmentStored, FetchedAt: &now,
	}
	return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&att).Error
}

// mediaURL is the signed URL Sinch fetches an outbound file from: the
// account's public URL, the token, and the file's extension (Sinch may
// tell the type by it).
func (a *Activities) mediaURL(acc models.Account, att models.Attachment) (string, error) {
	if a.MediaSigner == nil {
		return "", errors.New("this worker has no media signer")
	}
	ttl := a.MediaURLTTL
	if ttl <= 0 {
		ttl = DefaultMediaURLTTL
	}
	tok := a.MediaSigner.Mint(att.ID, time.Now().Add(ttl))
	return strings.TrimRight(acc.PublicURL, "/") + MediaPath + tok + path.Ext(att.Filename), nil
}

// mediaMax is the connector's own size limit (MEDIA_MAX_BYTES).
func (a *Activities) mediaMax() int64 {
	if a.MediaMaxBytes > 0 {
		return a.MediaMaxBytes
	}
	return DefaultMediaMaxBytes
}

// truncateUTF8 cuts s to at most n bytes on a character boundary.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// NoteRefusedAttachment adds a system message to an interaction for a
// file the API refused before sending (type or size), so the agent sees
// why in the conversation, not only in the HTTP answer.
func NoteRefusedAttachment(ctx context.Context, db *gorm.DB, interactionID uint64, ref, text string) error {
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var inter models.Interaction
		if err := tx.Take(&inter, interactionID).Error; err != nil {
			return err
		}
		sys, err := insertSystemMessage(tx, inter.AccountID, inter.ID, inter.ContactID, nil, "refused:"+ref, text)
		if err != nil {
			return err
		}
		if inter.AgentID == nil || sys.ID == 0 {
			return nil
		}
		return insertAgentEvent(tx, *inter.AgentID, "message.system", inter.ID, fmt.Sprintf("system:%d", sys.ID),
			map[string]any{"interactionId": inter.ID, "messageId": sys.ID, "text": text})
	})
}

// mediaRequest is the send request of an outbound file: a media_message
// with the signed URL and the file's name. A file deleted before it was
// sent fails the message (it would only come back as MEDIA_NOT_REACHABLE).
func (a *Activities) mediaRequest(ctx context.Context, acc models.Account, m models.Message, recipient sinch.Recipient) (sinch.SendMessageRequest, error) {
	var att models.Attachment
	if err := a.DB.WithContext(ctx).Where("message_id = ?", m.ID).Order("id").Take(&att).Error; err != nil {
		if isNotFound(err) {
			return sinch.SendMessageRequest{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("media message %d has no attachment", m.ID), ErrTypeBadInput, err)
		}
		return sinch.SendMessageRequest{}, err
	}
	gone := att.Status != models.AttachmentStored
	if !gone && a.Media != nil {
		f, _, err := a.Media.Open(att.StoragePath)
		switch {
		case errors.Is(err, media.ErrNotFound):
			gone = true
		case err != nil:
			return sinch.SendMessageRequest{}, fmt.Errorf("open attachment %d: %w", att.ID, err)
		default:
			_ = f.Close()
		}
	}
	if gone {
		a.Metrics.MediaFailure("out", "deleted")
		return sinch.SendMessageRequest{}, failureError(Failure{Code: "ATTACHMENT_DELETED", Class: models.ErrorClassMedia,
			Message: fmt.Sprintf("ATTACHMENT_DELETED: the file %q was deleted on the connector before it was sent (Sinch would answer MEDIA_NOT_REACHABLE): attach it again", att.Filename)}, nil)
	}
	u, err := a.mediaURL(acc, att)
	if err != nil {
		return sinch.SendMessageRequest{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeBadInput, err)
	}
	return sinch.MediaRequest(recipient, u, att.Filename), nil
}

// ReopenFailedAttachment marks a failed inbound attachment pending again,
// before a manual retry of its fetch starts. reopened is false when the
// attachment was not failed at that moment (a fetch is recording its
// outcome, or another retry reopened it first).
func ReopenFailedAttachment(ctx context.Context, db *gorm.DB, attachmentID uint64) (reopened bool, err error) {
	r := db.WithContext(ctx).Model(&models.Attachment{}).Where("id = ? AND status = ?", attachmentID, models.AttachmentFailed).
		Update("status", models.AttachmentPending)
	return r.RowsAffected > 0, r.Error
}

// RestoreFailedAttachment undoes ReopenFailedAttachment when the retry
// could not start, so the agent still sees the attachment failed. An
// attachment a fetch has moved on since is left alone.
func RestoreFailedAttachment(ctx context.Context, db *gorm.DB, attachmentID uint64) error {
	return db.WithContext(ctx).Model(&models.Attachment{}).Where("id = ? AND status = ?", attachmentID, models.AttachmentPending).
		Update("status", models.AttachmentFailed).Error
}
