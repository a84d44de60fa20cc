package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/internal/media"
	"github.com/xcally-connector/connector/internal/ptr"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/workflows"
)

// AttachmentView is one file of a message.
type AttachmentView struct {
	ID          uint64 `json:"id"`
	MessageID   uint64 `json:"messageId"`
	Direction   string `json:"direction"`
	Status      string `json:"status"`
	Kind        string `json:"kind,omitempty"`
	Format      string `json:"format,omitempty"`
	ContentType string `json:"contentType,omitempty"`
	Size        int64  `json:"size"`
	FileName    string `json:"fileName,omitempty"`
	// Error is why the file could not be fetched (failed, or while retried).
	Error     string     `json:"error,omitempty"`
	Attempts  int        `json:"attempts,omitempty"`
	FetchedAt *time.Time `json:"fetchedAt,omitempty"`
	// URL downloads the file (agents and admins, GET /api/attachments/{id}).
	URL string `json:"url"`
}

// ReplyResponse is the answer of POST /api/interactions/{id}/messages: the
// reply; for a file sent with a text, the text follows as its own message.
type ReplyResponse struct {
	MessageResponse
	FollowUp *MessageResponse `json:"followUp,omitempty"`
}

// multipartOverhead is what a multipart reply may carry besides the file:
// the text field and the parts' headers.
const multipartOverhead = 1 << 20

// maxTextField bounds the text field of a multipart reply (4096
// characters of up to 4 bytes).
const maxTextField = 4 * workflows.MaxReplyLength

func (s *Server) registerMediaRoutes(e *echo.Echo) {
	e.GET("/api/attachments/:id", s.getAttachment, s.requireAgentOrAdmin)
	e.HEAD("/api/attachments/:id", s.getAttachment, s.requireAgentOrAdmin)
	e.DELETE("/api/attachments/:id", s.deleteAttachment, s.requireAdmin)
	e.POST("/api/attachments/:id/retry", s.retryAttachment, s.requireAgentOrAdmin)
	// Sinch fetches agents' files here: the signed token is the only auth.
	e.GET("/api/media/:token", s.serveMedia)
	e.HEAD("/api/media/:token", s.serveMedia)
}

func toAttachmentView(a models.Attachment) AttachmentView {
	return AttachmentView{
		ID: a.ID, MessageID: a.MessageID, Direction: string(a.Direction), Status: string(a.Status),
		Kind: a.Kind, Format: a.Format, ContentType: a.ContentType, Size: a.Size, FileName: a.Filename,
		Error: a.Error, Attempts: a.Attempts, FetchedAt: a.FetchedAt,
		URL: "/api/attachments/" + strconv.FormatUint(a.ID, 10),
	}
}

// attachmentsOf loads the attachments of messages, by message id.
func (s *Server) attachmentsOf(ctx context.Context, messageIDs []uint64) (map[uint64][]AttachmentView, error) {
	out := map[uint64][]AttachmentView{}
	if len(messageIDs) == 0 {
		return out, nil
	}
	var rows []models.Attachment
	if err := s.deps.DB.WithContext(ctx).Where("message_id IN ?", messageIDs).Order("id").Find(&rows).Error; err != nil {
		return nil, err
	}
	for _, a := range rows {
		out[a.MessageID] = append(out[a.MessageID], toAttachmentView(a))
	}
	return out, nil
}

// loadAttachment finds an attachment the caller may see: admins any,
// agents those of accounts they reach (permitted and enabled).
func (s *Server) loadAttachment(c echo.Context) (models.Attachment, error) {
	id, err := parseID(c, "id")
	if err != nil {
		return models.Attachment{}, err
	}
	q := s.deps.DB.WithContext(c.Request().Context()).Model(&models.Attachment{}).Where("attachments.id = ?", id)
	q = scopeToReachable(c, q, "attachments.account_id")
	var att models.Attachment
	if err := q.Take(&att).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return att, &Error{Status: http.StatusNotFound, Code: "not_found", Message: fmt.Sprintf("no attachment %d", id)}
		}
		return att, err
	}
	return att, nil
}

// getAttachment serves a stored file to an agent or an admin.
func (s *Server) getAttachment(c echo.Context) error {
	att, err := s.loadAttachment(c)
	if err != nil {
		return err
	}
	switch att.Status {
	case models.AttachmentStored:
	case models.AttachmentDeleted:
		return &Error{Status: http.StatusGone, Code: "attachment_deleted", Message: fmt.Sprintf("attachment %d was deleted", att.ID)}
	case models.AttachmentExpired:
		return errAttachmentExpired(att)
	case models.AttachmentFailed:
		return &Error{Status: http.StatusConflict, Code: "attachment_failed",
			Message: fmt.Sprintf("attachment %d could not be saved: %s; retry it with POST /api/attachments/%d/retry", att.ID, att.Error, att.ID)}
	default:
		msg := fmt.Sprintf("attachment %d is not stored yet (being fetched from Sinch)", att.ID)
		if att.Error != "" {
			msg += "; last attempt: " + att.Error
		}
		return &Error{Status: http.StatusConflict, Code: "attachment_pending", Message: msg}
	}
	return s.sendStored(c, att)
}

// errAttachmentExpired is the 410 of a file the retention workflow deleted
// (RETENTION_MEDIA): the row and its message stay, the bytes are gone.
func errAttachmentExpired(att models.Attachment) error {
	when := ""
	if att.DeletedAt != nil {
		when = " on " + att.DeletedAt.UTC().Format(time.RFC3339)
	}
	return &Error{Status: http.StatusGone, Code: "attachment_expired",
		Message: fmt.Sprintf("the file of attachment %d (%q) was deleted%s after the media retention period (RETENTION_MEDIA)", att.ID, att.Filename, when)}
}

// sendStored writes a stored file with its sniffed type, a safe
// disposition and range support.
func (s *Server) sendStored(c echo.Context, att models.Attachment) error {
	if s.deps.Media == nil {
		return errUnavailable("media_unavailable", "this API has no media store configured", nil)
	}
	f, _, err := s.deps.Media.Open(att.StoragePath)
	if errors.Is(err, media.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Code: "not_found",
			Message: fmt.Sprintf("the file of attachment %d is missing from the media store (deleted or renamed on the server)", att.ID)}
	}
	if err != nil {
		return fmt.Errorf("open attachment %d: %w", att.ID, err)
	}
	defer f.Close()
	h := c.Response().Header()
	ct := att.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set(echo.HeaderContentType, ct)
	disposition := "attachment"
	if inlineSafe(ct) {
		disposition = "inline"
	}
	h.Set(echo.HeaderContentDisposition, mime.FormatMediaType(disposition, map[string]string{"filename": att.Filename}))
	// User content from our origin: never sniffed, never scripted.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, max-age=300")
	http.ServeContent(c.Response(), c.Request(), "", ptr.Value(att.FetchedAt), f)
	return nil
}

// inlineSafe are the types a browser may show in place.
func inlineSafe(ct string) bool {
	switch ct {
	case "image/jpeg", "image/png", "image/webp", "audio/mpeg", "audio/mp4", "audio/aac", "audio/ogg", "video/mp4", "video/3gpp", "application/pdf":
		return true
	}
	return false
}

// serveMedia serves an outbound file to Sinch by its signed token: an
// invalid, expired or deleted one answers 404, which Sinch reports as
// MEDIA_NOT_REACHABLE; a valid one whose file passed RETENTION_MEDIA
// answers 410.
func (s *Server) serveMedia(c echo.Context) error {
	notFound := &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such media file (the link is invalid, expired or the file was deleted)"}
	if s.deps.MediaSigner == nil {
		return notFound
	}
	tok := c.Param("token")
	if ext := path.Ext(tok); ext != "" {
		tok = strings.TrimSuffix(tok, ext)
	}
	id, err := s.deps.MediaSigner.Verify(tok, time.Now())
	if err != nil {
		s.log.InfoContext(c.Request().Context(), "media link refused", "err", err, "request_id", requestID(c))
		return notFound
	}
	if id == mediaProbeID { // the account diagnostics' media proxy probe
		return s.mediaProbe(c)
	}
	var att models.Attachment
	if err := s.deps.DB.WithContext(c.Request().Context()).Take(&att, id).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return notFound
		}
		return err
	}
	switch att.Status {
	case models.AttachmentStored:
	case models.AttachmentExpired:
		return errAttachmentExpired(att)
	default:
		return notFound
	}
	return s.sendStored(c, att)
}

// deleteAttachment removes a file (admin): its links answer 404 from then
// on, and the bytes go when no other attachment uses them.
func (s *Server) deleteAttachment(c echo.Context) error {
	att, err := s.loadAttachment(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	// An expired file is gone already: it stays expired.
	if !att.Status.Gone() {
		now := time.Now().UTC()
		if err := s.deps.DB.WithContext(ctx).Model(&models.Attachment{}).Where("id = ?", att.ID).
			Updates(map[string]any{"status": models.AttachmentDeleted, "deleted_at": now}).Error; err != nil {
			return err
		}
		att.Status, att.DeletedAt = models.AttachmentDeleted, &now
	}
	if err := s.dropUnusedBlob(ctx, att.StoragePath); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAttachmentView(att))
}

// dropUnusedBlob deletes stored bytes no live attachment refers to (the
// same release as the retention workflow's).
func (s *Server) dropUnusedBlob(ctx context.Context, key string) error {
	if s.deps.Media == nil {
		return nil
	}
	_, err := activities.ReleaseMedia(ctx, s.deps.DB, s.deps.Media, key)
	return err
}

// retryAttachment fetches a customer's file again after it failed.
func (s *Server) retryAttachment(c echo.Context) error {
	att, err := s.loadAttachment(c)
	if err != nil {
		return err
	}
	switch {
	case att.Direction != models.DirectionInbound:
		return &Error{Status: http.StatusConflict, Code: "not_retryable", Message: fmt.Sprintf("attachment %d was sent by an agent: there is nothing to fetch", att.ID)}
	case att.Status == models.AttachmentStored:
		return &Error{Status: http.StatusConflict, Code: "already_stored", Message: fmt.Sprintf("attachment %d is already stored", att.ID)}
	case att.Status == models.AttachmentDeleted:
		return &Error{Status: http.StatusConflict, Code: "attachment_deleted", Message: fmt.Sprintf("attachment %d was deleted", att.ID)}
	case att.Status == models.AttachmentExpired:
		return &Error{Status: http.StatusConflict, Code: "attachment_expired",
			Message: fmt.Sprintf("attachment %d was deleted after the media retention period (RETENTION_MEDIA): it is not fetched again", att.ID)}
	}
	ctx := c.Request().Context()
	var msg models.Message
	if err := s.deps.DB.WithContext(ctx).Take(&msg, att.MessageID).Error; err != nil {
		return err
	}
	if msg.ProviderMessageID == nil {
		return &Error{Status: http.StatusConflict, Code: "not_retryable", Message: fmt.Sprintf("attachment %d has no Sinch message", att.ID)}
	}
	// flipped: the attachment was failed when the update ran, so its
	// fetch had recorded the failure (it may be reading just then).
	flipped, err := activities.ReopenFailedAttachment(ctx, s.deps.DB, att.ID)
	if err != nil {
		return err
	}
	restore := func() {
		if flipped {
			if err := activities.RestoreFailedAttachment(ctx, s.deps.DB, att.ID); err != nil {
				s.log.Warn("restore failed attachment", "attachment_id", att.ID, "err", err)
			}
		}
	}
	wfID := workflows.MediaFetchWorkflowID(att.AccountID, *msg.ProviderMessageID)
	var accountName string
	// The name is only a label in the Temporal UI: without it the memo is left out.
	_ = s.deps.DB.WithContext(ctx).Model(&models.Account{}).Where("id = ?", att.AccountID).Select("name").Scan(&accountName).Error
	opts := client.StartWorkflowOptions{ID: wfID, TaskQueue: s.deps.TaskQueue, WorkflowExecutionErrorWhenAlreadyStarted: true,
		Memo: workflows.AccountMemo(accountName)}
	if flipped {
		// The failed fetch has recorded its failure and is only returning:
		// a run still open under the id is ending, not fetching.
		opts.WorkflowIDConflictPolicy = enums.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING
	}
	_, err = s.deps.Temporal.ExecuteWorkflow(ctx, opts,
		workflows.MediaFetchWorkflowName, workflows.MediaFetchInput{
			AccountID: att.AccountID, ProviderMessageID: *msg.ProviderMessageID,
			RetryFor: s.deps.Conversations.MediaFetchRetry, AttemptTimeout: s.deps.Conversations.MediaFetchAttempt,
		})
	var running *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &running) {
		restore()
		return &Error{Status: http.StatusConflict, Code: "fetch_running", Message: fmt.Sprintf("attachment %d is being fetched already (workflow %s)", att.ID, wfID)}
	}
	if err != nil {
		// Put it back as it was, so the agent still sees it failed.
		restore()
		return errUnavailable("engine_unavailable", "the workflow engine is unreachable; retry later", err)
	}
	att.Status = models.AttachmentPending
	c.Response().Header().Set("X-Workflow-Id", wfID)
	return c.JSON(http.StatusAccepted, toAttachmentView(att))
}

// isMultipart reports whether the request carries multipart/form-data.
func isMultipart(c echo.Context) bool {
	mt, _, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	return err == nil && mt == "multipart/form-data"
}

// upload is the file part of a multipart reply, stored.
type upload struct {
	obj  media.Object
	typ  media.Type
	name string
	text string
}

// readUpload streams a multipart reply: the file into the media store,
// the text into memory. Unknown fields, a second file or none are 400s.
func (s *Server) readUpload(c echo.Context, accountID uint64) (up upload, err error) {
	defer func() {
		// Any refusal after the file was stored drops it again.
		if err != nil && up.obj.Key != "" {
			_ = s.dropUnusedBlob(c.Request().Context(), up.obj.Key)
		}
	}()
	if s.deps.Media == nil {
		return up, errUnavailable("media_unavailable", "this API has no media store configured", nil)
	}
	mr, err := c.Request().MultipartReader()
	if err != nil {
		return up, errBadRequest("invalid_multipart", "body: want multipart/form-data with a file field: "+err.Error())
	}
	gotFile, gotText := false, false
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return up, multipartError(err)
		}
		switch name := part.FormName(); name {
		case "file":
			if gotFile {
				return up, errBadRequest("invalid_multipart", "file: send one file per message")
			}
			gotFile = true
			up.name = part.FileName()
			up.obj, err = s.deps.Media.Put(c.Request().Context(), part, s.mediaMax())
			if err != nil {
				return up, s.uploadError(c, accountID, err)
			}
		case "text":
			if gotText {
				return up, errBadRequest("invalid_multipart", "text: given twice")
			}
			gotText = true
			b, err := io.ReadAll(io.LimitReader(part, maxTextField+1))
			if err != nil {
				return up, multipartError(err)
			}
			if len(b) > maxTextField || !utf8.Valid(b) {
				return up, errBadRequest("invalid_message", fmt.Sprintf("text: want UTF-8 text of at most %d characters", workflows.MaxReplyLength))
			}
			up.text = string(b)
		default:
			return up, errBadRequest("invalid_multipart", fmt.Sprintf("%s: unknown field (want file and optionally text)", name))
		}
	}
	if !gotFile {
		return up, errBadRequest("invalid_multipart", "file: required in a multipart reply (send JSON {\"text\": …} for a text)")
	}
	up.typ = media.Detect(up.obj.Head)
	return up, nil
}

func multipartError(err error) error {
	var maxBytes *http.MaxBytesError
	if errors.As(err, &maxBytes) {
		return err
	}
	return errBadRequest("invalid_multipart", "body: "+err.Error())
}

// uploadError maps a failed store of an upload.
func (s *Server) uploadError(c echo.Context, accountID uint64, err error) error {
	var tooLarge *media.TooLargeError
	var low *media.DiskLowError
	var maxBytes *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge), errors.As(err, &maxBytes):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "attachment_too_large",
			Message: fmt.Sprintf("file: over the connector's own limit (MEDIA_MAX_BYTES, %s); limits apply in this order: the connector's, then Sinch's, then WhatsApp's", media.FormatSize(s.mediaMax()))}
	case errors.As(err, &low):
		if e := activities.RecordDiskLow(c.Request().Context(), s.deps.DB, accountID, low); e != nil {
			s.log.WarnContext(c.Request().Context(), "record media warning", "account_id", accountID, "err", e)
		}
		return &Error{Status: http.StatusInsufficientStorage, Code: "disk_space_low",
			Message: "file: " + low.Error() + "; free disk space on the connector and send it again", Err: err}
	}
	return fmt.Errorf("store upload: %w", err)
}

func (s *Server) mediaMax() int64 {
	if s.deps.MediaMaxBytes > 0 {
		return s.deps.MediaMaxBytes
	}
	return activities.DefaultMediaMaxBytes
}

// postAttachment handles a multipart reply: the file is typed by its bytes
// and checked against WhatsApp's matrix and size limits before anything is
// sent; a refused file is a 422 and a system message in the interaction.
func (s *Server) postAttachment(c echo.Context, inter models.Interaction, key string) error {
	if inter.Status == models.InteractionClosed {
		return &Error{Status: http.StatusConflict, Code: "interaction_closed", Message: fmt.Sprintf("interaction %d is closed", inter.ID)}
	}
	up, err := s.readUpload(c, inter.AccountID)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	refuse := func(code, msg string) error {
		_ = s.dropUnusedBlob(ctx, up.obj.Key)
		note := fmt.Sprintf("Attachment %q not sent: %s", media.SafeFilename(up.name, up.typ), msg)
		if err := activities.NoteRefusedAttachment(ctx, s.deps.DB, inter.ID, up.obj.SHA256+":"+requestID(c), note); err != nil {
			s.log.WarnContext(ctx, "note refused attachment", "interaction_id", inter.ID, "err", err)
		}
		return &Error{Status: http.StatusUnprocessableEntity, Code: code, Message: "file: " + msg}
	}
	verdict := media.WhatsAppVerdict(up.typ)
	if !verdict.Allowed {
		return refuse("attachment_type_unsupported", verdict.Reason)
	}
	if err := media.CheckOutboundSize(verdict.Kind, up.obj.Size, s.mediaMax()); err != nil {
		return refuse("attachment_too_large", err.Error())
	}
	if n := utf8.RuneCountInString(up.text); n > workflows.MaxReplyLength {
		_ = s.dropUnusedBlob(ctx, up.obj.Key)
		return &Error{Status: http.StatusUnprocessableEntity, Code: "message_too_long",
			Message: fmt.Sprintf("text: %d characters, over WhatsApp's limit of %d", n, workflows.MaxReplyLength)}
	}
	att := &activities.OutboundAttachment{
		Key: up.obj.Key, SHA256: up.obj.SHA256, Size: up.obj.Size, ContentType: up.typ.ContentType,
		Format: up.typ.Format, Kind: verdict.Kind, Filename: media.SafeFilename(up.name, up.typ),
	}
	res, err := s.sendReply(c, inter, up.text, att, key)
	if err != nil {
		// Drop the file only when the reply was refused for sure (4xx):
		// after a timeout the workflow may still store it.
		var apiErr *Error
		if errors.As(err, &apiErr) && apiErr.Status >= 400 && apiErr.Status < 500 {
			_ = s.dropUnusedBlob(ctx, up.obj.Key)
		}
		return err
	}
	return s.replyResponse(c, res)
}
