// Package sinchsetup reads and corrects the Sinch side of one account: the
// app's processing mode and channels, and the webhook that posts its
// callbacks to the account's Receive URL with every trigger the connector
// needs and the account's secret (the rows of Motion's Sinch V2
// troubleshooting table an admin otherwise checks by hand in the Sinch
// dashboard: https, webhook URL, webhook events, webhook secret, the Motion
// account id in the URL, processing mode, all triggers).
//
// Inspect reads (GET app, list webhooks) and reports problems with their
// fix; Plan says what Apply would change; Apply changes only webhooks: it
// creates the account's webhook, patches it when triggers or secret
// differ, removes extra copies of it, and removes a stale webhook of the
// connector (one that points at another Receive URL) only when asked. It
// never touches a webhook that points elsewhere, never changes the app
// itself, and never reveals a secret (they are compared in constant time).
// It imports only the sinch package: the caller supplies the account's
// Receive URL, secret and channels and stores a generated secret.
package sinchsetup

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/xcally-connector/connector/sinch"
)

// Client is the part of *sinch.Client that reads and manages an app.
type Client interface {
	GetApp(ctx context.Context) (sinch.App, error)
	ListWebhooks(ctx context.Context) ([]sinch.Webhook, error)
	CreateWebhook(ctx context.Context, w sinch.Webhook) (sinch.Webhook, error)
	UpdateWebhook(ctx context.Context, id string, w sinch.Webhook, mask []string) (sinch.Webhook, error)
	DeleteWebhook(ctx context.Context, id string) error
}

// Want is what the account needs of its Sinch app.
type Want struct {
	// ReceiveURL is the account's webhook target.
	ReceiveURL string
	// Secret is the account's webhook secret ("": none yet).
	Secret string
	// Channels are the account's channels (WHATSAPP, INSTAGRAM).
	Channels []string
}

// Secret states of a webhook, compared with the account's secret.
const (
	SecretMatches  = "matches"
	SecretDiffers  = "differs"
	SecretMissing  = "missing"   // the webhook has none: callbacks arrive unsigned
	SecretNotSetUp = "not_setup" // the account has none to compare with
)

// Problem codes.
const (
	ProblemDispatchMode     = "dispatch_mode"
	ProblemChannelMissing   = "channel_missing"
	ProblemNoWebhook        = "no_webhook"
	ProblemTriggersMissing  = "triggers_missing"
	ProblemSecretDiffers    = "secret_differs"
	ProblemSecretMissing    = "secret_missing"
	ProblemNoAccountSecret  = "no_account_secret"
	ProblemDuplicateWebhook = "duplicate_webhook"
	ProblemStaleWebhook     = "stale_webhook"
	ProblemWebhookLimit     = "webhook_limit"
	ProblemNotHTTPS         = "receive_url_not_https"
)

// Report is what Sinch says about the account's app, and what is wrong.
type Report struct {
	AppID          string `json:"appId"`
	DisplayName    string `json:"displayName,omitempty"`
	ReceiveURL     string `json:"receiveUrl"`
	ProcessingMode string `json:"processingMode"`
	// Channels are the app's; MissingChannels those of the account the
	// app does not have.
	Channels        []string    `json:"channels"`
	AccountChannels []string    `json:"accountChannels"`
	MissingChannels []string    `json:"missingChannels"`
	RateLimits      *RateLimits `json:"rateLimits,omitempty"`
	QueueStats      *QueueStats `json:"queueStats,omitempty"`
	Webhooks        []Webhook   `json:"webhooks"`
	// FreeWebhookSlots is how many more webhooks the app may have (Sinch
	// allows 5).
	FreeWebhookSlots int       `json:"freeWebhookSlots"`
	Problems         []Problem `json:"problems"`
	// OK is true when there is no problem.
	OK bool `json:"ok"`
}

// RateLimits are the app's rates per second.
type RateLimits struct {
	Inbound  int `json:"inbound"`
	Outbound int `json:"outbound"`
	Webhooks int `json:"webhooks"`
}

// QueueStats is the app's outbound queue.
type QueueStats struct {
	OutboundSize  int `json:"outboundSize"`
	OutboundLimit int `json:"outboundLimit"`
}

// Webhook is one webhook of the app as the account sees it. Its secret is
// never shown: Secret says how it compares with the account's.
type Webhook struct {
	ID         string   `json:"id"`
	Target     string   `json:"target"`
	TargetType string   `json:"targetType,omitempty"`
	Triggers   []string `json:"triggers"`
	// TargetsThisAccount: the target is the account's Receive URL.
	TargetsThisAccount bool `json:"targetsThisAccount"`
	// Connector: the target is a Receive URL of this connector
	// (/api/whatsapp/accounts/{id}/notify), this account's or not.
	Connector bool `json:"connector"`
	// MissingTriggers are the needed triggers the webhook lacks (only for
	// the account's webhook).
	MissingTriggers []string `json:"missingTriggers,omitempty"`
	Secret          string   `json:"secret"`
}

// Problem is one thing wrong with the Sinch side, and its fix.
type Problem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Fix     string `json:"fix"`
	// WebhookID names the webhook it is about, if any.
	WebhookID string `json:"webhookId,omitempty"`
}

// receivePath matches the connector's Receive URL path.
var receivePath = regexp.MustCompile(`/api/whatsapp/accounts/[0-9]+/notify/?$`)

// State is what Sinch says about an app: the app and its webhooks, as
// read. It holds the webhooks' secrets: never show it, Assess it.
type State struct {
	App      sinch.App
	Webhooks []sinch.Webhook
}

// Inspect reads the app and its webhooks. Errors are Sinch's
// (*sinch.APIError) or the context's.
func Inspect(ctx context.Context, c Client) (State, error) {
	app, err := c.GetApp(ctx)
	if err != nil {
		return State{}, err
	}
	hooks, err := c.ListWebhooks(ctx)
	if err != nil {
		return State{}, err
	}
	return State{App: app, Webhooks: hooks}, nil
}

// Assess reports what is wrong with an app and its webhooks for the
// account.
func Assess(st State, want Want) Report {
	app, hooks := st.App, st.Webhooks
	r := Report{
		AppID: app.ID, DisplayName: app.DisplayName, ReceiveURL: want.ReceiveURL, ProcessingMode: app.ProcessingMode,
		Channels: app.Channels(), AccountChannels: want.Channels, MissingChannels: []string{},
		Webhooks: []Webhook{}, Problems: []Problem{},
		FreeWebhookSlots: max(0, sinch.MaxWebhooksPerApp-len(hooks)),
	}
	if l := app.RateLimits; l != nil {
		r.RateLimits = &RateLimits{Inbound: l.Inbound, Outbound: l.Outbound, Webhooks: l.Webhooks}
	}
	if q := app.QueueStats; q != nil {
		r.QueueStats = &QueueStats{OutboundSize: q.OutboundSize, OutboundLimit: q.OutboundLimit}
	}
	add := func(p Problem) { r.Problems = append(r.Problems, p) }
	if app.ProcessingMode == sinch.ProcessingModeDispatch {
		add(Problem{Code: ProblemDispatchMode,
			Message: fmt.Sprintf("Sinch app %s is in DISPATCH mode: Sinch keeps no contacts or conversations, and agents cannot reply", app.ID),
			Fix:     "set the app's processing mode to CONVERSATION in the Sinch dashboard (Conversation API, Apps, the app's settings)"})
	}
	for _, ch := range want.Channels {
		if !slices.ContainsFunc(r.Channels, func(c string) bool { return strings.EqualFold(c, ch) }) {
			r.MissingChannels = append(r.MissingChannels, ch)
			add(Problem{Code: ProblemChannelMissing,
				Message: fmt.Sprintf("the account serves %s but Sinch app %s has no %s channel (it has: %s)", ch, app.ID, ch, orNone(r.Channels)),
				Fix:     fmt.Sprintf("add the %s channel to the app in the Sinch dashboard, or remove %s from the account's channels", ch, ch)})
		}
	}
	if u, err := url.Parse(want.ReceiveURL); err == nil && u.Scheme != "https" {
		add(Problem{Code: ProblemNotHTTPS,
			Message: "the Receive URL " + want.ReceiveURL + " is not https: Sinch's webhooks need an https target in production",
			Fix:     "set the account's publicUrl to the https address of the proxy or Motion domain Sinch reaches"})
	}
	ours := 0
	for _, h := range hooks {
		w := Webhook{ID: h.ID, Target: h.Target, TargetType: h.TargetType, Triggers: h.Triggers,
			TargetsThisAccount: sameURL(h.Target, want.ReceiveURL), Connector: isReceiveURL(h.Target)}
		if w.Triggers == nil {
			w.Triggers = []string{}
		}
		w.Secret = compareSecret(h.Secret, want.Secret)
		switch {
		case w.TargetsThisAccount:
			ours++
			w.MissingTriggers = missingTriggers(h.Triggers)
			if ours > 1 {
				add(Problem{Code: ProblemDuplicateWebhook, WebhookID: h.ID,
					Message: fmt.Sprintf("webhook %s is a second webhook to the Receive URL: every callback arrives twice", h.ID),
					Fix:     "POST …/sinch/setup removes the extra copy"})
				break
			}
			if len(w.MissingTriggers) > 0 {
				add(Problem{Code: ProblemTriggersMissing, WebhookID: h.ID,
					Message: fmt.Sprintf("webhook %s lacks the triggers %s: those callbacks never reach the connector", h.ID, strings.Join(w.MissingTriggers, ", ")),
					Fix:     "POST …/sinch/setup adds every trigger the connector needs"})
			}
			switch w.Secret {
			case SecretDiffers:
				add(Problem{Code: ProblemSecretDiffers, WebhookID: h.ID,
					Message: fmt.Sprintf("webhook %s signs with another secret than the account's: every callback is refused (401 signature_invalid)", h.ID),
					Fix:     "POST …/sinch/setup sets the account's secret on the webhook"})
			case SecretMissing:
				add(Problem{Code: ProblemSecretMissing, WebhookID: h.ID,
					Message: fmt.Sprintf("webhook %s has no secret: its callbacks arrive unsigned and the account refuses them (401 signature_missing)", h.ID),
					Fix:     "POST …/sinch/setup sets the account's secret on the webhook"})
			case SecretNotSetUp:
				add(Problem{Code: ProblemNoAccountSecret, WebhookID: h.ID,
					Message: "the account has no webhook secret: callbacks cannot be verified",
					Fix:     "POST …/sinch/setup generates a secret and sets it on the account and the webhook"})
			}
		case w.Connector:
			add(Problem{Code: ProblemStaleWebhook, WebhookID: h.ID,
				Message: fmt.Sprintf("webhook %s posts to %s, a Receive URL of the connector that is not this account's (%s): an old URL or another account's", h.ID, h.Target, want.ReceiveURL),
				Fix:     `POST …/sinch/setup with {"removeStale": true} removes it`})
		}
		r.Webhooks = append(r.Webhooks, w)
	}
	if ours == 0 {
		p := Problem{Code: ProblemNoWebhook,
			Message: fmt.Sprintf("Sinch app %s has no webhook to %s: no callback reaches the account", app.ID, want.ReceiveURL),
			Fix:     "POST …/sinch/setup creates it with every trigger and the account's secret"}
		add(p)
		if len(hooks) >= sinch.MaxWebhooksPerApp {
			add(Problem{Code: ProblemWebhookLimit,
				Message: fmt.Sprintf("Sinch app %s already has %d webhooks, the most Sinch allows: the account's cannot be added", app.ID, len(hooks)),
				Fix:     `remove a webhook the app no longer needs in the Sinch dashboard (or POST …/sinch/setup with {"removeStale": true} if one is a stale webhook of the connector)`})
		}
	}
	r.OK = len(r.Problems) == 0
	return r
}

// missingTriggers are the connector's triggers not in have.
func missingTriggers(have []string) []string {
	var out []string
	for _, t := range sinch.ConnectorTriggers {
		if !slices.Contains(have, t) {
			out = append(out, t)
		}
	}
	return out
}

// compareSecret compares a webhook's secret with the account's in
// constant time.
func compareSecret(webhook, account string) string {
	switch {
	case account == "":
		return SecretNotSetUp
	case webhook == "":
		// Sinch returns the secret of a webhook that has one; an empty
		// field is a webhook without.
		return SecretMissing
	case subtle.ConstantTimeCompare([]byte(webhook), []byte(account)) == 1:
		return SecretMatches
	default:
		return SecretDiffers
	}
}

// sameURL compares two URLs ignoring the case of scheme and host and a
// trailing slash.
func sameURL(a, b string) bool {
	ua, errA := url.Parse(strings.TrimSpace(a))
	ub, errB := url.Parse(strings.TrimSpace(b))
	if errA != nil || errB != nil {
		return a == b
	}
	return strings.EqualFold(ua.Scheme, ub.Scheme) && strings.EqualFold(ua.Host, ub.Host) &&
		strings.TrimSuffix(ua.EscapedPath(), "/") == strings.TrimSuffix(ub.EscapedPath(), "/") && ua.RawQuery == ub.RawQuery
}

// isReceiveURL reports whether target is a Receive URL of the connector.
func isReceiveURL(target string) bool {
	u, err := url.Parse(target)
	return err == nil && receivePath.MatchString(u.Path)
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// secretBytes is the entropy of a generated webhook secret.
const secretBytes = 32

// NewSecret is a generated webhook secret: 32 random bytes, base64url (43
// characters), the HMAC key Sinch signs callbacks with.
func NewSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("webhook secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
