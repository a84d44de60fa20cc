// Package config loads the connector's configuration from environment
// variables. Every variable has a default that makes `connector dev` work on a
// fresh machine with no variables at all; the production roles (api, worker)
// additionally require the secrets that dev may generate for itself.
// config only reads and validates: it opens no connection and starts
// nothing (app does), and every variable is listed once, in vars.go.
package config

import (
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Role names the process being configured; validation differs per role.
type Role string

// The roles a connector process can take.
const (
	RoleDev      Role = "dev"
	RoleAPI      Role = "api"
	RoleWorker   Role = "worker"
	RoleMigrate  Role = "migrate"
	RoleEmulator Role = "emulator"
	// RoleRekey re-seals the stored secrets under the current key of
	// SECRET_KEYS (`connector rekey`): it needs only the database and the
	// keys.
	RoleRekey Role = "rekey"
)

// Config is every setting of the connector. Load fills it from the
// environment; Validate checks it for one role.
type Config struct {
	// DatabaseURL is a postgres DSN (postgres://… or key=value form) or a
	// SQLite file path (optionally prefixed with sqlite:).
	DatabaseURL string
	// DatabaseMaxConns bounds the process's Postgres connection pool.
	DatabaseMaxConns int
	// DataDir holds dev-mode files: SQLite databases, generated secrets.
	DataDir string

	TemporalAddress   string
	TemporalNamespace string
	TemporalTaskQueue string
	// TemporalUIAddr is where dev serves the embedded Temporal Web UI.
	TemporalUIAddr string
	// TemporalDBPath is the SQLite file of the embedded engine (dev only).
	TemporalDBPath string
	// TemporalTLS is how api and worker reach a secured Temporal (TLS,
	// client certificate, API key).
	TemporalTLS TemporalClientTLS
	// Engine configures `connector engine` and dev's engine on Postgres.
	Engine Engine
	// EmulatorAddr is where dev (and `connector emulator`) serve the Sinch
	// emulator; empty in dev turns it off.
	EmulatorAddr string

	HTTPAddr string
	// PublicURL is the externally reachable origin of the API (the "Proxy or
	// Motion Domain" of Motion's Sinch V2 setup guide); receive URLs and
	// media URLs are built on it.
	PublicURL string
	// HTTPBodyLimit is the largest request body accepted, in bytes.
	HTTPBodyLimit int64
	// ShutdownTimeout bounds graceful shutdown of HTTP and worker.
	ShutdownTimeout time.Duration

	// WebhookTolerance is the largest accepted age of a signed callback's
	// timestamp. Sinch may retry a callback for about 45 h; if a retry
	// carries its original signature, a shorter window would refuse it.
	WebhookTolerance time.Duration
	// InactivityTimeout auto-closes an interaction with no message for that long.
	InactivityTimeout time.Duration
	// RoutingRecheck is how often a queued interaction retries routing.
	RoutingRecheck time.Duration

	// ReplyMaxResends bounds automatic resends of a reply after a
	// network-class failure; ReplyResendBackoff is the first wait (doubled
	// each time); ReplySendTimeout bounds how long one send is retried
	// (429, 5xx, network) before the reply fails visibly.
	ReplyMaxResends    int
	ReplyResendBackoff time.Duration
	ReplySendTimeout   time.Duration
	// SinchSendRate is the messages:send rate per Sinch app, shared by all
	// workers, for accounts without their own sendRatePerSecond.
	SinchSendRate float64
	// PolicyWarningStreak is how many consecutive Meta policy failures make
	// an account show "may be blocked by Meta".
	PolicyWarningStreak int
	// DiagnosticsCheckTimeout bounds each account diagnostics check;
	// DiagnosticsCallbackMaxAge is how long an account may go without a
	// verified callback before its diagnostics warn.
	DiagnosticsCheckTimeout   time.Duration
	DiagnosticsCallbackMaxAge time.Duration
	// ConsoleSessionIdle ends a console session unused this long;
	// ConsoleSessionMax ends any session this long after its sign-in.
	ConsoleSessionIdle time.Duration
	ConsoleSessionMax  time.Duration
	// TemporalUIURL is the Temporal Web UI the console links each
	// interaction's and migration's workflow to (dev: its embedded UI;
	// empty: no links).
	TemporalUIURL string
	// ReconcileAfterOutage: when the API starts after being down longer
	// than this, every account is reconciled over the gap (0: never).
	ReconcileAfterOutage time.Duration

	// MediaDir is where attachments are stored (content-addressed files).
	MediaDir string
	// MediaMaxBytes is the connector's own file size limit (the "Motion
	// limits" of Motion's Sinch V2 setup guide), checked before Sinch's and
	// WhatsApp's.
	MediaMaxBytes int64
	// MediaMinFreeBytes is the disk-space guard: below it, files are not
	// written (uploads get 507, fetches are retried and the account warns).
	MediaMinFreeBytes int64
	// MediaURLTTL is how long a signed media URL handed to Sinch is valid.
	MediaURLTTL time.Duration
	// MediaFetchTimeout bounds one download of a customer's file;
	// MediaFetchRetryFor is how long transient failures are retried.
	MediaFetchTimeout  time.Duration
	MediaFetchRetryFor time.Duration
	// MediaFetchAllowLoopback lists loopback host:port addresses exempt
	// from the fetch address policy (the Sinch emulator in dev and tests).
	MediaFetchAllowLoopback []netip.AddrPort

	// MigrationConfirmTimeout is how long an account migration waits for
	// the Sinch account manager's confirmation, with a reminder every
	// MigrationReminderEvery; MigrationFirstMessageTimeout how long it then
	// waits for the first customer message on the new account.
	MigrationConfirmTimeout      time.Duration
	MigrationReminderEvery       time.Duration
	MigrationFirstMessageTimeout time.Duration

	// RetentionAgentEvents and RetentionAccountEvents are how long
	// agent_events and account_events rows are kept (0: forever);
	// RetentionEvery is the interval of the retention schedule (0: no
	// schedule, nothing is pruned).
	RetentionAgentEvents   time.Duration
	RetentionAccountEvents time.Duration
	RetentionEvery         time.Duration
	// RetentionMedia is how long stored media files are kept (0: forever);
	// older files are deleted by the retention workflow and their links
	// answer 410.
	RetentionMedia time.Duration

	// HTTPWriteTimeout bounds writing one response (server-sent event
	// streams are exempt); HTTPReadTimeout bounds reading one request.
	HTTPWriteTimeout time.Duration
	HTTPReadTimeout  time.Duration
	// SSEMaxStreamsPerAgent caps an agent's open event streams: a new one
	// closes the oldest.
	SSEMaxStreamsPerAgent int
	// AuthFailureBurst and AuthFailureEvery are the token bucket of
	// authentication failures per client IP (AUTH_FAILURE_LIMIT, e.g. 20/1m:
	// 20 failures at once, refilled at 20 a minute); past it requests get
	// 429 with Retry-After. AuthFailureBurst 0 turns the limit off.
	AuthFailureBurst int
	AuthFailureEvery time.Duration
	// TrustedProxies are the networks whose X-Forwarded-For is believed
	// when finding a client's IP (rate limits, logs); empty: nobody's, the
	// client IP is the TCP peer.
	TrustedProxies []netip.Prefix
	// SinchAllowCustomURLs lets accounts use baseUrl/authUrl hosts other
	// than Sinch's own (dev sets it for the emulator).
	SinchAllowCustomURLs bool

	// AdminToken authorises admin routes (Authorization: Bearer …).
	AdminToken string
	// SecretKeys are the keys of SECRET_KEYS (nil when unset): the first
	// seals secrets at rest and signs media URLs, every one opens and
	// verifies, so keys rotate. SecretKey is the single key of SECRET_KEY
	// (or dev's generated $DATA_DIR/secret.key), the legacy form of one key
	// named LegacySecretKeyID. At most one of the two is set; SecretKeyRing
	// gives the keys of either.
	SecretKeys []CodecKey
	SecretKey  []byte
	// HashKeyID is PII_HASH_KEY_ID: the id of the key in SecretKeyRing the
	// identity hash is derived from (see IdentityKey).
	HashKeyID string

	// CodecKeys encrypt the payloads sent to Temporal (PII_CODEC_KEYS):
	// the first encrypts, every one decrypts, so keys rotate.
	CodecKeys []CodecKey
	// CodecToken authorises POST /codec/encode and /codec/decode
	// (Authorization: Bearer …); empty turns the codec endpoint off
	// (except dev's embedded UI, see docs/decisions.md §16).
	CodecToken string
	// CodecCORSOrigins are the browser origins (the Temporal UI's) allowed
	// to call the codec endpoint.
	CodecCORSOrigins []string
	// HashIdentities replaces the contact identity in workflow ids and the
	// ContactIdentity search attribute by a keyed hash (PII_HASH_IDENTITIES).
	HashIdentities bool

	LogLevel slog.Level
	// LogFormat is text or json; unset, Validate picks json for the api
	// and worker (log collectors) and text for the other roles.
	LogFormat string

	// MetricsAddr is where the worker serves GET /metrics ("off": not at
	// all); the api and dev serve it on HTTPAddr. MetricsToken, when set,
	// is the bearer token /metrics requires.
	MetricsAddr  string
	MetricsToken string

	// DevUIOrigins are the origins of dev's embedded Temporal UI, set by
	// dev itself (no variable): they may call the codec endpoint from
	// loopback without CODEC_TOKEN.
	DevUIOrigins []string

	// Generated lists the settings dev created for itself (name → file).
	Generated map[string]string

	// sinchCustomURLs is SINCH_ALLOW_CUSTOM_URLS as set ("" when unset:
	// dev then allows custom URLs for its emulator).
	sinchCustomURLs string
}

// Error is a configuration error that names the offending variable.
type Error struct {
	Var string
	Msg string
}

func (e *Error) Error() string { return e.Var + ": " + e.Msg }

// Defaults used when a variable is unset.
const (
	DefaultDataDir           = "./data"
	DefaultTemporalAddress   = "127.0.0.1:7233"
	DefaultTemporalNamespace = "default"
	DefaultTemporalTaskQueue = "whatsapp-connector"
	DefaultTemporalUIAddr    = "127.0.0.1:8233"
	DefaultEmulatorAddr      = "127.0.0.1:8090"
	DefaultHTTPAddr          = ":8080"
	DefaultMetricsAddr       = ":9090"
	DefaultPublicURL         = "http://localhost:8080"
	DefaultHTTPBodyLimit     = 1 << 20
	DefaultShutdownTimeout   = 15 * time.Second
	DefaultWebhookTolerance  = 48 * time.Hour
	DefaultInactivityTimeout = 24 * time.Hour
	DefaultRoutingRecheck    = 30 * time.Second
	DefaultReplyMaxResends   = 3
	DefaultReplyBackoff      = 15 * time.Second
	DefaultReplySendTimeout  = 10 * time.Minute
	DefaultSinchSendRate     = 20.0
	DefaultPolicyStreak      = 3
	DefaultReconcileOutage   = 10 * time.Minute
	// Account diagnostics.
	DefaultDiagnosticsCheckTimeout   = 10 * time.Second
	DefaultConsoleSessionIdle        = 2 * time.Hour
	DefaultConsoleSessionMax         = 12 * time.Hour
	DefaultDiagnosticsCallbackMaxAge = 24 * time.Hour
	DefaultMediaMaxBytes             = 100 << 20
	DefaultMediaMinFree              = 512 << 20
	DefaultMediaURLTTL               = 24 * time.Hour
	DefaultMediaFetchTimeout         = 3 * time.Minute
	DefaultMediaFetchRetry           = time.Hour
	// Account migration waits.
	DefaultMigrationConfirmTimeout      = 720 * time.Hour
	DefaultMigrationReminderEvery       = 24 * time.Hour
	DefaultMigrationFirstMessageTimeout = 168 * time.Hour
	// Retention of the event tables and the interval of its schedule.
	DefaultRetentionAgentEvents   = 720 * time.Hour
	DefaultRetentionAccountEvents = 2160 * time.Hour
	DefaultRetentionEvery         = time.Hour
	DefaultRetentionMedia         = 2160 * time.Hour
	// HTTP server limits.
	DefaultHTTPWriteTimeout      = 2 * time.Minute
	DefaultHTTPReadTimeout       = 60 * time.Second
	DefaultSSEMaxStreamsPerAgent = 5
	DefaultAuthFailureLimit      = "20/1m"
	minAdminTokenLen             = 16
)

// Load reads the configuration through getenv (os.Getenv in production, a map
// in tests). It applies defaults and parses values; it reports the first
// unparsable value as an *Error naming its variable.
func Load(getenv func(string) string) (*Config, error) {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	c := &Config{
		DataDir:           get("DATA_DIR", DefaultDataDir),
		TemporalAddress:   get("TEMPORAL_ADDRESS", DefaultTemporalAddress),
		TemporalNamespace: get("TEMPORAL_NAMESPACE", DefaultTemporalNamespace),
		TemporalTaskQueue: get("TEMPORAL_TASK_QUEUE", DefaultTemporalTaskQueue),
		TemporalUIAddr:    get("TEMPORAL_UI_ADDR", DefaultTemporalUIAddr),
		EmulatorAddr:      get("EMULATOR_ADDR", DefaultEmulatorAddr),
		HTTPAddr:          get("HTTP_ADDR", DefaultHTTPAddr),
		PublicURL:         strings.TrimRight(get("PUBLIC_URL", DefaultPublicURL), "/"),
		AdminToken:        getenv("ADMIN_TOKEN"),
		LogFormat:         strings.ToLower(get("LOG_FORMAT", "")),
		MetricsAddr:       get("METRICS_ADDR", DefaultMetricsAddr),
		MetricsToken:      strings.TrimSpace(getenv("METRICS_TOKEN")),
		CodecToken:        strings.TrimSpace(getenv("CODEC_TOKEN")),
		TemporalUIURL:     strings.TrimRight(strings.TrimSpace(getenv("TEMPORAL_UI_URL")), "/"),
		Generated:         map[string]string{},
	}
	c.DatabaseURL = get("DATABASE_URL", filepath.Join(c.DataDir, "connector.db"))
	c.TemporalDBPath = get("TEMPORAL_DB_PATH", filepath.Join(c.DataDir, "temporal.db"))
	c.MediaDir = get("MEDIA_DIR", filepath.Join(c.DataDir, "media"))

	var err error
	if c.DatabaseMaxConns, err = strconv.Atoi(get("DATABASE_MAX_CONNS", "20")); err != nil || c.DatabaseMaxConns < 2 {
		return nil, &Error{"DATABASE_MAX_CONNS", fmt.Sprintf("want a whole number of at least 2, got %q", getenv("DATABASE_MAX_CONNS"))}
	}
	if c.HTTPBodyLimit, err = parseSize(get("HTTP_BODY_LIMIT", "1M")); err != nil {
		return nil, &Error{"HTTP_BODY_LIMIT", err.Error()}
	}
	if c.MediaMaxBytes, err = parseSize(get("MEDIA_MAX_BYTES", "100M")); err != nil {
		return nil, &Error{"MEDIA_MAX_BYTES", err.Error()}
	}
	if raw := get("MEDIA_MIN_FREE_BYTES", "512M"); raw == "0" {
		c.MediaMinFreeBytes = 0
	} else if c.MediaMinFreeBytes, err = parseSize(raw); err != nil {
		return nil, &Error{"MEDIA_MIN_FREE_BYTES", err.Error() + " (or 0 to disable the guard)"}
	}
	if c.MediaFetchAllowLoopback, err = parseLoopbackList(getenv("MEDIA_FETCH_ALLOW_LOOPBACK")); err != nil {
		return nil, &Error{"MEDIA_FETCH_ALLOW_LOOPBACK", err.Error()}
	}
	if c.ShutdownTimeout, err = time.ParseDuration(get("SHUTDOWN_TIMEOUT", DefaultShutdownTimeout.String())); err != nil || c.ShutdownTimeout <= 0 {
		return nil, &Error{"SHUTDOWN_TIMEOUT", fmt.Sprintf("want a positive duration such as 15s, got %q", getenv("SHUTDOWN_TIMEOUT"))}
	}
	for _, d := range []struct {
		name string
		def  time.Duration
		dst  *time.Duration
	}{
		{"WEBHOOK_TIMESTAMP_TOLERANCE", DefaultWebhookTolerance, &c.WebhookTolerance},
		{"INTERACTION_INACTIVITY_TIMEOUT", DefaultInactivityTimeout, &c.InactivityTimeout},
		{"ROUTING_RECHECK_INTERVAL", DefaultRoutingRecheck, &c.RoutingRecheck},
		{"REPLY_RESEND_BACKOFF", DefaultReplyBackoff, &c.ReplyResendBackoff},
		{"REPLY_SEND_TIMEOUT", DefaultReplySendTimeout, &c.ReplySendTimeout},
		{"MEDIA_URL_TTL", DefaultMediaURLTTL, &c.MediaURLTTL},
		{"MEDIA_FETCH_TIMEOUT", DefaultMediaFetchTimeout, &c.MediaFetchTimeout},
		{"MEDIA_FETCH_RETRY_FOR", DefaultMediaFetchRetry, &c.MediaFetchRetryFor},
		{"MIGRATION_CONFIRM_TIMEOUT", DefaultMigrationConfirmTimeout, &c.MigrationConfirmTimeout},
		{"MIGRATION_REMINDER_EVERY", DefaultMigrationReminderEvery, &c.MigrationReminderEvery},
		{"MIGRATION_FIRST_MESSAGE_TIMEOUT", DefaultMigrationFirstMessageTimeout, &c.MigrationFirstMessageTimeout},
		{"DIAGNOSTICS_CHECK_TIMEOUT", DefaultDiagnosticsCheckTimeout, &c.DiagnosticsCheckTimeout},
		{"DIAGNOSTICS_CALLBACK_MAX_AGE", DefaultDiagnosticsCallbackMaxAge, &c.DiagnosticsCallbackMaxAge},
		{"CONSOLE_SESSION_IDLE", DefaultConsoleSessionIdle, &c.ConsoleSessionIdle},
		{"CONSOLE_SESSION_MAX", DefaultConsoleSessionMax, &c.ConsoleSessionMax},
	} {
		v, err := time.ParseDuration(get(d.name, d.def.String()))
		if err != nil || v <= 0 {
			return nil, &Error{d.name, fmt.Sprintf("want a positive duration such as %s, got %q", d.def, getenv(d.name))}
		}
		*d.dst = v
	}
	if c.ConsoleSessionIdle > c.ConsoleSessionMax {
		return nil, &Error{"CONSOLE_SESSION_IDLE", fmt.Sprintf("%s is longer than CONSOLE_SESSION_MAX (%s)", c.ConsoleSessionIdle, c.ConsoleSessionMax)}
	}
	if c.TemporalUIURL != "" {
		if u, err := url.Parse(c.TemporalUIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, &Error{"TEMPORAL_UI_URL", fmt.Sprintf("want an http(s) URL such as https://temporal-ui.example.com, got %q", c.TemporalUIURL)}
		}
	}
	for _, n := range []struct {
		name string
		def  int
		min  int
		dst  *int
	}{
		{"REPLY_MAX_RESENDS", DefaultReplyMaxResends, 0, &c.ReplyMaxResends},
		{"POLICY_WARNING_STREAK", DefaultPolicyStreak, 1, &c.PolicyWarningStreak},
	} {
		raw := get(n.name, strconv.Itoa(n.def))
		v, err := strconv.Atoi(raw)
		if err != nil || v < n.min || v > 1000 {
			return nil, &Error{n.name, fmt.Sprintf("want an integer from %d to 1000, got %q", n.min, raw)}
		}
		*n.dst = v
	}
	switch raw := get("RECONCILE_AFTER_OUTAGE", DefaultReconcileOutage.String()); raw {
	case "off", "0":
		c.ReconcileAfterOutage = 0
	default:
		if c.ReconcileAfterOutage, err = time.ParseDuration(raw); err != nil || c.ReconcileAfterOutage < time.Minute {
			return nil, &Error{"RECONCILE_AFTER_OUTAGE", fmt.Sprintf("want a duration of at least 1m (the API's heartbeat is 30s), or off, got %q", raw)}
		}
	}
	for _, r := range []struct {
		name     string
		def, min time.Duration
		dst      *time.Duration
	}{
		{"RETENTION_AGENT_EVENTS", DefaultRetentionAgentEvents, time.Hour, &c.RetentionAgentEvents},
		{"RETENTION_ACCOUNT_EVENTS", DefaultRetentionAccountEvents, time.Hour, &c.RetentionAccountEvents},
		{"RETENTION_EVERY", DefaultRetentionEvery, time.Minute, &c.RetentionEvery},
		{"RETENTION_MEDIA", DefaultRetentionMedia, time.Hour, &c.RetentionMedia},
	} {
		if *r.dst, err = parseOffDuration(get(r.name, r.def.String()), r.min); err != nil {
			return nil, &Error{r.name, err.Error()}
		}
	}
	for _, d := range []struct {
		name string
		def  time.Duration
		dst  *time.Duration
	}{
		{"HTTP_WRITE_TIMEOUT", DefaultHTTPWriteTimeout, &c.HTTPWriteTimeout},
		{"HTTP_READ_TIMEOUT", DefaultHTTPReadTimeout, &c.HTTPReadTimeout},
	} {
		raw := get(d.name, d.def.String())
		v, err := time.ParseDuration(raw)
		if err != nil || v < time.Second || v > time.Hour {
			return nil, &Error{d.name, fmt.Sprintf("want a duration from 1s to 1h such as %s, got %q", d.def, raw)}
		}
		*d.dst = v
	}
	streams := get("SSE_MAX_STREAMS_PER_AGENT", strconv.Itoa(DefaultSSEMaxStreamsPerAgent))
	if c.SSEMaxStreamsPerAgent, err = strconv.Atoi(streams); err != nil || c.SSEMaxStreamsPerAgent < 1 || c.SSEMaxStreamsPerAgent > 100 {
		return nil, &Error{"SSE_MAX_STREAMS_PER_AGENT", fmt.Sprintf("want an integer from 1 to 100, got %q", streams)}
	}
	if c.AuthFailureBurst, c.AuthFailureEvery, err = parseRateLimit(get("AUTH_FAILURE_LIMIT", DefaultAuthFailureLimit)); err != nil {
		return nil, &Error{"AUTH_FAILURE_LIMIT", err.Error()}
	}
	if c.TrustedProxies, err = parsePrefixes(getenv("TRUSTED_PROXIES")); err != nil {
		return nil, &Error{"TRUSTED_PROXIES", err.Error()}
	}
	c.sinchCustomURLs = strings.TrimSpace(getenv("SINCH_ALLOW_CUSTOM_URLS"))
	if c.sinchCustomURLs != "" {
		if c.SinchAllowCustomURLs, err = strconv.ParseBool(c.sinchCustomURLs); err != nil {
			return nil, &Error{"SINCH_ALLOW_CUSTOM_URLS", fmt.Sprintf("want true or false, got %q", c.sinchCustomURLs)}
		}
	}
	rate := get("SINCH_SEND_RATE", strconv.FormatFloat(DefaultSinchSendRate, 'f', -1, 64))
	if c.SinchSendRate, err = strconv.ParseFloat(rate, 64); err != nil || c.SinchSendRate <= 0 || c.SinchSendRate > 10000 {
		return nil, &Error{"SINCH_SEND_RATE", fmt.Sprintf("want messages per second, more than 0 and at most 10000, got %q", rate)}
	}
	if err := c.LogLevel.UnmarshalText([]byte(get("LOG_LEVEL", "info"))); err != nil {
		return nil, &Error{"LOG_LEVEL", fmt.Sprintf("want debug, info, warn or error, got %q", getenv("LOG_LEVEL"))}
	}
	if c.LogFormat != "" && c.LogFormat != "text" && c.LogFormat != "json" {
		return nil, &Error{"LOG_FORMAT", fmt.Sprintf("want text or json, got %q", c.LogFormat)}
	}
	if err := c.loadTemporal(get, getenv); err != nil {
		return nil, err
	}
	if err := c.loadSecrets(get, getenv); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate checks the loaded values for role. In dev, a missing ADMIN_TOKEN
// or secret key (neither SECRET_KEYS nor SECRET_KEY) is generated once and
// kept under DataDir so that data encrypted with it stays readable after a
// restart.
func (c *Config) Validate(role Role) error {
	if _, err := ParseDatabaseURL(c.DatabaseURL); err != nil {
		return &Error{"DATABASE_URL", err.Error()}
	}
	if role == RoleEmulator {
		if err := checkListenAddr(c.EmulatorAddr); err != nil {
			return &Error{"EMULATOR_ADDR", err.Error()}
		}
		return nil
	}
	if c.LogFormat == "" {
		c.LogFormat = "text"
		if role == RoleAPI || role == RoleWorker || role == RoleEngine {
			c.LogFormat = "json"
		}
	}
	if role == RoleEngine {
		if err := checkListenAddr(c.TemporalAddress); err != nil {
			return &Error{"TEMPORAL_ADDRESS", err.Error() + " (where the engine's frontend listens)"}
		}
		if c.TemporalNamespace == "" {
			return &Error{"TEMPORAL_NAMESPACE", "must not be empty"}
		}
		return c.validateEngine(role)
	}
	if c.MetricsToken != "" && len(c.MetricsToken) < minAdminTokenLen {
		return &Error{"METRICS_TOKEN", fmt.Sprintf("at least %d characters when set (empty leaves /metrics open)", minAdminTokenLen)}
	}
	if role == RoleWorker && c.MetricsAddr != "off" {
		if err := checkListenAddr(c.MetricsAddr); err != nil {
			return &Error{"METRICS_ADDR", err.Error() + " (or off)"}
		}
	}
	if role == RoleMigrate {
		return nil
	}
	if role == RoleRekey {
		if len(c.SecretKeyRing()) == 0 {
			return &Error{"SECRET_KEYS", "required: the keys the stored secrets are sealed with, the one to re-seal them under first (" + secretKeysHelp + ")"}
		}
		return nil
	}
	checkTemporal := checkHostPort
	if role == RoleDev {
		// dev binds the embedded engine there; port 0 picks a free one.
		checkTemporal = checkListenAddr
	}
	if err := checkTemporal(c.TemporalAddress); err != nil {
		return &Error{"TEMPORAL_ADDRESS", err.Error()}
	}
	if c.TemporalNamespace == "" {
		return &Error{"TEMPORAL_NAMESPACE", "must not be empty"}
	}
	if c.TemporalTaskQueue == "" {
		return &Error{"TEMPORAL_TASK_QUEUE", "must not be empty"}
	}
	if err := c.validateTemporalTLS(); err != nil {
		return err
	}
	if role == RoleDev {
		if err := c.validateEngine(role); err != nil {
			return err
		}
	}
	if err := checkListenAddr(c.HTTPAddr); err != nil {
		return &Error{"HTTP_ADDR", err.Error()}
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return &Error{"PUBLIC_URL", fmt.Sprintf("want an absolute http(s) origin such as https://motion.example.com, got %q", c.PublicURL)}
	}
	if role == RoleDev {
		if err := checkListenAddr(c.TemporalUIAddr); err != nil {
			return &Error{"TEMPORAL_UI_ADDR", err.Error()}
		}
		if c.EmulatorAddr != "off" {
			if err := checkListenAddr(c.EmulatorAddr); err != nil {
				return &Error{"EMULATOR_ADDR", err.Error()}
			}
		}
		if err := c.ensureDevSecrets(); err != nil {
			return err
		}
		if c.sinchCustomURLs == "" {
			// dev's accounts point at the Sinch emulator on loopback.
			c.SinchAllowCustomURLs = true
		}
	}
	if role == RoleAPI || role == RoleDev {
		if len(c.AdminToken) < minAdminTokenLen {
			return &Error{"ADMIN_TOKEN", fmt.Sprintf("required, at least %d characters", minAdminTokenLen)}
		}
	}
	if len(c.SecretKeyRing()) == 0 {
		return &Error{"SECRET_KEYS", "required (or the single SECRET_KEY): " + secretKeysHelp}
	}
	if c.HashIdentities {
		if _, err := c.IdentityKey(); err != nil {
			return err
		}
	}
	if len(c.CodecKeys) == 0 {
		// api and worker must share them: both encode and decode payloads.
		return &Error{"PII_CODEC_KEYS", "required for api and worker (the same value on both): id:key pairs, the current key first, e.g. k1:$(openssl rand -hex 32)"}
	}
	return nil
}
