package emulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/xcally-connector/connector/sinch"
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

// Channels are Sinch's conversation channels an app may have configured
// (ConversationChannel of Sinch's SDKs). The emulator delivers on all of
// them alike; WhatsApp and Instagram are the ones the connector uses.
var Channels = []string{
	ChannelWhatsApp, ChannelInstagram, "RCS", "SMS", "MESSENGER", "VIBER", "VIBERBM", "MMS",
	"TELEGRAM", "KAKAOTALK", "KAKAOTALKCHAT", "LINE", "WECHAT", "APPLEBC",
}

// DefaultChannels are the channels of an app created without Channels.
var DefaultChannels = []string{ChannelWhatsApp, ChannelInstagram}

// App is a Conversation API app with its project's access key. KeySecret
// and WebhookSecret are write-only: the HTTP API never returns them.
//
// WebhookURL, when set, gives the app a first webhook at creation: every
// trigger of sinch.ConnectorTriggers, signed with WebhookSecret (unsigned
// when empty, like Sinch). An app created without it has no webhook until
// one is made through Sinch's webhooks API (CreateWebhook).
type App struct {
	AppID     string `json:"appId"`
	ProjectID string `json:"projectId"`
	// DisplayName is the app's display_name (default: the app id).
	DisplayName string `json:"displayName,omitempty"`
	// Region is eu, us or br; sends must use the same region.
	Region string `json:"region"`
	// ProcessingMode is CONVERSATION (default) or DISPATCH.
	ProcessingMode string `json:"processingMode"`
	// DispatchRetentionDays is the ttl_days (0 to 7) of the app's dispatch
	// retention policy: how long messages processed in DISPATCH mode stay
	// listable. 0, the default, keeps none, as Sinch does.
	DispatchRetentionDays int `json:"dispatchRetentionDays"`
	// Channels are the channels configured on the app (names of Channels),
	// in priority order; nil means DefaultChannels. Sends and inbound
	// messages on another channel are refused.
	Channels   []string `json:"channels,omitempty"`
	WebhookURL string   `json:"webhookUrl"`
	// WebhookSecret signs the callbacks of the WebhookURL webhook.
	WebhookSecret string `json:"webhookSecret,omitempty"`
	// KeyID and KeySecret are the project access key that obtains tokens.
	KeyID     string `json:"keyId"`
	KeySecret string `json:"keySecret,omitempty"`
}

// hasChannel reports whether ch is configured on the app.
func (a App) hasChannel(ch string) bool { return slices.Contains(a.Channels, ch) }

// state is everything the emulator remembers, guarded by Server.mu.
type state struct {
	apps   map[string]*App
	keys   map[string]accessKey
	tokens map[string]tokenInfo
	// webhooks are per app, in creation order.
	webhooks map[string][]*hook
	// contacts are per project and channel identity; conversations per app
	// and contact (CONVERSATION mode only).
	contactsByKey map[string]*contact
	contactsByID  map[string]*contact
	conversations map[string]*conversation
	outbox        map[string][]*outMessage
	inbox         map[string][]*inMessage
	faults        map[string][]*activeFault
	attempts      map[string][]Attempt
	dropped       map[string][]Attempt
	// restoredApps and restoredKeys were loaded from the state file and not
	// registered again since: CreateApp may replace them once.
	restoredApps map[string]bool
	restoredKeys map[string]bool
	// gen counts the changes to what the state file holds.
	gen uint64
}

func newState() state {
	return state{
		apps: map[string]*App{}, keys: map[string]accessKey{}, tokens: map[string]tokenInfo{},
		webhooks:      map[string][]*hook{},
		contactsByKey: map[string]*contact{}, contactsByID: map[string]*contact{},
		conversations: map[string]*conversation{}, outbox: map[string][]*outMessage{},
		inbox: map[string][]*inMessage{}, faults: map[string][]*activeFault{}, attempts: map[string][]Attempt{},
		dropped: map[string][]Attempt{}, restoredApps: map[string]bool{}, restoredKeys: map[string]bool{},
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
//
// An app (or key) loaded from Options.StateFile may be registered once
// more: CreateApp then replaces its settings and key secret, and its
// WebhookURL webhook (the other webhooks, contacts and messages stay), so
// that a restarted `dev --demo` can rotate its secrets.
func (s *Server) CreateApp(a App) error {
	a.Region = strings.ToLower(strings.TrimSpace(a.Region))
	a.ProcessingMode = strings.ToUpper(strings.TrimSpace(a.ProcessingMode))
	if a.ProcessingMode == "" {
		a.ProcessingMode = ModeConversation
	}
	for _, f := range []struct{ name, value string }{
		{"appId", a.AppID}, {"projectId", a.ProjectID}, {"region", a.Region},
		{"keyId", a.KeyID}, {"keySecret", a.KeySecret},
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
	if err := checkMode(a.ProcessingMode); err != nil {
		return err
	}
	if err := checkRetention(a.DispatchRetentionDays); err != nil {
		return err
	}
	if a.DisplayName == "" {
		a.DisplayName = a.AppID
	}
	channels, err := normalizeChannels(a.Channels)
	if err != nil {
		return err
	}
	a.Channels = channels
	var first *hook
	if a.WebhookURL != "" {
		if u, err := url.Parse(a.WebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return invalidf("webhookUrl must be an absolute http(s) URL, got %q", a.WebhookURL)
		}
		if err := checkTarget(a.WebhookURL); err != nil {
			return invalidf("webhookUrl: %s", strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
		}
		first = &hook{Webhook: Webhook{
			ID: newULID(s.now()), AppID: a.AppID, Target: a.WebhookURL, TargetType: sinch.WebhookTargetTypeHTTP,
			Secret: a.WebhookSecret, Triggers: slices.Clone(sinch.ConnectorTriggers),
		}, fromApp: true}
	}
	s.mu.Lock()
	if _, ok := s.apps[a.AppID]; ok && !s.restoredApps[a.AppID] {
		s.mu.Unlock()
		return ErrAppExists
	}
	if k, ok := s.keys[a.KeyID]; ok && (k.projectID != a.ProjectID || (k.secret != a.KeySecret && !s.restoredKeys[a.KeyID])) {
		s.mu.Unlock()
		return invalidf("keyId %q is already registered with another secret or project", a.KeyID)
	}
	// A restored app keeps the webhooks made through the webhooks API; its
	// WebhookURL webhook is made afresh.
	var hooks []*hook
	for _, h := range s.webhooks[a.AppID] {
		if !h.fromApp {
			hooks = append(hooks, h)
		}
	}
	if first != nil {
		for _, h := range hooks {
			if h.Target == first.Target {
				s.mu.Unlock()
				return invalidf("webhookUrl %s is already the target of webhook %s of the app", h.Target, h.ID)
			}
		}
		if len(hooks) >= sinch.MaxWebhooksPerApp {
			s.mu.Unlock()
			return invalidf("webhookUrl: the app already has %d webhooks, the most Sinch allows", sinch.MaxWebhooksPerApp)
		}
		hooks = append(hooks, first)
	}
	s.webhooks[a.AppID] = hooks
	if len(hooks) == 0 {
		delete(s.webhooks, a.AppID)
	}
	delete(s.restoredApps, a.AppID)
	delete(s.restoredKeys, a.KeyID)
	s.keys[a.KeyID] = accessKey{secret: a.KeySecret, projectID: a.ProjectID}
	s.apps[a.AppID] = &a
	gen := s.changed()
	s.mu.Unlock()
	s.commit(gen)
	return nil
}

func checkMode(mode string) error {
	if mode != ModeConversation && mode != ModeDispatch {
		return invalidf("processingMode must be CONVERSATION or DISPATCH, got %q", mode)
	}
	return nil
}

func checkRetention(days int) error {
	if days < 0 || days > maxDispatchRetentionDays {
		return invalidf("dispatchRetentionDays must be between 0 and %d, got %d", maxDispatchRetentionDays, days)
	}
	return nil
}

// normalizeChannels upper-cases a channel list and checks it: known
// channels, no repeats; nil is DefaultChannels.
func normalizeChannels(in []string) ([]string, error) {
	if in == nil {
		return slices.Clone(DefaultChannels), nil
	}
	out := make([]string, 0, len(in))
	for _, ch := range in {
		ch = strings.ToUpper(strings.TrimSpace(ch))
		switch {
		case !slices.Contains(Channels, ch):
			return nil, invalidf("channels: %q is not a Conversation API channel (%s)", ch, strings.Join(Channels, ", "))
		case slices.Contains(out, ch):
			return nil, invalidf("channels: %s is listed twice", ch)
		}
		out = append(out, ch)
	}
	return out, nil
}

// AppUpdate changes the settings of an app (PATCH /emulator/apps/{app}):
// the fields that are not nil.
type AppUpdate struct {
	DisplayName           *string  `json:"displayName,omitempty"`
	ProcessingMode        *string  `json:"processingMode,omitempty"`
	DispatchRetentionDays *int     `json:"dispatchRetentionDays,omitempty"`
	Channels              []string `json:"channels,omitempty"`
}

// UpdateApp applies u to an app and returns it (secrets blanked). Errors
// wrap ErrInvalid or ErrAppNotFound. Messages already accepted keep the
// mode they were processed in.
func (s *Server) UpdateApp(appID string, u AppUpdate) (App, error) {
	var mode string
	if u.ProcessingMode != nil {
		mode = strings.ToUpper(strings.TrimSpace(*u.ProcessingMode))
		if err := checkMode(mode); err != nil {
			return App{}, err
		}
	}
	if u.DispatchRetentionDays != nil {
		if err := checkRetention(*u.DispatchRetentionDays); err != nil {
			return App{}, err
		}
	}
	var channels []string
	if u.Channels != nil {
		var err error
		if channels, err = normalizeChannels(u.Channels); err != nil {
			return App{}, err
		}
	}
	s.mu.Lock()
	a, ok := s.apps[appID]
	if !ok {
		s.mu.Unlock()
		return App{}, ErrAppNotFound
	}
	next := *a
	if u.DisplayName != nil {
		next.DisplayName = *u.DisplayName
	}
	if mode != "" {
		next.ProcessingMode = mode
	}
	if u.DispatchRetentionDays != nil {
		next.DispatchRetentionDays = *u.DispatchRetentionDays
	}
	if channels != nil {
		next.Channels = channels
	}
	s.apps[appID] = &next
	gen := s.changed()
	s.mu.Unlock()
	s.commit(gen)
	next.KeySecret, next.WebhookSecret = "", ""
	return next, nil
}

// SetProcessingMode switches an app to CONVERSATION or DISPATCH mode.
func (s *Server) SetProcessingMode(appID, mode string) error {
	_, err := s.UpdateApp(appID, AppUpdate{ProcessingMode: &mode})
	return err
}

// SetChannels sets the channels configured on an app (names of Channels;
// an empty list leaves it none).
func (s *Server) SetChannels(appID string, channels []string) error {
	if channels == nil {
		channels = []string{}
	}
	_, err := s.UpdateApp(appID, AppUpdate{Channels: channels})
	return err
}

// App returns a registered app, secrets blanked. Errors: ErrAppNotFound.
func (s *Server) App(appID string) (App, error) {
	a, ok := s.app(appID)
	if !ok {
		return App{}, ErrAppNotFound
	}
	a.KeySecret, a.WebhookSecret = "", ""
	return a, nil
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
	created, _ := s.App(a.AppID)
	writeJSON(w, http.StatusCreated, created)
}

// handleGetApp is GET /emulator/apps/{appId}.
func (s *Server) handleGetApp(w http.ResponseWriter, r *http.Request) {
	a, err := s.App(r.PathValue("appId"))
	if err != nil {
		writeEmulatorError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// handleUpdateApp is PATCH /emulator/apps/{appId}.
func (s *Server) handleUpdateApp(w http.ResponseWriter, r *http.Request) {
	var u AppUpdate
	if err := decodeStrict(r, w, &u); err != nil {
		writeEmulatorError(w, err)
		return
	}
	a, err := s.UpdateApp(r.PathValue("appId"), u)
	if err != nil {
		writeEmulatorError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
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
