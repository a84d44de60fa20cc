package models

import (
	"strings"
	"time"

	"gorm.io/gorm"
)

// Account is a WhatsApp/Instagram connector account bound to one Sinch
// Conversation API app (Motion's Sinch V2 setup guide: a "WhatsApp Account"
// of type Sinch V2).
type Account struct {
	ID   uint64 `gorm:"primaryKey"`
	Name string `gorm:"size:255;not null"`
	// Key is the account's short unique identifier (Motion's "Key" field).
	Key string `gorm:"size:100;not null;uniqueIndex:ux_accounts_key,where:deleted_at IS NULL"`
	// List is the contact list new contacts are filed under (Motion's "Choose a List").
	List string `gorm:"size:255"`
	// PublicURL is the proxy or Motion domain Sinch reaches (webhook, media).
	PublicURL string      `gorm:"size:1024;not null"`
	Type      AccountType `gorm:"size:32;not null"`
	Region    Region      `gorm:"size:8;not null"`
	// BaseURL and AuthURL override the region defaults (the emulator, tests).
	BaseURL   string `gorm:"size:1024"`
	AuthURL   string `gorm:"size:1024"`
	ProjectID string `gorm:"size:128;not null"`
	AppID     string `gorm:"size:128;not null;index"`
	KeyID     string `gorm:"size:128;not null"`
	// KeySecretEnc and WebhookSecretEnc are AES-GCM ciphertexts; the plain
	// secrets are write-only in the API and never stored or logged in clear.
	KeySecretEnc     []byte
	WebhookSecretEnc []byte
	// AllowUnsignedWebhooks lets an account without a webhook secret take
	// unsigned callbacks (an admin's explicit choice; the account warns).
	// Without it, an account always has a secret and every callback must
	// be signed with it.
	AllowUnsignedWebhooks bool `gorm:"not null;default:false"`
	// Phone is the sender number in E.164 with its prefix.
	Phone                string `gorm:"size:32;not null"`
	Description          string `gorm:"size:2048"`
	NotificationTemplate string `gorm:"type:text"`
	// Channels is a comma-separated subset of WHATSAPP,INSTAGRAM.
	Channels string `gorm:"size:64;not null"`
	// Debug turns on verbose logging of this account's traffic (Motion's Sinch
	// V2 guide, troubleshooting: "set motion to debug and check logs").
	Debug bool `gorm:"not null;default:false"`
	// TransferOptions and ActionFlow are account settings (JSON documents
	// of TransferOptions and []FlowStep; "" when not set), copied by the
	// account migration with the rest of the settings.
	TransferOptions string `gorm:"type:text"`
	ActionFlow      string `gorm:"type:text"`
	// RoutingStrategy overrides the queues' strategy for this account's
	// interactions ("" keeps each queue's own); AgentNotifyTimeoutSeconds
	// is how long an offer waits for an agent to accept before the
	// interaction moves on (0: until the queue's timeout);
	// InactivityTimeoutSeconds overrides INTERACTION_INACTIVITY_TIMEOUT
	// (0: the global default).
	RoutingStrategy           QueueStrategy `gorm:"size:32;not null;default:''"`
	AgentNotifyTimeoutSeconds int           `gorm:"not null;default:0"`
	InactivityTimeoutSeconds  int           `gorm:"not null;default:0"`
	// Status is active, migrated (moved to MigratedToAccountID: it opens
	// no new interaction, open ones finish here) or disabled (a cancelled
	// migration's target: it opens no interaction). StatusReason says why.
	Status              AccountStatus `gorm:"size:16;not null;default:'active'"`
	StatusReason        string        `gorm:"type:text"`
	MigratedToAccountID *uint64
	MigratedAt          *time.Time
	// LastProcessingMode is the Sinch processing mode seen on the latest
	// callback; in DISPATCH mode Sinch sends no contact id, so agents cannot
	// reply (Sinch's processing-modes page; Motion's Sinch V2 guide requires
	// Conversation mode), and the API warns.
	LastProcessingMode ProcessingMode `gorm:"size:16"`
	// QualityRating is the latest WhatsApp quality rating from CHANNEL_EVENT.
	QualityRating   string `gorm:"size:32"`
	QualityRatingAt *time.Time
	// SendRatePerSecond caps messages:send calls to the account's Sinch app
	// across every worker (0: the default, Sinch's 20/s per app).
	SendRatePerSecond float64 `gorm:"not null;default:0"`
	// PolicyFailureStreak counts consecutive outbound failures with a Meta
	// policy code (reset by a delivered or read message); past a threshold
	// the account shows "may be blocked by Meta".
	PolicyFailureStreak   int    `gorm:"not null;default:0"`
	PolicyFailureLastCode string `gorm:"size:64"`
	PolicyFailureAt       *time.Time
	// MediaWarning is the latest problem saving this account's attachments
	// on the connector (e.g. disk space low), cleared by the next file
	// stored; MediaWarningAt is when it was seen.
	MediaWarning   string `gorm:"type:text"`
	MediaWarningAt *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
	DeletedAt      gorm.DeletedAt `gorm:"index"`
}

// AccountEvent records something Sinch told about an account as a whole
// (CHANNEL_EVENT such as a quality rating change, capability, opt-in/out).
// Index ix_account_events_kind (account_id, kind, id) is made by migration
// 2026120203 for retention's "newest of each kind".
type AccountEvent struct {
	ID        uint64 `gorm:"primaryKey"`
	AccountID uint64 `gorm:"not null;index"`
	Account   Account
	// Kind is the trigger (CHANNEL_EVENT, …); Type the channel's event type.
	Kind string `gorm:"size:64;not null"`
	Type string `gorm:"size:128"`
	// Payload is the raw JSON of the notification.
	Payload    string `gorm:"type:text"`
	OccurredAt time.Time
	CreatedAt  time.Time
}

// Disposition is an outcome an agent may pick when closing an interaction of
// an account.
type Disposition struct {
	ID        uint64 `gorm:"primaryKey"`
	AccountID uint64 `gorm:"not null;uniqueIndex:ux_dispositions_account_name"`
	Account   Account
	Name      string `gorm:"size:255;not null;uniqueIndex:ux_dispositions_account_name"`
	CreatedAt time.Time
}

// CannedAnswer is a prepared reply agents can send on an account: Text is
// a mustache template (contact.name, contact.mobile, agent.name,
// account.name). Key is the lower-cased title, unique per account.
type CannedAnswer struct {
	ID        uint64 `gorm:"primaryKey"`
	AccountID uint64 `gorm:"not null;uniqueIndex:ux_canned_answers_account_key"`
	Account   Account
	Key       string `gorm:"size:100;not null;uniqueIndex:ux_canned_answers_account_key"`
	Title     string `gorm:"size:100;not null;default:''"`
	Text      string `gorm:"type:text;not null"`
	// Position orders the answers as the admin listed them.
	Position  int `gorm:"not null;default:0"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// OpensInteractions reports whether a new contact message may open an
// interaction on the account (not migrated, not disabled).
func (a Account) OpensInteractions() bool {
	return a.Status == "" || a.Status == AccountActive
}

// ServesChannel reports whether the account serves a Sinch channel
// (WHATSAPP, INSTAGRAM), case-insensitively.
func (a Account) ServesChannel(channel string) bool {
	for _, c := range strings.Split(a.Channels, ",") {
		if strings.EqualFold(strings.TrimSpace(c), channel) {
			return true
		}
	}
	return false
}
