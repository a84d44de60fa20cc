package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/internal/ptr"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/reports"
	"github.com/xcally-connector/connector/workflows"
)

// ContactView is the contact of an interaction.
type ContactView struct {
	ID       uint64 `json:"id"`
	Identity string `json:"identity"`
	Mobile   string `json:"mobile,omitempty"`
	Name     string `json:"name,omitempty"`
}

// InteractionResponse is one interaction.
type InteractionResponse struct {
	ID             uint64      `json:"id"`
	AccountID      uint64      `json:"accountId"`
	Channel        string      `json:"channel"`
	Status         string      `json:"status"`
	Contact        ContactView `json:"contact"`
	QueueID        *uint64     `json:"queueId"`
	AgentID        *uint64     `json:"agentId"`
	ProcessingMode string      `json:"processingMode,omitempty"`
	Disposition    string      `json:"disposition,omitempty"`
	CloseReason    string      `json:"closeReason,omitempty"`
	WorkflowID     string      `json:"workflowId"`
	OpenedAt       time.Time   `json:"openedAt"`
	AssignedAt     *time.Time  `json:"assignedAt"`
	ClosedAt       *time.Time  `json:"closedAt"`
	LastMessageAt  *time.Time  `json:"lastMessageAt"`
	// AcceptBy is set while a transfer waits for this agent to accept it
	// (POST …/accept, or a reply): past it, it returns to its queue.
	AcceptBy *time.Time `json:"acceptBy,omitempty"`
	// WindowEndsAt, on GET /api/interactions/{id} when the customer has
	// written, is when WhatsApp's customer service window closes: 24 h
	// after the customer's latest message; after it, replies are refused.
	WindowEndsAt *time.Time `json:"windowEndsAt,omitempty"`
	// Messages are present on GET /api/interactions/{id}, oldest first.
	Messages []MessageResponse `json:"messages,omitempty"`
}

// MessageResponse is one message of an interaction.
type MessageResponse struct {
	ID                uint64     `json:"id"`
	Direction         string     `json:"direction"`
	Kind              string     `json:"kind"`
	Text              string     `json:"text"`
	ProviderMessageID string     `json:"providerMessageId,omitempty"`
	Status            string     `json:"status"`
	ReasonCode        string     `json:"reasonCode,omitempty"`
	ReasonDescription string     `json:"reasonDescription,omitempty"`
	ReplyTo           string     `json:"replyTo,omitempty"`
	AcceptTime        *time.Time `json:"acceptTime"`
	CreatedAt         time.Time  `json:"createdAt"`
	// AgentID is the agent who wrote an outbound message (absent for an
	// admin's reply).
	AgentID *uint64 `json:"agentId,omitempty"`
	// Error explains a failed outbound message.
	Error *MessageError `json:"error,omitempty"`
	// ParentID links a part of a split reply (and a system note) to the
	// message it belongs to; Part numbers split parts from 1.
	ParentID *uint64 `json:"parentId,omitempty"`
	Part     int     `json:"part,omitempty"`
	// Attempts is how many times an outbound message was sent to Sinch
	// (more than 1 after automatic resends).
	Attempts  int        `json:"attempts,omitempty"`
	SentAt    *time.Time `json:"sentAt,omitempty"`
	UpdatedAt time.Time  `json:"updatedAt"`
	// Attachments are the message's files (media messages).
	Attachments []AttachmentView `json:"attachments,omitempty"`
}

// MessageError is why an outbound message failed: Sinch's code verbatim,
// its class (network, policy, config, support, media) and the advice.
type MessageError struct {
	Code    string `json:"code"`
	Class   string `json:"class"`
	Message string `json:"message"`
}

// ReplyMessageRequest is the body of POST /api/interactions/{id}/messages.
type ReplyMessageRequest struct {
	// Text is the reply, 1 to 4096 characters.
	Text *string `json:"text"`
	// CannedAnswerID sends one of the account's canned answers instead,
	// rendered for the interaction (exclusive with Text).
	CannedAnswerID *uint64 `json:"cannedAnswerId"`
	// Template is refused: the connector only replies to customers
	// (Motion's Sinch V2 guide: message templates are not supported).
	Template json.RawMessage `json:"template"`
}

// InteractionList is the body of GET /api/interactions.
type InteractionList struct {
	Items []InteractionResponse `json:"items"`
	// NextBefore is the cursor of the next (older) page, 0 at the end.
	NextBefore uint64 `json:"nextBefore,omitempty"`
}

// CloseInteractionRequest is the body of POST /api/interactions/{id}/close.
type CloseInteractionRequest struct {
	Disposition string `json:"disposition"`
}

// TransferInteractionRequest is the body of POST /api/interactions/{id}/transfer.
type TransferInteractionRequest struct {
	AgentID uint64 `json:"agentId"`
	QueueID uint64 `json:"queueId"`
}

// updateTimeout bounds a close/transfer/accept round trip through the workflow.
const updateTimeout = 20 * time.Second

func (s *Server) registerInteractionRoutes(e *echo.Echo) {
	e.GET("/api/interactions", s.listInteractions, s.requireAgentOrAdmin)
	e.GET("/api/interactions/:id", s.getInteraction, s.requireAgentOrAdmin)
	e.POST("/api/interactions/:id/close", s.closeInteraction, s.requireAgentOrAdmin)
	e.POST("/api/interactions/:id/transfer", s.transferInteraction, s.requireAgentOrAdmin)
	e.POST("/api/interactions/:id/accept", s.acceptInteraction, s.requireAgentOrAdmin)
	e.POST("/api/interactions/:id/messages", s.postMessage, s.requireAgentOrAdmin)
	e.GET("/api/agents/:id/events", s.agentEvents, s.requireAgentOrAdmin)
}

// visibleInteractions scopes a query to what the caller may see: admins see
// everything, agents the interactions of accounts they reach (permitted
// and enabled, scopeToReachable). Every interaction route (read, reply,
// close, transfer, accept) loads through it: an interaction of another
// account is a 404.
func (s *Server) visibleInteractions(c echo.Context) *gorm.DB {
	q := s.deps.DB.WithContext(c.Request().Context()).Model(&models.Interaction{})
	return scopeToReachable(c, q, "interactions.account_id")
}

func (s *Server) listInteractions(c echo.Context) error {
	q := s.visibleInteractions(c)
	for _, f := range []struct{ param, column string }{{"accountId", "account_id"}, {"agentId", "agent_id"}, {"queueId", "queue_id"}} {
		v := c.QueryParam(f.param)
		switch {
		case v == "":
			continue
		case v == "none" && f.param != "accountId":
			// The reports' drill-down of the row without a queue or agent.
			q = q.Where("interactions." + f.column + " IS NULL")
			continue
		}
		// accountId also takes several ids separated by commas (an
		// account with those it migrated from and to).
		vals := []string{v}
		if f.param == "accountId" {
			vals = strings.Split(v, ",")
		}
		ids := make([]uint64, 0, len(vals))
		for _, one := range vals {
			id, err := strconv.ParseUint(one, 10, 64)
			if err != nil || id == 0 {
				want := "a positive integer"
				if f.param != "accountId" {
					want += " or none"
				}
				return errBadRequest("invalid_query", fmt.Sprintf("%s: want %s, got %q", f.param, want, v))
			}
			ids = append(ids, id)
		}
		if len(ids) == 1 {
			q = q.Where("interactions."+f.column+" = ?", ids[0])
		} else {
			q = q.Where("interactions."+f.column+" IN ?", ids)
		}
	}
	if v := c.QueryParam("status"); v != "" {
		switch models.InteractionStatus(v) {
		case models.InteractionQueued, models.InteractionAssigned, models.InteractionClosed:
			q = q.Where("interactions.status = ?", v)
		case "open":
			q = q.Where("interactions.status <> ?", models.InteractionClosed)
		default:
			return errBadRequest("invalid_query", fmt.Sprintf("status: want queued, assigned, closed or open, got %q", v))
		}
	}
	// The reports' filters: the opening range (RFC 3339, from inclusive,
	// to exclusive), the channel, the disposition (none: without one) and
	// whether an agent replied.
	for _, f := range []struct{ param, op string }{{"openedFrom", ">="}, {"openedTo", "<"}} {
		if v := c.QueryParam(f.param); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return errBadRequest("invalid_query", fmt.Sprintf("%s: want an RFC 3339 time such as 2026-01-02T15:04:05+01:00, got %q", f.param, v))
			}
			q = q.Where("interactions.opened_at "+f.op+" ?", t.UTC())
		}
	}
	if v := c.QueryParam("channel"); v != "" {
		if v != string(models.ChannelWhatsApp) && v != string(models.ChannelInstagram) {
			return errBadRequest("invalid_query", fmt.Sprintf("channel: want WHATSAPP or INSTAGRAM, got %q", v))
		}
		q = q.Where("interactions.channel = ?", v)
	}
	if v := c.QueryParam("disposition"); v != "" {
		switch v {
		case "none":
			q = q.Where("(interactions.disposition = '' OR interactions.disposition IS NULL)")
		default:
			q = q.Where("interactions.disposition = ?", v)
		}
	}
	if v := c.QueryParam("figure"); v != "" {
		cond, ok := reports.FigureCondition(v, "interactions")
		if !ok {
			return errBadRequest("invalid_query", fmt.Sprintf("figure: want one of %s, got %q", strings.Join(reports.Figures, ", "), v))
		}
		q = q.Where(cond)
	}
	if v := c.QueryParam("responded"); v != "" {
		switch v {
		case "true":
			q = q.Where("interactions.first_response_at IS NOT NULL")
		case "false":
			q = q.Where("interactions.first_response_at IS NULL")
		default:
			return errBadRequest("invalid_query", fmt.Sprintf("responded: want true or false, got %q", v))
		}
	}
	limit := 50
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return errBadRequest("invalid_query", fmt.Sprintf("limit: want 1 to 500, got %q", v))
		}
		limit = n
	}
	if v := c.QueryParam("before"); v != "" {
		id, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return errBadRequest("invalid_query", fmt.Sprintf("before: want an interaction id, got %q", v))
		}
		q = q.Where("interactions.id < ?", id)
	}
	var rows []models.Interaction
	if err := q.Preload("Contact").Order("interactions.id DESC").Limit(limit + 1).Find(&rows).Error; err != nil {
		return err
	}
	out := InteractionList{Items: []InteractionResponse{}}
	for i, r := range rows {
		if i == limit {
			out.NextBefore = rows[limit-1].ID
			break
		}
		out.Items = append(out.Items, toInteractionResponse(r))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) loadInteraction(c echo.Context) (models.Interaction, error) {
	id, err := parseID(c, "id")
	if err != nil {
		return models.Interaction{}, err
	}
	var inter models.Interaction
	if err := s.visibleInteractions(c).Preload("Contact").Where("interactions.id = ?", id).First(&inter).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return inter, &Error{Status: http.StatusNotFound, Code: "not_found", Message: fmt.Sprintf("no interaction %d", id)}
		}
		return inter, err
	}
	return inter, nil
}

func (s *Server) getInteraction(c echo.Context) error {
	inter, err := s.loadInteraction(c)
	if err != nil {
		return err
	}
	var msgs []models.Message
	if err := s.deps.DB.WithContext(c.Request().Context()).Where("interaction_id = ?", inter.ID).
		Order("COALESCE(provider_time, created_at), id").Find(&msgs).Error; err != nil {
		return err
	}
	ids := make([]uint64, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	atts, err := s.attachmentsOf(c.Request().Context(), ids)
	if err != nil {
		return err
	}
	resp := toInteractionResponse(inter)
	resp.Messages = make([]MessageResponse, 0, len(msgs))
	var lastIn time.Time
	for _, m := range msgs {
		r := toMessageResponse(m)
		r.Attachments = atts[m.ID]
		resp.Messages = append(resp.Messages, r)
		if m.Direction == models.DirectionInbound {
			lastIn = latest(lastIn, inboundTime(m.ProviderTime, m.CreatedAt))
		}
	}
	resp.WindowEndsAt = windowEnd(lastIn)
	return c.JSON(http.StatusOK, resp)
}

func toMessageResponse(m models.Message) MessageResponse {
	r := MessageResponse{
		ID: m.ID, Direction: string(m.Direction), Kind: m.Kind, Text: m.Text,
		ProviderMessageID: ptr.Value(m.ProviderMessageID), Status: string(m.Status),
		ReasonCode: m.ReasonCode, ReasonDescription: m.ReasonDescription, ReplyTo: m.ReplyToProviderID,
		AcceptTime: m.ProviderTime, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt,
		AgentID: m.AgentID, ParentID: m.ParentID, Part: m.Part, Attempts: m.SendAttempt, SentAt: m.SentAt,
	}
	if m.Status == models.StatusFailed && m.Direction == models.DirectionOutbound {
		r.Error = &MessageError{Code: m.ReasonCode, Class: string(m.ErrorClass), Message: m.ErrorMessage}
	}
	return r
}

// maxIdempotencyKey bounds the Idempotency-Key header of a reply.
const maxIdempotencyKey = 128

// postMessage handles POST /api/interactions/{id}/messages: a JSON text
// reply (text, or cannedAnswerId: one of the account's canned answers
// rendered for the interaction), or a multipart/form-data file (field
// file, optional field text).
// The reply goes through the conversation workflow as an update
// (validated there: open, assigned agent, 24 h window), is stored as
// pending and answered 202; the workflow then sends it in order with
// retries.
func (s *Server) postMessage(c echo.Context) error {
	inter, err := s.loadInteraction(c)
	if err != nil {
		return err
	}
	key := strings.TrimSpace(c.Request().Header.Get("Idempotency-Key"))
	if len(key) > maxIdempotencyKey {
		return errBadRequest("invalid_idempotency_key", fmt.Sprintf("Idempotency-Key: at most %d characters, got %d", maxIdempotencyKey, len(key)))
	}
	if err := requireHandler(c, inter); err != nil {
		return err
	}
	if isMultipart(c) {
		return s.postAttachment(c, inter, key)
	}
	var req ReplyMessageRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if t := bytes.TrimSpace(req.Template); len(t) > 0 && string(t) != "null" {
		return &Error{Status: http.StatusUnprocessableEntity, Code: "templates_not_supported",
			Message: "message templates are not supported: only replies to customers (WhatsApp Service conversations)"}
	}
	if req.CannedAnswerID != nil {
		if req.Text != nil {
			return errBadRequest("invalid_message", "cannedAnswerId: give either text or cannedAnswerId, not both")
		}
		text, err := s.cannedReply(c, inter, *req.CannedAnswerID)
		if err != nil {
			return err
		}
		req.Text = &text
	}
	if req.Text == nil || strings.TrimSpace(*req.Text) == "" {
		return errBadRequest("invalid_message", "text: required, the reply to send (1 to 4096 characters), or cannedAnswerId; send a file as multipart/form-data (field file)")
	}
	if n := utf8.RuneCountInString(*req.Text); n > workflows.MaxReplyLength {
		return &Error{Status: http.StatusUnprocessableEntity, Code: "message_too_long",
			Message: fmt.Sprintf("text: %d characters, over WhatsApp's limit of %d", n, workflows.MaxReplyLength)}
	}
	res, err := s.sendReply(c, inter, *req.Text, nil, key)
	if err != nil {
		return err
	}
	return s.replyResponse(c, res)
}

// sendReply hands a reply to the conversation workflow (the reply update).
func (s *Server) sendReply(c echo.Context, inter models.Interaction, text string, att *activities.OutboundAttachment, key string) (workflows.ReplyResult, error) {
	p := principalFrom(c)
	arg := workflows.ReplyRequest{InteractionID: inter.ID, Text: text, IdempotencyKey: key, Attachment: att}
	if !p.Admin {
		arg.AgentID = p.AgentID
	}
	var res workflows.ReplyResult
	updateID := ""
	if key != "" {
		// Update ids are unique per workflow run, which spans interactions.
		updateID = fmt.Sprintf("reply:%d:%s", inter.ID, key)
	}
	if err := s.runUpdateID(c, inter, workflows.ReplyUpdateName, arg, updateID, &res); err != nil {
		var apiErr *Error
		if errors.As(err, &apiErr) && apiErr.Code == "rejected" && strings.Contains(apiErr.Message, workflows.ErrOutsideWindow) {
			apiErr.Code = "outside_customer_service_window"
		}
		return res, err
	}
	if arg.AgentID != 0 && inter.AcceptBy != nil {
		s.transferAccepted(c, inter.ID, arg.AgentID) // replying accepts a transfer
	}
	return res, nil
}

// transferAccepted clears the acceptance deadline of a transfer the
// workflow has just seen accepted by agentID (the acceptance, or a reply).
// The workflow's timer is the rule; a failure here only leaves the inbox
// showing the deadline until the next move, and is logged.
func (s *Server) transferAccepted(c echo.Context, interactionID, agentID uint64) {
	ctx := c.Request().Context()
	err := s.deps.DB.WithContext(ctx).Model(&models.Interaction{}).
		Where("id = ? AND agent_id = ? AND accept_by IS NOT NULL", interactionID, agentID).Update("accept_by", nil).Error
	if err != nil {
		s.log.WarnContext(ctx, "could not clear a transfer's acceptance deadline", "interaction_id", interactionID, "error", err)
	}
}

// replyResponse answers 202 with the stored reply (and the text that
// follows a file).
func (s *Server) replyResponse(c echo.Context, res workflows.ReplyResult) error {
	ctx := c.Request().Context()
	atts, err := s.attachmentsOf(ctx, []uint64{res.MessageID})
	if err != nil {
		return err
	}
	load := func(id uint64) (MessageResponse, error) {
		var m models.Message
		if err := s.deps.DB.WithContext(ctx).Take(&m, id).Error; err != nil {
			return MessageResponse{}, err
		}
		if res.Status == string(models.StatusPending) {
			// The answer is the reply as the workflow stored it; the sender
			// may already have moved it on (GET and the event stream show
			// that).
			m.Status, m.ProviderMessageID, m.SentAt, m.SendAttempt = models.StatusPending, nil, nil, 0
			m.ReasonCode, m.ReasonDescription, m.ErrorClass, m.ErrorMessage = "", "", "", ""
		}
		r := toMessageResponse(m)
		r.Attachments = atts[m.ID]
		return r, nil
	}
	first, err := load(res.MessageID)
	if err != nil {
		return err
	}
	out := ReplyResponse{MessageResponse: first}
	if res.TextMessageID != 0 {
		next, err := load(res.TextMessageID)
		if err != nil {
			return err
		}
		out.FollowUp = &next
	}
	return c.JSON(http.StatusAccepted, out)
}

// requireHandler checks that the caller is the admin or the agent holding
// the interaction.
func requireHandler(c echo.Context, inter models.Interaction) error {
	p := principalFrom(c)
	if p.Admin || (inter.AgentID != nil && *inter.AgentID == p.AgentID) {
		return nil
	}
	return errForbidden(fmt.Sprintf("interaction %d is not assigned to agent %d", inter.ID, p.AgentID))
}

func by(c echo.Context) string {
	if p := principalFrom(c); !p.Admin {
		return "agent:" + strconv.FormatUint(p.AgentID, 10)
	}
	return "admin"
}

func (s *Server) closeInteraction(c echo.Context) error {
	inter, err := s.loadInteraction(c)
	if err != nil {
		return err
	}
	var req CloseInteractionRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := requireHandler(c, inter); err != nil {
		return err
	}
	disposition, err := s.checkDisposition(c.Request().Context(), inter.AccountID, req.Disposition)
	if err != nil {
		return err
	}
	if err := s.runUpdate(c, inter, workflows.CloseUpdateName, workflows.CloseRequest{InteractionID: inter.ID, Disposition: disposition, By: by(c)}); err != nil {
		return err
	}
	s.routingChanged()
	return s.getInteraction(c)
}

// checkDisposition accepts any disposition for an account without a
// disposition list and returns it trimmed. With a list, only a listed name
// (ignoring case) is accepted and returned as listed; any other, an empty
// one included, is a 422 listing the allowed ones.
func (s *Server) checkDisposition(ctx context.Context, accountID uint64, disposition string) (string, error) {
	disposition = strings.TrimSpace(disposition)
	var names []string
	if err := s.deps.DB.WithContext(ctx).Model(&models.Disposition{}).Where("account_id = ?", accountID).Order("id").Pluck("name", &names).Error; err != nil {
		return "", err
	}
	if len(names) == 0 {
		return disposition, nil
	}
	for _, n := range names {
		if strings.EqualFold(n, disposition) {
			return n, nil
		}
	}
	return "", &Error{Status: http.StatusUnprocessableEntity, Code: "invalid_disposition",
		Message: fmt.Sprintf("disposition: account %d wants one of %s, got %q", accountID, quoteAll(names), disposition)}
}

// quoteAll lists names quoted and comma-separated.
func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

func (s *Server) transferInteraction(c echo.Context) error {
	inter, err := s.loadInteraction(c)
	if err != nil {
		return err
	}
	var req TransferInteractionRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if (req.AgentID == 0) == (req.QueueID == 0) {
		return errBadRequest("invalid_transfer", "give exactly one of agentId or queueId")
	}
	if err := requireHandler(c, inter); err != nil {
		return err
	}
	arg := workflows.TransferRequest{InteractionID: inter.ID, AgentID: req.AgentID, QueueID: req.QueueID, By: by(c)}
	if err := s.checkTransfer(c.Request().Context(), inter.AccountID, &arg); err != nil {
		return err
	}
	if err := s.runUpdate(c, inter, workflows.TransferUpdateName, arg); err != nil {
		return err
	}
	s.routingChanged()
	return s.getInteraction(c)
}

func (s *Server) acceptInteraction(c echo.Context) error {
	inter, err := s.loadInteraction(c)
	if err != nil {
		return err
	}
	p := principalFrom(c)
	if p.Admin {
		return errForbidden("only an agent can accept an offered interaction")
	}
	if err := s.runUpdate(c, inter, workflows.AcceptUpdateName, workflows.AcceptRequest{InteractionID: inter.ID, AgentID: p.AgentID}); err != nil {
		return err
	}
	if inter.AcceptBy != nil {
		s.transferAccepted(c, inter.ID, p.AgentID)
	}
	return s.getInteraction(c)
}

// runUpdate sends an update to the interaction's conversation workflow and
// waits for its outcome: 422 when the workflow rejects it or the change is
// not possible (agent not eligible), 409 when the interaction is not open.
func (s *Server) runUpdate(c echo.Context, inter models.Interaction, name string, arg any) error {
	var view workflows.InteractionView
	return s.runUpdateID(c, inter, name, arg, "", &view)
}

// runUpdateID is runUpdate with an update id (Temporal dedupes updates by
// id, "" lets the client pick one) and the update's result decoded into out.
func (s *Server) runUpdateID(c echo.Context, inter models.Interaction, name string, arg any, updateID string, out any) error {
	if inter.Status == models.InteractionClosed {
		return &Error{Status: http.StatusConflict, Code: "interaction_closed", Message: fmt.Sprintf("interaction %d is closed", inter.ID)}
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), updateTimeout)
	defer cancel()
	h, err := s.deps.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: inter.WorkflowID, UpdateName: name, Args: []any{arg}, UpdateID: updateID,
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, out)
	}
	if err == nil {
		return nil
	}
	var notFound *serviceerror.NotFound
	var appErr *temporal.ApplicationError
	switch {
	case errors.As(err, &notFound):
		return &Error{Status: http.StatusConflict, Code: "interaction_not_open", Message: fmt.Sprintf("interaction %d has no running conversation", inter.ID), Err: err}
	case errors.As(err, &appErr):
		msg := rootMessage(err)
		if hasErrType(err, activities.ErrTypeNotOpen) {
			return &Error{Status: http.StatusConflict, Code: "interaction_not_open", Message: msg, Err: err}
		}
		if hasErrType(err, activities.ErrTypeNotAssigned) {
			return &Error{Status: http.StatusForbidden, Code: "forbidden", Message: msg, Err: err}
		}
		return &Error{Status: http.StatusUnprocessableEntity, Code: "rejected", Message: msg, Err: err}
	case ctx.Err() != nil:
		return errUnavailable("engine_timeout", "the conversation did not answer in time; retry", err)
	default:
		return errUnavailable("engine_unavailable", "the workflow engine is unreachable; retry later", err)
	}
}

// appErrors lists the application errors in err's chain, outermost first
// (an update failure wraps the activity failure that caused it).
func appErrors(err error) []*temporal.ApplicationError {
	var out []*temporal.ApplicationError
	for e := err; e != nil; e = errors.Unwrap(e) {
		if a, ok := e.(*temporal.ApplicationError); ok {
			out = append(out, a)
		}
	}
	return out
}

// hasErrType reports whether an application error of type t is in the chain.
func hasErrType(err error, t string) bool {
	for _, a := range appErrors(err) {
		if a.Type() == t {
			return true
		}
	}
	return false
}

// rootMessage is the message of the innermost application error.
func rootMessage(err error) string {
	all := appErrors(err)
	if len(all) == 0 {
		return err.Error()
	}
	return all[len(all)-1].Message()
}

func toInteractionResponse(r models.Interaction) InteractionResponse {
	return InteractionResponse{
		ID: r.ID, AccountID: r.AccountID, Channel: string(r.Channel), Status: string(r.Status),
		Contact: ContactView{ID: r.Contact.ID, Identity: r.Contact.Identity, Mobile: r.Contact.Mobile, Name: r.Contact.DisplayName},
		QueueID: r.QueueID, AgentID: r.AgentID, ProcessingMode: string(r.ProcessingMode),
		Disposition: r.Disposition, CloseReason: r.CloseReason, WorkflowID: r.WorkflowID,
		OpenedAt: r.OpenedAt, AssignedAt: r.AssignedAt, ClosedAt: r.ClosedAt, LastMessageAt: r.LastMessageAt,
		AcceptBy: r.AcceptBy,
	}
}
