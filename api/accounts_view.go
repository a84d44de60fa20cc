package api

import (
	"fmt"
	"strings"
	"time"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/models"
)

// Warnings an AccountResponse may carry.
const (
	// WarningDispatchMode: the latest callback came in DISPATCH mode, in
	// which Sinch sends no contact id and agents cannot reply (Sinch's
	// processing-modes page; Motion's Sinch V2 guide).
	WarningDispatchMode = "processing mode: the Sinch app sends DISPATCH-mode callbacks, which carry no contact id; set it to CONVERSATION mode so agents can reply (Sinch Conversation API processing modes)"
	// WarningNoWebhookSecret: the webhook accepts unsigned callbacks.
	WarningNoWebhookSecret = "webhookSecret: not set, callbacks to receiveUrl are not authenticated"
	// WarningWebhookRefused: no secret and unsigned callbacks not allowed
	// (a row not written by the API): every callback is refused.
	WarningWebhookRefused = "webhookSecret: not set and allowUnsignedWebhooks is false: every callback to receiveUrl is refused; set webhookSecret (or generateWebhookSecret)"
	// WarningMetaBlocked starts the warning of a streak of Meta policy
	// failures (Motion's Sinch V2 guide: "Account blocked by Meta").
	WarningMetaBlocked = "account may be blocked by Meta"
	// WarningStatus starts the warning of an account that is not active
	// (migrated or disabled): it opens no new interactions.
	WarningStatus = "status"
)

// AccountResponse is an account as the API returns it: every setting but
// the secrets, whose presence only is reported.
type AccountResponse struct {
	ID                   uint64   `json:"id"`
	Name                 string   `json:"name"`
	Key                  string   `json:"key"`
	List                 string   `json:"list"`
	PublicURL            string   `json:"publicUrl"`
	Type                 string   `json:"type"`
	Region               string   `json:"region"`
	BaseURL              string   `json:"baseUrl"`
	AuthURL              string   `json:"authUrl"`
	ProjectID            string   `json:"projectId"`
	AppID                string   `json:"appId"`
	KeyID                string   `json:"keyId"`
	Phone                string   `json:"phone"`
	Description          string   `json:"description"`
	NotificationTemplate string   `json:"notificationTemplate"`
	Channels             []string `json:"channels"`
	Debug                bool     `json:"debug"`
	// SendRatePerSecond is the account's own send rate, 0 for the default.
	SendRatePerSecond float64 `json:"sendRatePerSecond"`
	// PolicyFailureStreak counts consecutive Meta policy failures of
	// replies (reset by a delivered one).
	PolicyFailureStreak int `json:"policyFailureStreak"`
	// ReceiveURL is the target URL to configure on the Sinch webhook.
	ReceiveURL       string `json:"receiveUrl"`
	KeySecretSet     bool   `json:"keySecretSet"`
	WebhookSecretSet bool   `json:"webhookSecretSet"`
	// AllowUnsignedWebhooks is set when the account takes unsigned
	// callbacks (no webhook secret).
	AllowUnsignedWebhooks bool `json:"allowUnsignedWebhooks"`
	// WebhookSecret is present only in the answer to a request with
	// generateWebhookSecret: the generated secret, shown this once.
	WebhookSecret string `json:"webhookSecret,omitempty"`
	// LastProcessingMode is the Sinch processing mode of the latest callback.
	LastProcessingMode string `json:"lastProcessingMode"`
	// QualityRating is the latest WhatsApp quality rating reported by Sinch.
	QualityRating string `json:"qualityRating"`
	// Status is active, migrated (moved to MigratedToAccountID: no new
	// interactions, open ones finish here) or disabled (no interactions);
	// StatusReason says why.
	Status              string  `json:"status"`
	StatusReason        string  `json:"statusReason"`
	MigratedToAccountID *uint64 `json:"migratedToAccountId,omitempty"`
	// Warnings are configuration problems to fix; never null.
	Warnings  []string  `json:"warnings"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// toAccountResponse is the API view of an account; policyStreak is the
// POLICY_WARNING_STREAK threshold.
func toAccountResponse(a models.Account, policyStreak int) AccountResponse {
	chans := []string{}
	for _, ch := range strings.Split(a.Channels, ",") {
		if ch != "" {
			chans = append(chans, ch)
		}
	}
	warnings := []string{}
	if a.LastProcessingMode == models.ProcessingDispatch {
		warnings = append(warnings, WarningDispatchMode)
	}
	switch {
	case len(a.WebhookSecretEnc) > 0:
	case a.AllowUnsignedWebhooks:
		warnings = append(warnings, WarningNoWebhookSecret)
	default:
		warnings = append(warnings, WarningWebhookRefused)
	}
	if a.PolicyFailureStreak >= policyStreak {
		at := ""
		if a.PolicyFailureAt != nil {
			at = " at " + a.PolicyFailureAt.UTC().Format(time.RFC3339)
		}
		warnings = append(warnings, fmt.Sprintf("%s: %d replies in a row failed with Meta policy codes (last %s%s); review Meta's Business Policy and contact your Meta account manager",
			WarningMetaBlocked, a.PolicyFailureStreak, a.PolicyFailureLastCode, at))
	}
	if a.MediaWarning != "" {
		at := ""
		if a.MediaWarningAt != nil {
			at = " (since " + a.MediaWarningAt.UTC().Format(time.RFC3339) + ")"
		}
		warnings = append(warnings, a.MediaWarning+at)
	}
	status := a.Status
	if status == "" {
		status = models.AccountActive
	}
	if w := statusWarning(status, a.StatusReason, a.MigratedToAccountID); w != "" {
		warnings = append(warnings, w)
	}
	return AccountResponse{
		ID: a.ID, Name: a.Name, Key: a.Key, List: a.List, PublicURL: a.PublicURL,
		Type: string(a.Type), Region: string(a.Region), BaseURL: a.BaseURL, AuthURL: a.AuthURL,
		ProjectID: a.ProjectID, AppID: a.AppID, KeyID: a.KeyID, Phone: a.Phone,
		Description: a.Description, NotificationTemplate: a.NotificationTemplate,
		Channels: chans, Debug: a.Debug, SendRatePerSecond: a.SendRatePerSecond, PolicyFailureStreak: a.PolicyFailureStreak,
		ReceiveURL:       activities.ReceiveURL(a.PublicURL, a.ID),
		KeySecretSet:     len(a.KeySecretEnc) > 0,
		WebhookSecretSet: len(a.WebhookSecretEnc) > 0, AllowUnsignedWebhooks: a.AllowUnsignedWebhooks,
		LastProcessingMode: string(a.LastProcessingMode), QualityRating: a.QualityRating,
		Status: string(status), StatusReason: a.StatusReason, MigratedToAccountID: a.MigratedToAccountID,
		Warnings:  warnings,
		CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
	}
}

// statusWarning is the warning of an account that is not active, e.g.
// "status: migrated to account 9 (Acme V2) by migration 3: this account
// opens no new interactions; open ones finish here" (a migrated account's
// reason says where it went) or "status: disabled (migration 4 was
// cancelled by the admin): this account opens no interactions"; "" for an
// active one.
func statusWarning(status models.AccountStatus, reason string, target *uint64) string {
	var what, effect string
	switch status {
	case models.AccountActive:
		return ""
	case models.AccountMigrated:
		what, effect = "migrated", "this account opens no new interactions; open ones finish here"
		if target != nil {
			what += fmt.Sprintf(" to account %d", *target)
		}
	case models.AccountDisabled:
		what, effect = "disabled", "this account opens no interactions"
	default:
		what, effect = string(status), "this account opens no new interactions"
	}
	switch reason = strings.TrimSpace(reason); {
	case reason != "" && status == models.AccountMigrated:
		what = reason // "migrated to account 9 (…) by migration 3"
	case reason != "":
		what += " (" + reason + ")"
	}
	return fmt.Sprintf("%s: %s: %s", WarningStatus, what, effect)
}
