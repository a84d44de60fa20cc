package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/cbroglie/mustache"
	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/workflows"
)

// Canned answers: their validation as part of the settings document, the
// agents' listing and the rendering of a canned reply.

// cannedVariables are the variables a canned answer may use; cannedObjects
// are the objects it may open as sections, with their fields.
var (
	cannedVariables = []string{"contact.name", "contact.mobile", "agent.name", "account.name"}
	cannedObjects   = map[string][]string{"contact": {"name", "mobile"}, "agent": {"name"}, "account": {"name"}}
)

// listCannedAnswers handles GET /api/whatsapp/accounts/:id/canned-answers:
// the admin, or an agent permitted on the account who enabled it.
func (s *Server) listCannedAnswers(c echo.Context) error {
	id, err := parseID(c, "id")
	if err != nil {
		return err
	}
	if err := s.requireReachable(c, id); err != nil {
		return err
	}
	db := s.deps.DB.WithContext(c.Request().Context())
	answers, err := loadCannedAnswers(db, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, answers)
}

// loadCannedAnswers lists an account's canned answers in their order.
func loadCannedAnswers(db *gorm.DB, accountID uint64) ([]CannedAnswerView, error) {
	var rows []models.CannedAnswer
	if err := db.Where("account_id = ?", accountID).Order("position, id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]CannedAnswerView, 0, len(rows))
	for _, r := range rows {
		out = append(out, CannedAnswerView{ID: r.ID, Title: r.Title, Text: r.Text})
	}
	return out, nil
}

// checkCannedAnswers validates the answers and returns their rows in list
// order: ids must be this account's, titles 1 to 100 characters and
// unique ignoring case, texts 1 to 4096 characters of a mustache template
// over the canned-answer variables.
func checkCannedAnswers(tx *gorm.DB, accountID uint64, in []CannedAnswerView) ([]models.CannedAnswer, error) {
	if len(in) > maxCannedAnswers {
		return nil, fieldError("cannedAnswers", "at most %d, got %d", maxCannedAnswers, len(in))
	}
	var own []uint64
	if err := tx.Model(&models.CannedAnswer{}).Where("account_id = ?", accountID).Pluck("id", &own).Error; err != nil {
		return nil, err
	}
	out := make([]models.CannedAnswer, 0, len(in))
	ids, keys := map[uint64]int{}, map[string]int{}
	for i, a := range in {
		field := fmt.Sprintf("cannedAnswers[%d]", i)
		if a.ID != 0 {
			if j, dup := ids[a.ID]; dup {
				return nil, fieldError(field+".id", "%d is already cannedAnswers[%d]", a.ID, j)
			}
			if !slices.Contains(own, a.ID) {
				return nil, fieldError(field+".id", "canned answer %d is not one of account %d's; leave the id out to add a new answer", a.ID, accountID)
			}
			ids[a.ID] = i
		}
		title := strings.TrimSpace(a.Title)
		if err := checkRequired(field+".title", &title, maxCannedTitleLen); err != nil {
			return nil, err
		}
		key := strings.ToLower(title)
		if utf8.RuneCountInString(key) > maxCannedTitleLen {
			return nil, fieldError(field+".title", "at most %d characters once lower-cased, got %d", maxCannedTitleLen, utf8.RuneCountInString(key))
		}
		if j, dup := keys[key]; dup {
			return nil, fieldError(field+".title", "%q repeats cannedAnswers[%d].title %q (titles are compared ignoring case)", title, j, out[j].Title)
		}
		keys[key] = i
		if err := checkCannedText(field+".text", a.Text); err != nil {
			return nil, err
		}
		out = append(out, models.CannedAnswer{ID: a.ID, AccountID: accountID, Key: key, Title: title, Text: a.Text, Position: i})
	}
	return out, nil
}

// checkCannedText requires 1 to 4096 characters of a mustache template
// without partials whose tags are only the canned-answer variables and
// sections of contact, agent, account (or of a variable).
func checkCannedText(field, text string) error {
	if strings.TrimSpace(text) == "" {
		return fieldError(field, "required: the reply text, a mustache template such as \"Hello {{contact.name}}\"")
	}
	if n := utf8.RuneCountInString(text); n > workflows.MaxReplyLength {
		return fieldError(field, "at most %d characters (WhatsApp's text limit), got %d", workflows.MaxReplyLength, n)
	}
	if err := checkTemplate(field, text); err != nil {
		return err
	}
	tpl, err := mustache.ParseStringPartials(text, &mustache.StaticProvider{})
	if err != nil {
		return fieldError(field, "invalid mustache template: %v", err)
	}
	return checkCannedTags(field, tpl.Tags(), nil)
}

// checkCannedTags walks the tags; scope lists the objects of the enclosing
// sections, whose fields may be named bare ({{#contact}}{{name}}{{/contact}}).
func checkCannedTags(field string, tags []mustache.Tag, scope []string) error {
	known := func(name string) bool {
		if slices.Contains(cannedVariables, name) {
			return true
		}
		for _, obj := range scope {
			if slices.Contains(cannedObjects[obj], name) {
				return true
			}
		}
		return false
	}
	for _, tag := range tags {
		name := tag.Name()
		switch tag.Type() {
		case mustache.Variable:
			if !known(name) {
				return fieldError(field, "unknown variable {{%s}}: want %s (or sections {{#contact}}, {{#agent}}, {{#account}})",
					name, strings.Join(cannedVariables, ", "))
			}
		case mustache.Section, mustache.InvertedSection:
			inner := scope
			if _, ok := cannedObjects[name]; ok {
				inner = append(slices.Clone(scope), name)
			} else if !known(name) {
				return fieldError(field, "unknown section {{#%s}}: want contact, agent, account or one of %s",
					name, strings.Join(cannedVariables, ", "))
			}
			if err := checkCannedTags(field, tag.Tags(), inner); err != nil {
				return err
			}
		}
	}
	return nil
}

// cannedReply renders canned answer id of the interaction's account for
// the caller: a 422 when the account has no such answer or the text comes
// out empty or over WhatsApp's limit.
func (s *Server) cannedReply(c echo.Context, inter models.Interaction, id uint64) (string, error) {
	if err := checkBodyID("cannedAnswerId", id); err != nil {
		return "", err
	}
	db := s.deps.DB.WithContext(c.Request().Context())
	var ans models.CannedAnswer
	err := db.Where("id = ? AND account_id = ?", id, inter.AccountID).Take(&ans).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", &Error{Status: http.StatusUnprocessableEntity, Code: "canned_answer_not_found",
			Message: fmt.Sprintf("cannedAnswerId: canned answer %d is not one of account %d's (GET /api/whatsapp/accounts/%d/canned-answers lists them)", id, inter.AccountID, inter.AccountID)}
	}
	if err != nil {
		return "", err
	}
	var acc models.Account
	if err := db.Unscoped().Select("id", "name").Take(&acc, inter.AccountID).Error; err != nil {
		return "", fmt.Errorf("load account %d: %w", inter.AccountID, err)
	}
	agentID := principalFrom(c).AgentID
	if agentID == 0 && inter.AgentID != nil {
		agentID = *inter.AgentID
	}
	agentName := ""
	if agentID != 0 {
		var ag models.Agent
		err := db.Unscoped().Select("id", "name").Take(&ag, agentID).Error
		if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
			return "", fmt.Errorf("load agent %d: %w", agentID, err)
		}
		agentName = ag.Name
	}
	text, err := renderCannedAnswer(ans.Text, inter.Contact, agentName, acc.Name)
	if err != nil {
		return "", &Error{Status: http.StatusUnprocessableEntity, Code: "canned_answer_invalid",
			Message: fmt.Sprintf("cannedAnswerId: canned answer %d (%q) does not render: %v", ans.ID, ans.Title, err)}
	}
	if strings.TrimSpace(text) == "" {
		return "", &Error{Status: http.StatusUnprocessableEntity, Code: "canned_answer_empty",
			Message: fmt.Sprintf("cannedAnswerId: canned answer %d (%q) renders to an empty text for this interaction", ans.ID, ans.Title)}
	}
	if n := utf8.RuneCountInString(text); n > workflows.MaxReplyLength {
		return "", &Error{Status: http.StatusUnprocessableEntity, Code: "message_too_long",
			Message: fmt.Sprintf("cannedAnswerId: canned answer %d (%q) renders to %d characters, over WhatsApp's limit of %d", ans.ID, ans.Title, n, workflows.MaxReplyLength)}
	}
	return text, nil
}

// renderCannedAnswer renders a canned answer's template: contact.name (the
// contact's name, else its identity), contact.mobile (its phone, else its
// identity), agent.name, account.name.
func renderCannedAnswer(tpl string, contact models.Contact, agentName, accountName string) (string, error) {
	name := contact.DisplayName
	if strings.TrimSpace(name) == "" {
		name = contact.Identity
	}
	mobile := contact.Mobile
	if mobile == "" {
		mobile = contact.Identity
	}
	data := map[string]any{
		"contact": map[string]any{"name": name, "mobile": mobile},
		"agent":   map[string]any{"name": agentName},
		"account": map[string]any{"name": accountName},
	}
	// Replies are plain text: no HTML escaping. An empty partial provider:
	// {{> name}} must never read files (PUT refuses partials anyway).
	return mustache.RenderPartialsRaw(tpl, &mustache.StaticProvider{}, true, data)
}
