// Package config loads the connector's configuration from environment
// variables. Every variable has a default that makes `connector dev` work on a
// fresh machine with no variables at all; the production roles (api, worker)
// additionally require the secrets that dev may generate for itself.
package config

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/xcally-connector/connector/internal/logctx"
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
	// DataDir holds dev-mode files: SQLite databases, generated secrets.
	DataDir string

	TemporalAddress   string
	TemporalNamespace string
	TemporalTaskQueue string
	// TemporalUIAddr is where dev serves the embedded Temporal Web UI.
	TemporalUIAddr string
	// TemporalDBPath is the SQLite file of the embedded engine (dev only).
	TemporalDBPath string
	// EmulatorAddr is where dev (and `connector emulator`) serve the Sinch
	// emulator; empty in dev turns it off.
	EmulatorAddr string

	HTTPAddr string
	// PublicURL is the externally reachable origin of the API (the seeds'
	// "Proxy or Motion Domain"); receive URLs and media URLs are built on it.
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
	// ReconcileAfterOutage: when the API starts after being down longer
	// than this, every account is reconciled over the gap (0: never).
	ReconcileAfterOutage time.Duration

	// MediaDir is where attachments are stored (content-addressed files).
	MediaDir string
	// MediaMaxBytes is the connector's own file size limit (the seeds'
	// "Motion limits"), checked before Sinch's and WhatsApp's.
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

// CodecKey is one id:key pair of PII_CODEC_KEYS or SECRET_KEYS.
type CodecKey struct {
	ID  string
	Key []byte
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

// LegacySecretKeyID is the id the single key of SECRET_KEY (and dev's
// generated secret.key) has: SECRET_KEY=x is SECRET_KEYS=k0:x, so a
// rotation starts from SECRET_KEYS=k1:<new>,k0:x and values sealed under
// x stay readable.
const LegacySecretKeyID = "k0"

// secretKeysHelp is how to write SECRET_KEYS, for error messages.
const secretKeysHelp = "id:key pairs, the current key first, each key 32 random bytes as 64 hex characters or base64, e.g. k1:$(openssl rand -hex 32)"

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
		Generated:         map[string]string{},
	}
	c.DatabaseURL = get("DATABASE_URL", filepath.Join(c.DataDir, "connector.db"))
	c.TemporalDBPath = get("TEMPORAL_DB_PATH", filepath.Join(c.DataDir, "temporal.db"))
	c.MediaDir = get("MEDIA_DIR", filepath.Join(c.DataDir, "media"))

	var err error
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
	} {
		v, err := time.ParseDuration(get(d.name, d.def.String()))
		if err != nil || v <= 0 {
			return nil, &Error{d.name, fmt.Sprintf("want a positive duration such as %s, got %q", d.def, getenv(d.name))}
		}
		*d.dst = v
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
	if raw := strings.TrimSpace(getenv("SECRET_KEY")); raw != "" {
		if c.SecretKey, err = ParseSecretKey(raw); err != nil {
			return nil, &Error{"SECRET_KEY", err.Error()}
		}
	}
	if raw := strings.TrimSpace(getenv("SECRET_KEYS")); raw != "" {
		if c.SecretKey != nil {
			return nil, &Error{"SECRET_KEYS", "SECRET_KEY is set too: keep one of them (SECRET_KEY=x is SECRET_KEYS=" + LegacySecretKeyID + ":x; SECRET_KEYS lets keys rotate)"}
		}
		if c.SecretKeys, err = ParseCodecKeys(raw); err != nil {
			return nil, &Error{"SECRET_KEYS", err.Error()}
		}
	}
	c.HashKeyID = strings.TrimSpace(getenv("PII_HASH_KEY_ID"))
	if raw := strings.TrimSpace(getenv("PII_CODEC_KEYS")); raw != "" {
		if c.CodecKeys, err = ParseCodecKeys(raw); err != nil {
			return nil, &Error{"PII_CODEC_KEYS", err.Error()}
		}
	}
	if c.CodecToken != "" && len(c.CodecToken) < minAdminTokenLen {
		return nil, &Error{"CODEC_TOKEN", fmt.Sprintf("at least %d characters (e.g. `openssl rand -hex 24`)", minAdminTokenLen)}
	}
	if c.CodecCORSOrigins, err = parseOrigins(getenv("CODEC_CORS_ORIGINS")); err != nil {
		return nil, &Error{"CODEC_CORS_ORIGINS", err.Error()}
	}
	hash := get("PII_HASH_IDENTITIES", "false")
	if c.HashIdentities, err = strconv.ParseBool(hash); err != nil {
		return nil, &Error{"PII_HASH_IDENTITIES", fmt.Sprintf("want true or false, got %q", hash)}
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
		if role == RoleAPI || role == RoleWorker {
			c.LogFormat = "json"
		}
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

// ensureDevSecrets generates ADMIN_TOKEN and SECRET_KEY for dev when unset and
// persists them under DataDir.
func (c *Config) ensureDevSecrets() error {
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return &Error{"DATA_DIR", err.Error()}
	}
	if c.AdminToken == "" {
		path := filepath.Join(c.DataDir, "admin.token")
		tok, err := loadOrCreate(path, func() (string, error) { return randomHex(24) })
		if err != nil {
			return &Error{"ADMIN_TOKEN", "cannot generate a dev token: " + err.Error()}
		}
		c.AdminToken = tok
		c.Generated["ADMIN_TOKEN"] = path
	}
	if len(c.SecretKeyRing()) == 0 {
		path := filepath.Join(c.DataDir, "secret.key")
		raw, err := loadOrCreate(path, func() (string, error) { return randomHex(32) })
		if err != nil {
			return &Error{"SECRET_KEY", "cannot generate a dev key: " + err.Error()}
		}
		if c.SecretKey, err = ParseSecretKey(raw); err != nil {
			return &Error{"SECRET_KEY", fmt.Sprintf("%s: %v", path, err)}
		}
		c.Generated["SECRET_KEY"] = path
	}
	if len(c.CodecKeys) == 0 {
		path := filepath.Join(c.DataDir, "pii_codec.keys")
		raw, err := loadOrCreate(path, func() (string, error) {
			k, err := randomHex(32)
			return "dev1:" + k, err
		})
		if err != nil {
			return &Error{"PII_CODEC_KEYS", "cannot generate a dev key: " + err.Error()}
		}
		if c.CodecKeys, err = ParseCodecKeys(raw); err != nil {
			return &Error{"PII_CODEC_KEYS", fmt.Sprintf("%s: %v", path, err)}
		}
		c.Generated["PII_CODEC_KEYS"] = path
	}
	if c.CodecToken == "" {
		path := filepath.Join(c.DataDir, "codec.token")
		tok, err := loadOrCreate(path, func() (string, error) { return randomHex(24) })
		if err != nil {
			return &Error{"CODEC_TOKEN", "cannot generate a dev token: " + err.Error()}
		}
		c.CodecToken = tok
		c.Generated["CODEC_TOKEN"] = path
	}
	return nil
}

// SecretKeyRing is the keys of SECRET_KEYS, or SECRET_KEY as the one key
// LegacySecretKeyID; nil when neither is set. The first one seals.
func (c *Config) SecretKeyRing() []CodecKey {
	if len(c.SecretKeys) > 0 {
		return c.SecretKeys
	}
	if c.SecretKey != nil {
		return []CodecKey{{ID: LegacySecretKeyID, Key: c.SecretKey}}
	}
	return nil
}

// IdentityKey is the key of SecretKeyRing that PII_HASH_IDENTITIES derives
// the identity hash from: the one PII_HASH_KEY_ID names, or the only key.
// The hash is part of running conversations' workflow ids, so it must not
// follow the current key through a rotation: with several keys the id is
// required, and an id that names no key is an error.
func (c *Config) IdentityKey() (CodecKey, error) {
	ring := c.SecretKeyRing()
	if len(ring) == 0 {
		return CodecKey{}, &Error{"SECRET_KEYS", "required: the identity hash (PII_HASH_IDENTITIES) is derived from one of its keys"}
	}
	if c.HashKeyID == "" {
		if len(ring) > 1 {
			return CodecKey{}, &Error{"PII_HASH_KEY_ID", fmt.Sprintf("required with PII_HASH_IDENTITIES=true and %d keys in SECRET_KEYS: name the key the identity hashes were made with (%s if it was SECRET_KEY). A hash from another key gives other workflow ids, so messages would not reach running conversations", len(ring), LegacySecretKeyID)}
		}
		return ring[0], nil
	}
	ids := make([]string, len(ring))
	for i, k := range ring {
		if k.ID == c.HashKeyID {
			return k, nil
		}
		ids[i] = k.ID
	}
	return CodecKey{}, &Error{"PII_HASH_KEY_ID", fmt.Sprintf("%q is not a key of SECRET_KEYS (%s): keep the key the identity hashes were made with in SECRET_KEYS, even after a rotation; a hash from another key gives other workflow ids", c.HashKeyID, strings.Join(ids, ", "))}
}

// ParseCodecKeys reads PII_CODEC_KEYS and SECRET_KEYS: comma-separated
// id:key pairs, the current (encrypting) key first, then the old ones that
// still decrypt.
// Each key is 32 bytes as 64 hex characters or base64.
func ParseCodecKeys(raw string) ([]CodecKey, error) {
	var keys []CodecKey
	seen := map[string]bool{}
	for i, item := range strings.Split(raw, ",") {
		item = strings.TrimSpace(item)
		id, key, ok := strings.Cut(item, ":")
		id, key = strings.TrimSpace(id), strings.TrimSpace(key)
		if !ok || id == "" || key == "" {
			return nil, fmt.Errorf("item %d: want id:key (e.g. k2:<64 hex>,k1:<64 hex>, the current key first)", i+1)
		}
		if !codecKeyID(id) {
			return nil, fmt.Errorf("key id %q: want 1 to 64 letters, digits, '.', '_' or '-'", id)
		}
		if seen[id] {
			return nil, fmt.Errorf("key id %q is given twice", id)
		}
		seen[id] = true
		b, err := ParseSecretKey(key)
		if err != nil {
			return nil, fmt.Errorf("key %q: %v", id, err)
		}
		keys = append(keys, CodecKey{ID: id, Key: b})
	}
	return keys, nil
}

// FormatCodecKeys writes keys as PII_CODEC_KEYS and SECRET_KEYS read them
// (hex keys), for
// handing a running configuration to another process.
func FormatCodecKeys(keys []CodecKey) string {
	items := make([]string, len(keys))
	for i, k := range keys {
		items[i] = k.ID + ":" + hex.EncodeToString(k.Key)
	}
	return strings.Join(items, ",")
}

func codecKeyID(id string) bool {
	if len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// parseOrigins reads a comma-separated list of browser origins such as
// https://temporal-ui.example.com.
func parseOrigins(raw string) ([]string, error) {
	var out []string
	for _, item := range strings.Split(raw, ",") {
		item = strings.TrimRight(strings.TrimSpace(item), "/")
		if item == "" {
			continue
		}
		u, err := url.Parse(item)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
			return nil, fmt.Errorf("want origins such as https://temporal-ui.example.com (scheme and host, no path; no *), got %q", item)
		}
		out = append(out, u.Scheme+"://"+u.Host)
	}
	return out, nil
}

func loadOrCreate(path string, gen func() (string, error)) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	v, err := gen()
	if err != nil {
		return "", err
	}
	return v, os.WriteFile(path, []byte(v+"\n"), 0o600)
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// ParseSecretKey accepts 32 bytes written as 64 hex characters or as base64
// (standard or URL alphabet, padded or not).
func ParseSecretKey(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, errors.New("want exactly 32 bytes as 64 hex characters or base64 (e.g. `openssl rand -hex 32`)")
}

// DB names the two supported database engines.
type DB string

// Supported database engines.
const (
	Postgres DB = "postgres"
	SQLite   DB = "sqlite"
)

// DatabaseTarget is a parsed DATABASE_URL.
type DatabaseTarget struct {
	Engine DB
	// DSN is the postgres DSN or the SQLite file path.
	DSN string
}

// ParseDatabaseURL tells a postgres DSN from a SQLite path.
func ParseDatabaseURL(s string) (DatabaseTarget, error) {
	switch {
	case s == "":
		return DatabaseTarget{}, errors.New("must not be empty")
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return DatabaseTarget{}, fmt.Errorf("invalid postgres URL %q", redactDSN(s))
		}
		return DatabaseTarget{Postgres, s}, nil
	case strings.Contains(s, "host=") || strings.Contains(s, "dbname="):
		return DatabaseTarget{Postgres, s}, nil
	case strings.Contains(s, "://"):
		return DatabaseTarget{}, fmt.Errorf("unsupported scheme in %q: want postgres:// or a SQLite file path", redactDSN(s))
	default:
		path := strings.TrimPrefix(strings.TrimPrefix(s, "sqlite:"), "file:")
		if path == "" {
			return DatabaseTarget{}, errors.New("empty SQLite path")
		}
		return DatabaseTarget{SQLite, path}, nil
	}
}

// redactDSN hides a password embedded in a URL-form DSN.
func redactDSN(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	return s
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("want host:port, got %q", s)
	}
	if host == "" {
		return fmt.Errorf("want host:port with a host, got %q", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("invalid port in %q", s)
	}
	return nil
}

func checkListenAddr(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("want [host]:port, got %q", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("invalid port in %q", s)
	}
	return nil
}

// parseSize reads a byte size: a number with an optional K, M or G suffix
// (powers of 1024).
func parseSize(s string) (int64, error) {
	mult := int64(1)
	u := strings.ToUpper(strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(s), "IB"), "B"))
	switch {
	case strings.HasSuffix(u, "K"):
		mult, u = 1<<10, strings.TrimSuffix(u, "K")
	case strings.HasSuffix(u, "M"):
		mult, u = 1<<20, strings.TrimSuffix(u, "M")
	case strings.HasSuffix(u, "G"):
		mult, u = 1<<30, strings.TrimSuffix(u, "G")
	}
	n, err := strconv.ParseInt(strings.TrimSpace(u), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("want a positive size such as 1M or 524288, got %q", s)
	}
	return n * mult, nil
}

// parseRateLimit reads a token bucket as "N/duration" (N events at once,
// refilled at N per duration), or off (0, 0).
func parseRateLimit(raw string) (int, time.Duration, error) {
	if raw == "off" || raw == "0" {
		return 0, 0, nil
	}
	n, per, ok := strings.Cut(raw, "/")
	burst, err := strconv.Atoi(strings.TrimSpace(n))
	if !ok || err != nil || burst < 1 || burst > 100000 {
		return 0, 0, fmt.Errorf("want N/duration such as 20/1m (N from 1 to 100000), or off, got %q", raw)
	}
	every, err := time.ParseDuration(strings.TrimSpace(per))
	if err != nil || every < time.Second || every > 24*time.Hour {
		return 0, 0, fmt.Errorf("want N/duration with a duration from 1s to 24h such as 20/1m, or off, got %q", raw)
	}
	return burst, every, nil
}

// parsePrefixes reads comma-separated IP addresses and CIDR networks
// (an address is its own /32 or /128).
func parsePrefixes(raw string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(raw, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("%q: want an IP address or a CIDR network such as 10.0.0.0/8", item)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// parseOffDuration reads a duration of at least min, or off (0).
func parseOffDuration(raw string, min time.Duration) (time.Duration, error) {
	if raw == "off" || raw == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d < min {
		return 0, fmt.Errorf("want a duration of at least %s (such as 720h), or off, got %q", min, raw)
	}
	return d, nil
}

// RedactedDatabaseURL is DatabaseURL safe to log.
func (c *Config) RedactedDatabaseURL() string { return redactDSN(c.DatabaseURL) }

// NewLogger builds the process logger from LOG_LEVEL and LOG_FORMAT. Its
// handler (logctx.Handler) adds a context's request_id, account_id and
// workflow_id, and passes debug records of an account whose debug flag is
// on whatever LOG_LEVEL says; the inner handler therefore accepts debug.
func (c *Config) NewLogger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	var inner slog.Handler = slog.NewTextHandler(w, opts)
	if c.LogFormat == "json" {
		inner = slog.NewJSONHandler(w, opts)
	}
	return slog.New(logctx.NewHandler(inner, c.LogLevel))
}

// parseLoopbackList parses a comma-separated list of loopback ip:port
// addresses (e.g. 127.0.0.1:8090); any other address is refused: the
// allowance exists for the Sinch emulator, never for private networks.
func parseLoopbackList(raw string) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	for _, item := range strings.Split(raw, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		ap, err := netip.ParseAddrPort(item)
		if err != nil {
			return nil, fmt.Errorf("want loopback ip:port addresses such as 127.0.0.1:8090, got %q", item)
		}
		if !ap.Addr().IsLoopback() {
			return nil, fmt.Errorf("%s is not a loopback address: only the Sinch emulator on this machine may be exempt from the media fetch address policy", item)
		}
		out = append(out, ap)
	}
	return out, nil
}
