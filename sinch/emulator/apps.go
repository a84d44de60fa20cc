package emulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Processing modes of an app.
const (
	ModeConversation = "CONVERSATION"
	ModeDispatch     = "DISPATCH"
)

// Channels the emulated apps have configured (Motion's Sinch V2 guide: only
// WhatsApp and Instagram are used).
const (
	ChannelWhatsApp  = "WHATSAPP"
	ChannelInstagram = "INSTAGRAM"
)

// maxDispatchRetentionDays is the longest dispatch retention Sinch allows.
const maxDispatchRetentionDays = 7

// SenderID is the app's phone number, the sender_id of every inbound
// message.
const SenderID = "46700000000"

// App is a Conversation API app with its project's access key and its
// webhook. KeySecret and WebhookSecret are write-only: the HTTP API never
// returns them.
type App struct {
	AppID     string `json:"appId"`
	ProjectID string `json:"projectId"`
	// Region is eu, us or br; sends must use the same region.
	Region string `json:"region"`
	// ProcessingMode is CONVERSATION (default) or DISPATCH.
	ProcessingMode string `json:"processingMode"`
	// DispatchRetentionDays is the ttl_days (0 to 7) of the app's dispatch
	// retention policy: how long messages processed in DISPATCH mode stay
	// listable. 0, the default, keeps none, as Sinch does.
	DispatchRetentionDays int    `json:"dispatchRetentionDays"`
	WebhookURL            string `json:"webhookUrl"`
	// WebhookSecret signs callbacks; empty sends them unsigned, like Sinch.
	WebhookSecret string `json:"webhookSecret,omitempty"`
	// KeyID and KeySecret are the project access key that obtains tokens.
	KeyID     string `json:"keyId"`
	KeySecret string `json:"keySecret,omitempty"`
}

// state is everything the emulator remembers, guarded by Server.mu.
type state struct {
	apps   map[string]*App
	keys   map[string]accessKey
	tokens map[string]tokenInfo
	// contacts are per project and channel identity; conversations per app
	// and contact (CONVERSATION mode only).
	contactsByKey map[string]*contact
	contactsByID  map[string]*contact
	conversations map[string]*conversation
	outbox        map[string][]*outMessage
	inbox         map[string][]*inMessage
	faults        map[string][]*activeFault
	attempts      map[string][]Attempt
}

func newState() state {
	return state{
		apps: map[string]*App{}, keys: map[string]accessKey{}, tokens: map[string]tokenInfo{},
		contactsByKey: map[string]*contact{}, contactsByID: map[string]*contact{},
		conversations: map[string]*conversation{}, outbox: map[string][]*outMessage{},
		inbox: map[string][]*inMessage{}, faults: map[string][]*activeFault{}, attempts: map[string][]Attempt{},
	}
}

// accessKey is a project access key (Settings → Access Keys).
type accessKey struct{ secret, projectID string }

// tokenInfo is an issued OAuth2 token.
type tokenInfo struct {
	keyID, projectID string
	expires          time.Time
}

// contact is a Sinch contact with one channel identity.
type contact struct{ id, projectID, channel, identity string }

// conversation is the app's conversation with a contact; it keeps what
// Sinch propagates from sends to later inbound callbacks.
type conversation struct {
	id            string
	correlationID string
	metadata      json.RawMessage
}

// CreateApp registers an app, as POST /emulator/apps does. Errors wrap
// ErrInvalid (a missing or bad field, a key id reused with another secret or
// project) or ErrAppExists.
func (s *Server) CreateApp(a App) error {
	a.Region = strings.ToLower(strings.TrimSpace(a.Region))
	a.ProcessingMode = strings.ToUpper(strings.TrimSpace(a.ProcessingMode))
	if a.ProcessingMode == "" {
		a.ProcessingMode = ModeConversation
	}
	for _, f := range []struct{ name, value string }{
		{"appId", a.AppID}, {"projectId", a.ProjectID}, {"region", a.Region},
		{"keyId", a.KeyID}, {"keySecret", a.KeySecret}, {"webhookUrl", a.WebhookURL},
	} {
		if strings.TrimSpace(f.value) == "" {
			return invalidf("%s is required", f.name)
		}
	}
	switch a.Region {
	case "eu", "us", "br":
	default:
		return invalidf("region must be eu, us or br, got %q", a.Region)
	}
	if a.ProcessingMode != ModeConversation && a.ProcessingMode != ModeDispatch {
		return invalidf("processingMode must be CONVERSATION or DISPATCH, got %q", a.ProcessingMode)
	}
	if a.DispatchRetentionDays < 0 || a.DispatchRetentionDays > maxDispatchRetentionDays {
		return invalidf("dispatchRetentionDays must be between 0 and %d, got %d", maxDispatchRetentionDays, a.DispatchRetentionDays)
	}
	if u, err := url.Parse(a.WebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalidf("webhookUrl must be an absolute http(s) URL, got %q", a.WebhookURL)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.apps[a.AppID]; ok {
		return ErrAppExists
	}
	if k, ok := s.keys[a.KeyID]; ok && (k.secret != a.KeySecret || k.projectID != a.ProjectID) {
		return invalidf("keyId %q is already registered with another secret or project", a.KeyID)
	}
	s.keys[a.KeyID] = accessKey{secret: a.KeySecret, projectID: a.ProjectID}
	s.apps[a.AppID] = &a
	return nil
}

// app returns a copy of a registered app.
func (s *Server) app(appID string) (App, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps[appID]
	if !ok {
		return App{}, false
	}
	return *a, true
}

func (s *Server) handleCreateApp(w http.ResponseWriter, r *http.Request) {
	var a App
	if err := decodeStrict(r, w, &a); err != nil {
		writeEmulatorError(w, err)
		return
	}
	if err := s.CreateApp(a); err != nil {
		writeEmulatorError(w, err)
		return
	}
	created, _ := s.app(a.AppID)
	created.KeySecret, created.WebhookSecret = "", ""
	writeJSON(w, http.StatusCreated, created)
}

// contactFor returns the contact and the app's conversation for a channel
// identity, creating both on first use (CONVERSATION mode). Callers hold
// s.mu.
func (s *Server) contactFor(app App, channel, identity string) (*contact, *conversation) {
	key := app.ProjectID + "\x00" + channel + "\x00" + identity
	c, ok := s.contactsByKey[key]
	if !ok {
		c = &contact{id: newULID(s.now()), projectID: app.ProjectID, channel: channel, identity: identity}
		s.contactsByKey[key], s.contactsByID[c.id] = c, c
	}
	return c, s.conversationFor(app, c)
}

// conversationFor returns the app's conversation with c, creating it.
// Callers hold s.mu.
func (s *Server) conversationFor(app App, c *contact) *conversation {
	key := app.AppID + "\x00" + c.id
	conv, ok := s.conversations[key]
	if !ok {
		conv = &conversation{id: newULID(s.now())}
		s.conversations[key] = conv
	}
	return conv
}

// normalizeIdentity drops the "+" of an MSISDN: WhatsApp identities are
// digits only.
func normalizeIdentity(id string) string {
	return strings.TrimPrefix(strings.TrimSpace(id), "+")
}
