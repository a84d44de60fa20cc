package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/workflows"
)

// Account settings: one document per account (dispositions, canned
// answers, transfer options, routing parameters, action flow) read and
// replaced as a whole by GET and PUT /api/whatsapp/accounts/{id}/settings,
// and the transfer check the options imply. Canned answers are in
// settings_canned.go.

// Limits of the settings document.
const (
	maxDispositions       = 200
	maxCannedAnswers      = 500
	maxCannedTitleLen     = 100
	maxReturnAfterSeconds = 86400
	maxNotifyTimeout      = 3600
	minInactivityTimeout  = 60
	maxInactivityTimeout  = 30 * 86400
	maxFlowSteps          = 20
	maxFlowStepSeconds    = 86400
)

// AccountSettings is the body of GET and PUT
// /api/whatsapp/accounts/{id}/settings. PUT replaces the whole document:
// an absent field is cleared (lists emptied, transferOptions unrestricted,
// routing parameters back to their defaults, no action flow), so the way to
// change one setting is GET, modify, PUT.
type AccountSettings struct {
	// Dispositions are the outcomes an agent chooses from when closing an
	// interaction, in the admin's order; empty allows any (or none).
	Dispositions []string `json:"dispositions"`
	// CannedAnswers are prepared replies in the order agents see them.
	CannedAnswers []CannedAnswerView `json:"cannedAnswers"`
	// TransferOptions limit transfers; null allows any target and assigns
	// an agent transfer at once.
	TransferOptions *models.TransferOptions `json:"transferOptions"`
	// Routing are the account's routing parameters.
	Routing RoutingSettings `json:"routing"`
	// ActionFlow is the ordered steps a new interaction follows; empty:
	// routed through the account's queues as usual.
	ActionFlow []FlowStepView `json:"actionFlow"`
}

// CannedAnswerView is one canned answer. Text is a mustache template over
// contact.name, contact.mobile, agent.name and account.name. On PUT an id
// of this account keeps that answer (and its id, which agents send); no id
// (or 0) adds a new answer.
type CannedAnswerView struct {
	ID    uint64 `json:"id"`
	Title string `json:"title"`
	Text  string `json:"text"`
}

// RoutingSettings override the defaults for one account's interactions.
type RoutingSettings struct {
	// Strategy is round_robin, least_busy or ring_all; "" keeps each
	// queue's own.
	Strategy string `json:"strategy"`
	// AgentNotifyTimeoutSeconds is how long an offer waits for the agent
	// to accept (0 to 3600; 0: until the queue's timeout).
	AgentNotifyTimeoutSeconds int `json:"agentNotifyTimeoutSeconds"`
	// InactivityTimeoutSeconds closes an idle interaction (0: the global
	// INTERACTION_INACTIVITY_TIMEOUT, else 60 to 2592000).
	InactivityTimeoutSeconds int `json:"inactivityTimeoutSeconds"`
}

// FlowStepView is one step of an action flow: exactly one of Queue (wait
// there Seconds, or until an agent takes it when Seconds is absent) or
// Reply (a text sent to the customer).
type FlowStepView struct {
	Queue   *uint64 `json:"queue,omitempty"`
	Seconds *int    `json:"seconds,omitempty"`
	Reply   *string `json:"reply,omitempty"`
}

// settingsPlan is a validated settings document in its stored form.
type settingsPlan struct {
	dispositions []string
	answers      []models.CannedAnswer // ID 0: new
	transfer     string
	flow         string
	routing      RoutingSettings
}

// getSettings handles GET /api/whatsapp/accounts/:id/settings.
func (s *Server) getSettings(c echo.Context) error {
	id, err := parseID(c, "id")
	if err != nil {
		return err
	}
	db := s.deps.DB.WithContext(c.Request().Context())
	acc, err := loadAccount(db, id)
	if err != nil {
		return err
	}
	doc, err := loadSettings(db, acc)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, doc)
}

// putSettings handles PUT /api/whatsapp/accounts/:id/settings: the whole
// document is validated and replaced in one transaction.
func (s *Server) putSettings(c echo.Context) error {
	id, err := parseID(c, "id")
	if err != nil {
		return err
	}
	var req AccountSettings
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	var doc AccountSettings
	err = s.deps.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// The account row lock serialises concurrent PUTs of one account.
		if _, err := loadAccount(models.ForUpdate(tx), id); err != nil {
			return err
		}
		plan, err := req.plan(tx, id)
		if err != nil {
			return err
		}
		if err := plan.write(tx, id); err != nil {
			return err
		}
		acc, err := loadAccount(tx, id)
		if err != nil {
			return err
		}
		doc, err = loadSettings(tx, acc)
		return err
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "account settings updated", "account_id", id,
		"dispositions", len(doc.Dispositions), "canned_answers", len(doc.CannedAnswers),
		"transfer_options", doc.TransferOptions != nil, "action_flow_steps", len(doc.ActionFlow),
		"request_id", requestID(c))
	return c.JSON(http.StatusOK, doc)
}

// loadSettings reads an account's settings document.
func loadSettings(db *gorm.DB, acc models.Account) (AccountSettings, error) {
	doc := AccountSettings{
		Dispositions: []string{}, ActionFlow: []FlowStepView{},
		Routing: RoutingSettings{
			Strategy:                  string(acc.RoutingStrategy),
			AgentNotifyTimeoutSeconds: acc.AgentNotifyTimeoutSeconds,
			InactivityTimeoutSeconds:  acc.InactivityTimeoutSeconds,
		},
	}
	if err := db.Model(&models.Disposition{}).Where("account_id = ?", acc.ID).Order("id").Pluck("name", &doc.Dispositions).Error; err != nil {
		return doc, err
	}
	answers, err := loadCannedAnswers(db, acc.ID)
	if err != nil {
		return doc, err
	}
	doc.CannedAnswers = answers
	if doc.TransferOptions, err = acc.Transfer(); err != nil {
		return doc, err
	}
	steps, err := acc.Flow()
	if err != nil {
		return doc, err
	}
	for _, st := range steps {
		var v FlowStepView
		if st.Queue != 0 {
			v.Queue = &st.Queue
		}
		if st.Seconds > 0 {
			v.Seconds = &st.Seconds
		}
		if st.Reply != "" {
			v.Reply = &st.Reply
		}
		doc.ActionFlow = append(doc.ActionFlow, v)
	}
	return doc, nil
}

// plan validates the document for account accountID (ids against the
// database through tx) and returns it in its stored form. Every error is a
// 400 naming the field path, e.g. cannedAnswers[2].text.
func (r *AccountSettings) plan(tx *gorm.DB, accountID uint64) (settingsPlan, error) {
	var p settingsPlan
	var err error
	if p.dispositions, err = checkDispositions(r.Dispositions); err != nil {
		return p, err
	}
	if p.answers, err = checkCannedAnswers(tx, accountID, r.CannedAnswers); err != nil {
		return p, err
	}
	if r.TransferOptions != nil {
		if err := checkTransferOptions(tx, *r.TransferOptions); err != nil {
			return p, err
		}
		raw, err := json.Marshal(r.TransferOptions)
		if err != nil {
			return p, fmt.Errorf("encode transfer options: %w", err)
		}
		p.transfer = string(raw)
	}
	if err := r.Routing.check(); err != nil {
		return p, err
	}
	p.routing = r.Routing
	if p.flow, err = checkActionFlow(tx, r.ActionFlow); err != nil {
		return p, err
	}
	return p, nil
}

// write replaces the account's settings with the plan's.
func (p settingsPlan) write(tx *gorm.DB, accountID uint64) error {
	if err := tx.Where("account_id = ?", accountID).Delete(&models.Disposition{}).Error; err != nil {
		return err
	}
	if len(p.dispositions) > 0 {
		rows := make([]models.Disposition, len(p.dispositions))
		for i, name := range p.dispositions {
			rows[i] = models.Disposition{AccountID: accountID, Name: name}
		}
		if err := tx.Create(&rows).Error; err != nil {
			return err
		}
	}

	var keep []uint64
	for _, a := range p.answers {
		if a.ID != 0 {
			keep = append(keep, a.ID)
		}
	}
	del := tx.Where("account_id = ?", accountID)
	if len(keep) > 0 {
		del = del.Where("id NOT IN ?", keep)
	}
	if err := del.Delete(&models.CannedAnswer{}).Error; err != nil {
		return err
	}
	if len(keep) > 0 {
		// Kept answers may swap titles: park their keys first so the unique
		// (account, key) index never sees two rows with one key. A key is a
		// trimmed title, so it never starts with a space.
		if err := tx.Model(&models.CannedAnswer{}).Where("account_id = ? AND id IN ?", accountID, keep).
			Update("key", gorm.Expr("' ' || CAST(id AS TEXT)")).Error; err != nil {
			return err
		}
	}
	for _, a := range p.answers {
		if a.ID == 0 {
			if err := tx.Create(&a).Error; err != nil {
				return err
			}
			continue
		}
		if err := tx.Model(&models.CannedAnswer{ID: a.ID}).Updates(map[string]any{
			"key": a.Key, "title": a.Title, "text": a.Text, "position": a.Position,
		}).Error; err != nil {
			return err
		}
	}

	return tx.Model(&models.Account{ID: accountID}).Updates(map[string]any{
		"transfer_options":             p.transfer,
		"action_flow":                  p.flow,
		"routing_strategy":             p.routing.Strategy,
		"agent_notify_timeout_seconds": p.routing.AgentNotifyTimeoutSeconds,
		"inactivity_timeout_seconds":   p.routing.InactivityTimeoutSeconds,
	}).Error
}

// checkDispositions trims the names and requires 1 to 255 characters,
// no name twice (case-insensitively) and at most maxDispositions.
func checkDispositions(in []string) ([]string, error) {
	if len(in) > maxDispositions {
		return nil, fieldError("dispositions", "at most %d, got %d", maxDispositions, len(in))
	}
	out := make([]string, 0, len(in))
	seen := map[string]int{}
	for i, raw := range in {
		field := fmt.Sprintf("dispositions[%d]", i)
		name := strings.TrimSpace(raw)
		if err := checkRequired(field, &name, maxNameLen); err != nil {
			return nil, err
		}
		key := strings.ToLower(name)
		if j, dup := seen[key]; dup {
			return nil, fieldError(field, "%q repeats dispositions[%d] %q (names are compared ignoring case)", name, j, out[j])
		}
		seen[key] = i
		out = append(out, name)
	}
	return out, nil
}

// checkTransferOptions requires existing, distinct queue and agent ids and
// a return delay of 0 to 86400 seconds.
func checkTransferOptions(tx *gorm.DB, t models.TransferOptions) error {
	for _, list := range []struct {
		field, kind string
		ids         []uint64
		model       any
	}{{"transferOptions.queues", "queue", t.Queues, &models.Queue{}}, {"transferOptions.agents", "agent", t.Agents, &models.Agent{}}} {
		if err := checkIDList(tx, list.field, list.kind, list.ids, list.model); err != nil {
			return err
		}
	}
	if t.ReturnToQueueAfterSeconds < 0 || t.ReturnToQueueAfterSeconds > maxReturnAfterSeconds {
		return fieldError("transferOptions.returnToQueueAfterSeconds", "want 0 (assign at once) to %d seconds, got %d",
			maxReturnAfterSeconds, t.ReturnToQueueAfterSeconds)
	}
	return nil
}

// checkIDList requires every id of a list to be a live row of model, once.
func checkIDList(tx *gorm.DB, field, kind string, ids []uint64, model any) error {
	if len(ids) == 0 {
		return nil
	}
	var live []uint64
	if err := tx.Model(model).Where("id IN ?", ids).Pluck("id", &live).Error; err != nil {
		return err
	}
	seen := map[uint64]int{}
	for i, id := range ids {
		f := fmt.Sprintf("%s[%d]", field, i)
		if err := checkBodyID(f, id); err != nil {
			return err
		}
		if j, dup := seen[id]; dup {
			return fieldError(f, "%s %d is already %s[%d]", kind, id, field, j)
		}
		seen[id] = i
		if !slices.Contains(live, id) {
			return fieldError(f, "%s %d does not exist", kind, id)
		}
	}
	return nil
}

// check validates the routing parameters.
func (r RoutingSettings) check() error {
	switch models.QueueStrategy(r.Strategy) {
	case "", models.StrategyRoundRobin, models.StrategyLeastBusy, models.StrategyRingAll:
	default:
		return fieldError("routing.strategy", `want "" (each queue's own), round_robin, least_busy or ring_all, got %q`, r.Strategy)
	}
	if r.AgentNotifyTimeoutSeconds < 0 || r.AgentNotifyTimeoutSeconds > maxNotifyTimeout {
		return fieldError("routing.agentNotifyTimeoutSeconds", "want 0 (until the queue's timeout) to %d seconds, got %d",
			maxNotifyTimeout, r.AgentNotifyTimeoutSeconds)
	}
	if n := r.InactivityTimeoutSeconds; n != 0 && (n < minInactivityTimeout || n > maxInactivityTimeout) {
		return fieldError("routing.inactivityTimeoutSeconds", "want 0 (the global INTERACTION_INACTIVITY_TIMEOUT) or %d to %d seconds, got %d",
			minInactivityTimeout, maxInactivityTimeout, n)
	}
	return nil
}

// checkActionFlow validates the steps and returns their stored JSON (""
// for no flow).
func checkActionFlow(tx *gorm.DB, in []FlowStepView) (string, error) {
	if len(in) == 0 {
		return "", nil
	}
	if len(in) > maxFlowSteps {
		return "", fieldError("actionFlow", "at most %d steps, got %d", maxFlowSteps, len(in))
	}
	steps := make([]models.FlowStep, 0, len(in))
	hasQueue := false
	for i, st := range in {
		field := fmt.Sprintf("actionFlow[%d]", i)
		if (st.Queue == nil) == (st.Reply == nil) {
			return "", fieldError(field, "want exactly one of queue (a queue id to wait in) or reply (a text to send)")
		}
		if st.Reply != nil {
			if st.Seconds != nil {
				return "", fieldError(field+".seconds", "only a queue step waits; a reply step is sent and the flow goes on")
			}
			if strings.TrimSpace(*st.Reply) == "" {
				return "", fieldError(field+".reply", "required: the text to send (1 to %d characters)", workflows.MaxReplyLength)
			}
			if err := checkMax(field+".reply", st.Reply, workflows.MaxReplyLength); err != nil {
				return "", err
			}
			steps = append(steps, models.FlowStep{Reply: *st.Reply})
			continue
		}
		hasQueue = true
		if err := checkBodyID(field+".queue", *st.Queue); err != nil {
			return "", err
		}
		if err := rowExists(tx, &models.Queue{}, "queue", *st.Queue); err != nil {
			var apiErr *Error
			if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
				return "", fieldError(field+".queue", "%s", apiErr.Message)
			}
			return "", err
		}
		secs := 0
		if st.Seconds != nil {
			secs = *st.Seconds
		}
		if secs < 0 || secs > maxFlowStepSeconds {
			return "", fieldError(field+".seconds", "want 1 to %d seconds, or none on the last step, got %d", maxFlowStepSeconds, secs)
		}
		if secs == 0 && i < len(in)-1 {
			return "", fieldError(field+".seconds", "required before the last step: a queue step without seconds waits until an agent takes the interaction, so the steps after it would never run")
		}
		steps = append(steps, models.FlowStep{Queue: *st.Queue, Seconds: secs})
	}
	if !hasQueue {
		return "", fieldError("actionFlow", "want at least one queue step: replies alone never bring the interaction to an agent")
	}
	raw, err := json.Marshal(steps)
	if err != nil {
		return "", fmt.Errorf("encode action flow: %w", err)
	}
	return string(raw), nil
}

// checkTransfer applies the account's transfer options to a transfer: a
// target outside the allowed queues or agents is a 422
// transfer_not_allowed; an agent transfer waits returnToQueueAfterSeconds
// for the agent to accept.
func (s *Server) checkTransfer(ctx context.Context, accountID uint64, req *workflows.TransferRequest) error {
	var acc models.Account
	if err := s.deps.DB.WithContext(ctx).Unscoped().Select("id", "transfer_options").Take(&acc, accountID).Error; err != nil {
		return fmt.Errorf("load account %d: %w", accountID, err)
	}
	opts, err := acc.Transfer()
	if err != nil || opts == nil {
		return err
	}
	kind, field, target, allowed := "queue", "queueId", req.QueueID, opts.Queues
	if req.AgentID != 0 {
		kind, field, target, allowed = "agent", "agentId", req.AgentID, opts.Agents
	}
	if allowed != nil && !slices.Contains(allowed, target) {
		list := "none"
		if len(allowed) > 0 {
			ids := make([]string, len(allowed))
			for i, id := range allowed {
				ids[i] = strconv.FormatUint(id, 10)
			}
			list = strings.Join(ids, ", ")
		}
		return &Error{Status: http.StatusUnprocessableEntity, Code: "transfer_not_allowed",
			Message: fmt.Sprintf("%s: account %d does not allow transfers to %s %d; allowed %ss: %s", field, accountID, kind, target, kind, list)}
	}
	if req.AgentID != 0 {
		req.ReturnAfter = time.Duration(opts.ReturnToQueueAfterSeconds) * time.Second
	}
	return nil
}
