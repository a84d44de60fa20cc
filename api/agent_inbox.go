package api

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/workflows"
)

// What an agent's screen needs in one answer each: its inbox (assigned
// and offered interactions with their unread counts, previews and the
// customer service window), read marks, and where an interaction may be
// closed or transferred to.

// InboxItem is one interaction of an agent's inbox.
type InboxItem struct {
	Interaction InteractionResponse `json:"interaction"`
	AccountName string              `json:"accountName"`
	// Offered is a queued interaction offered to the agent (ring_all):
	// it needs Accept.
	Offered bool `json:"offered"`
	// Unread counts the customer's messages after the agent's read mark.
	Unread        int64      `json:"unread"`
	LastInboundAt *time.Time `json:"lastInboundAt"`
	WindowEndsAt  *time.Time `json:"windowEndsAt"`
	// Preview is the start of the newest message (its kind when it has
	// no text).
	Preview string `json:"preview"`
}

// InboxResponse is an agent's inbox, newest activity first.
type InboxResponse struct {
	Items  []InboxItem `json:"items"`
	Unread int64       `json:"unread"`
}

// InteractionOptions is where an interaction may go: the account's
// dispositions (empty: any text is accepted) and transfer targets.
type InteractionOptions struct {
	Dispositions []string        `json:"dispositions"`
	Transfer     TransferTargets `json:"transfer"`
}

// TransferTargets are the queues and agents the account's transfer
// options allow; AcceptWithinSeconds > 0 means a target agent must accept
// within that time or the interaction returns to its queue.
type TransferTargets struct {
	Queues              []NamedTarget `json:"queues"`
	Agents              []NamedTarget `json:"agents"`
	AcceptWithinSeconds int           `json:"acceptWithinSeconds"`
}

// NamedTarget is a queue or an agent (with its presence).
type NamedTarget struct {
	ID       uint64 `json:"id"`
	Name     string `json:"name"`
	Presence string `json:"presence,omitempty"`
}

// MarkReadRequest is the body of POST /api/interactions/{id}/read.
type MarkReadRequest struct {
	// MessageID is the newest message seen (0: the interaction's newest).
	MessageID uint64 `json:"messageId"`
}

// maxInboxItems bounds an inbox: an agent holds at most its capacity (at
// most 100) and is offered what waits in its ring_all queues.
const maxInboxItems = 500

// previewRunes is the length of an inbox preview.
const previewRunes = 140

func (s *Server) registerAgentInboxRoutes(e *echo.Echo) {
	e.GET("/api/agents/:id/inbox", s.agentInbox, s.requireAgentOrAdmin)
	e.POST("/api/interactions/:id/read", s.markRead, s.requireAgentOrAdmin)
	e.GET("/api/interactions/:id/options", s.interactionOptions, s.requireAgentOrAdmin)
}

// inboundTime is when a customer's message was sent: Sinch's accept time,
// else when it was stored.
func inboundTime(accept *time.Time, created time.Time) time.Time {
	if accept != nil && !accept.IsZero() {
		return *accept
	}
	return created
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// windowEnd is when WhatsApp's customer service window closes after the
// customer's latest message (nil when the customer has not written); the
// conversation refuses replies after it (workflows.DefaultReplyWindow).
func windowEnd(lastInbound time.Time) *time.Time {
	if lastInbound.IsZero() {
		return nil
	}
	end := lastInbound.Add(workflows.DefaultReplyWindow).UTC()
	return &end
}

// agentInbox handles GET /api/agents/{id}/inbox (the agent itself, or the
// admin): the interactions assigned to the agent and the queued ones
// offered to it whose offer stands (the newest offer or withdrawal event
// of the agent's stream says), on the accounts it can reach.
func (s *Server) agentInbox(c echo.Context) error {
	agentID, err := agentOfPath(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	db := s.deps.DB.WithContext(ctx)
	reach := models.ReachableAccountIDs(db.Session(&gorm.Session{NewDB: true}), agentID)

	var held []models.Interaction
	if err := db.Preload("Contact").Where("agent_id = ? AND status = ? AND account_id IN (?)", agentID, models.InteractionAssigned, reach).
		Order("id").Limit(maxInboxItems).Find(&held).Error; err != nil {
		return fmt.Errorf("inbox of agent %d: %w", agentID, err)
	}
	var events []struct {
		ID            uint64
		InteractionID uint64
		Type          string
	}
	queued := db.Session(&gorm.Session{NewDB: true}).Model(&models.Interaction{}).Select("id").
		Where("status = ? AND account_id IN (?)", models.InteractionQueued, reach)
	if err := db.Model(&models.AgentEvent{}).Select("id", "interaction_id", "type").
		Where("agent_id = ? AND type IN ? AND interaction_id IN (?)", agentID, []string{"interaction.offered", "interaction.withdrawn"}, queued).
		Order("id").Find(&events).Error; err != nil {
		return fmt.Errorf("offers of agent %d: %w", agentID, err)
	}
	standing := map[uint64]bool{}
	for _, ev := range events { // by id: the newest decides
		standing[ev.InteractionID] = ev.Type == "interaction.offered"
	}
	var offerIDs []uint64
	for id, ok := range standing {
		if ok {
			offerIDs = append(offerIDs, id)
		}
	}
	var offered []models.Interaction
	if len(offerIDs) > 0 {
		if err := db.Preload("Contact").Where("id IN ? AND status = ?", offerIDs, models.InteractionQueued).
			Order("id").Limit(maxInboxItems).Find(&offered).Error; err != nil {
			return fmt.Errorf("offers of agent %d: %w", agentID, err)
		}
	}

	all := append(held, offered...)
	resp := InboxResponse{Items: make([]InboxItem, 0, len(all))}
	if len(all) == 0 {
		return c.JSON(http.StatusOK, resp)
	}
	facts, err := s.inboxFacts(db, agentID, all)
	if err != nil {
		return err
	}
	for i, inter := range all {
		f := facts.of(inter)
		item := InboxItem{Interaction: toInteractionResponse(inter), AccountName: f.accountName, Offered: i >= len(held),
			Unread: f.unread, Preview: f.preview, WindowEndsAt: windowEnd(f.lastInbound)}
		if !f.lastInbound.IsZero() {
			t := f.lastInbound.UTC()
			item.LastInboundAt = &t
		}
		resp.Unread += item.Unread
		resp.Items = append(resp.Items, item)
	}
	slices.SortStableFunc(resp.Items, func(a, b InboxItem) int {
		return cmp.Or(compareNewest(a.Interaction.LastMessageAt, b.Interaction.LastMessageAt), cmp.Compare(b.Interaction.ID, a.Interaction.ID))
	})
	return c.JSON(http.StatusOK, resp)
}

// compareNewest orders later times first, unknown ones last.
func compareNewest(a, b *time.Time) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return b.Compare(*a)
}

type inboxFact struct {
	accountName string
	unread      int64
	lastInbound time.Time
	preview     string
}

type inboxFacts struct {
	accounts map[uint64]string
	byID     map[uint64]*inboxFact
}

func (f inboxFacts) of(inter models.Interaction) inboxFact {
	out := inboxFact{accountName: f.accounts[inter.AccountID]}
	if x := f.byID[inter.ID]; x != nil {
		out.unread, out.lastInbound, out.preview = x.unread, x.lastInbound, x.preview
	}
	return out
}

// inboxFacts reads, in four statements for the whole inbox, each
// interaction's account name, unread count, latest customer message and
// newest message.
func (s *Server) inboxFacts(db *gorm.DB, agentID uint64, inters []models.Interaction) (inboxFacts, error) {
	ids := make([]uint64, len(inters))
	accIDs := make([]uint64, 0, len(inters))
	for i, it := range inters {
		ids[i] = it.ID
		accIDs = append(accIDs, it.AccountID)
	}
	f := inboxFacts{accounts: map[uint64]string{}, byID: map[uint64]*inboxFact{}}
	for _, id := range ids {
		f.byID[id] = &inboxFact{}
	}
	var accs []models.Account
	if err := db.Unscoped().Select("id", "name").Where("id IN ?", accIDs).Find(&accs).Error; err != nil {
		return f, fmt.Errorf("inbox accounts: %w", err)
	}
	for _, a := range accs {
		f.accounts[a.ID] = a.Name
	}
	var unread []struct {
		InteractionID uint64
		N             int64
	}
	if err := db.Raw(`SELECT m.interaction_id, count(*) AS n FROM messages m
  LEFT JOIN interaction_reads r ON r.interaction_id = m.interaction_id AND r.agent_id = ?
  WHERE m.interaction_id IN ? AND m.direction = ? AND m.id > COALESCE(r.last_read_message_id, 0)
  GROUP BY m.interaction_id`, agentID, ids, models.DirectionInbound).Scan(&unread).Error; err != nil {
		return f, fmt.Errorf("inbox unread counts: %w", err)
	}
	for _, u := range unread {
		f.byID[u.InteractionID].unread = u.N
	}
	// The latest customer message of each interaction, and the newest
	// message (a split reply's parts and system notes aside).
	var lastIn, newest []models.Message
	if err := db.Select("id", "interaction_id", "provider_time", "created_at").Where("id IN (?)",
		db.Session(&gorm.Session{NewDB: true}).Model(&models.Message{}).Select("max(id)").
			Where("interaction_id IN ? AND direction = ?", ids, models.DirectionInbound).Group("interaction_id")).
		Find(&lastIn).Error; err != nil {
		return f, fmt.Errorf("inbox customer messages: %w", err)
	}
	for _, m := range lastIn {
		f.byID[m.InteractionID].lastInbound = inboundTime(m.ProviderTime, m.CreatedAt)
	}
	if err := db.Select("id", "interaction_id", "kind", "text").Where("id IN (?)",
		db.Session(&gorm.Session{NewDB: true}).Model(&models.Message{}).Select("max(id)").
			Where("interaction_id IN ? AND parent_id IS NULL AND direction IN ?", ids,
				[]models.Direction{models.DirectionInbound, models.DirectionOutbound}).Group("interaction_id")).
		Find(&newest).Error; err != nil {
		return f, fmt.Errorf("inbox previews: %w", err)
	}
	for _, m := range newest {
		f.byID[m.InteractionID].preview = preview(m)
	}
	return f, nil
}

// preview is the start of a message's text, or its kind in brackets.
func preview(m models.Message) string {
	text := strings.Join(strings.Fields(m.Text), " ")
	if text == "" {
		return "[" + m.Kind + "]"
	}
	if utf8.RuneCountInString(text) > previewRunes {
		r := []rune(text)
		text = string(r[:previewRunes-1]) + "…"
	}
	return text
}

// markRead handles POST /api/interactions/{id}/read (an agent): the
// caller's read mark moves to the message named (the interaction's newest
// when none), never back.
func (s *Server) markRead(c echo.Context) error {
	p := principalFrom(c)
	if p.Admin {
		return errForbidden("read marks are an agent's: the admin has none")
	}
	inter, err := s.loadInteraction(c)
	if err != nil {
		return err
	}
	var req MarkReadRequest
	if c.Request().ContentLength != 0 {
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
	}
	ctx := c.Request().Context()
	db := s.deps.DB.WithContext(ctx)
	if req.MessageID == 0 {
		var newest *uint64
		if err := db.Model(&models.Message{}).Select("max(id)").Where("interaction_id = ?", inter.ID).Scan(&newest).Error; err != nil {
			return err
		}
		if newest == nil {
			return c.NoContent(http.StatusNoContent) // nothing to read yet
		}
		req.MessageID = *newest
	} else {
		var n int64
		if err := db.Model(&models.Message{}).Where("id = ? AND interaction_id = ?", req.MessageID, inter.ID).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return errBadRequest("invalid_message", fmt.Sprintf("messageId: message %d is not a message of interaction %d", req.MessageID, inter.ID))
		}
	}
	if err := models.MarkInteractionRead(ctx, s.deps.DB, p.AgentID, inter.ID, req.MessageID, time.Now()); err != nil {
		return fmt.Errorf("mark interaction %d read: %w", inter.ID, err)
	}
	return c.NoContent(http.StatusNoContent)
}

// interactionOptions handles GET /api/interactions/{id}/options: the
// account's dispositions and the transfer targets its options allow (every
// queue of the account, or the listed ones; every agent who can reach the
// account, or the listed ones; never the caller).
func (s *Server) interactionOptions(c echo.Context) error {
	inter, err := s.loadInteraction(c)
	if err != nil {
		return err
	}
	db := s.deps.DB.WithContext(c.Request().Context())
	out := InteractionOptions{Dispositions: []string{}, Transfer: TransferTargets{Queues: []NamedTarget{}, Agents: []NamedTarget{}}}
	if err := db.Model(&models.Disposition{}).Where("account_id = ?", inter.AccountID).Order("id").Pluck("name", &out.Dispositions).Error; err != nil {
		return err
	}
	var acc models.Account
	if err := db.Unscoped().Select("id", "transfer_options").Take(&acc, inter.AccountID).Error; err != nil {
		return fmt.Errorf("load account %d: %w", inter.AccountID, err)
	}
	opts, err := acc.Transfer()
	if err != nil {
		return err
	}
	if opts == nil {
		opts = &models.TransferOptions{}
	}
	out.Transfer.AcceptWithinSeconds = opts.ReturnToQueueAfterSeconds

	var queues []models.Queue
	q := db.Select("id", "name").Order("name, id")
	if opts.Queues == nil {
		q = q.Where("id IN (?)", db.Session(&gorm.Session{NewDB: true}).Model(&models.QueueAccount{}).Select("queue_id").Where("account_id = ?", inter.AccountID))
	} else {
		q = q.Where("id IN ?", append([]uint64{0}, opts.Queues...))
	}
	if err := q.Find(&queues).Error; err != nil {
		return err
	}
	for _, qu := range queues {
		out.Transfer.Queues = append(out.Transfer.Queues, NamedTarget{ID: qu.ID, Name: qu.Name})
	}

	var agents []models.Agent
	a := db.Select("id", "name", "presence").Where("id <> ?", principalFrom(c).AgentID).Order("name, id")
	if opts.Agents == nil {
		a = a.Where("id IN (?)", db.Session(&gorm.Session{NewDB: true}).Model(&models.AgentAccount{}).Select("agent_id").
			Where("account_id = ? AND enabled = ?", inter.AccountID, true))
	} else {
		a = a.Where("id IN ?", append([]uint64{0}, opts.Agents...))
	}
	if err := a.Find(&agents).Error; err != nil {
		return err
	}
	for _, ag := range agents {
		out.Transfer.Agents = append(out.Transfer.Agents, NamedTarget{ID: ag.ID, Name: ag.Name, Presence: string(ag.Presence)})
	}
	return c.JSON(http.StatusOK, out)
}
