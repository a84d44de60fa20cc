package config

// Var documents one environment variable the connector reads.
type Var struct {
	Name    string
	Default string
	// Roles lists the processes that read it ("all" for every one).
	Roles string
	Doc   string
}

// Vars is every environment variable the connector reads, with its default.
// The configuration table of docs/operating.md and the docker-compose test are checked
// against it.
var Vars = []Var{
	{"DATABASE_URL", "$DATA_DIR/connector.db", "all", "Postgres DSN (postgres://user:pass@host:5432/db?sslmode=disable) or a SQLite file path"},
	{"DATA_DIR", DefaultDataDir, "all", "dev-mode files: SQLite databases, generated admin token and secret key"},
	{"TEMPORAL_ADDRESS", DefaultTemporalAddress, "api, worker, dev", "Temporal frontend host:port (dev serves its embedded engine there)"},
	{"TEMPORAL_NAMESPACE", DefaultTemporalNamespace, "api, worker, dev", "Temporal namespace"},
	{"TEMPORAL_TASK_QUEUE", DefaultTemporalTaskQueue, "api, worker, dev", "task queue polled by the worker"},
	{"TEMPORAL_UI_ADDR", DefaultTemporalUIAddr, "dev", "where dev serves the embedded Temporal Web UI"},
	{"TEMPORAL_UI_URL", "empty (dev: its embedded UI)", "api, dev", "the Temporal Web UI's URL (e.g. https://temporal-ui.example.com); the console links each interaction and migration to its workflow there; empty: no links"},
	{"CONSOLE_SESSION_IDLE", DefaultConsoleSessionIdle.String(), "api, dev", "a console session unused this long ends (the next page asks for the token again)"},
	{"CONSOLE_SESSION_MAX", DefaultConsoleSessionMax.String(), "api, dev", "a console session ends this long after its sign-in, used or not"},
	{"TEMPORAL_DB_PATH", "$DATA_DIR/temporal.db", "dev", "SQLite file of the embedded Temporal engine"},
	{"EMULATOR_ADDR", DefaultEmulatorAddr, "dev, emulator", "where the Sinch emulator listens (Conversation API, OAuth2, customer side); `off` disables it in dev"},
	{"HTTP_ADDR", DefaultHTTPAddr, "api, dev", "listen address of the HTTP API"},
	{"PUBLIC_URL", DefaultPublicURL, "api, worker, dev", "public https origin Sinch reaches (the proxy or Motion domain of Motion's Sinch V2 setup guide); receive URLs are built on it"},
	{"HTTP_BODY_LIMIT", "1M", "api, dev", "largest accepted request body (K, M, G suffixes); larger bodies get 413"},
	{"SHUTDOWN_TIMEOUT", DefaultShutdownTimeout.String(), "api, worker, dev", "grace period for in-flight requests and activities on SIGINT/SIGTERM"},
	{"WEBHOOK_TIMESTAMP_TOLERANCE", DefaultWebhookTolerance.String(), "api, worker, dev", "largest age of a signed Sinch callback's timestamp; 48h outlasts Sinch's retry schedule (~45 h) so a retried callback is never refused; the retention job keeps webhook nonces this long plus 1h"},
	{"INTERACTION_INACTIVITY_TIMEOUT", DefaultInactivityTimeout.String(), "api, dev", "an interaction with no message for this long is closed automatically"},
	{"ROUTING_RECHECK_INTERVAL", DefaultRoutingRecheck.String(), "api, dev", "how often a queued interaction retries routing (it is also woken at once when an agent becomes available)"},
	{"REPLY_MAX_RESENDS", "3", "api, dev", "automatic resends of a reply after a network-class failure (RATE_LIMITED, DELIVERY_TIMED_OUT, MESSAGE_EXPIRED, CHANNEL_REJECT); 0 disables them"},
	{"REPLY_RESEND_BACKOFF", DefaultReplyBackoff.String(), "api, dev", "wait before the first automatic resend, doubled for each further one"},
	{"REPLY_SEND_TIMEOUT", DefaultReplySendTimeout.String(), "api, dev", "how long one send is retried on 429, 5xx or network errors (honouring Retry-After) before the reply fails"},
	{"SINCH_SEND_RATE", "20", "worker, dev", "messages:send calls per second per Sinch app, shared by every worker; an account's sendRatePerSecond overrides it"},
	{"POLICY_WARNING_STREAK", "3", "api, dev", "consecutive Meta policy failures after which an account shows the warning \"account may be blocked by Meta\""},
	{"DIAGNOSTICS_CHECK_TIMEOUT", DefaultDiagnosticsCheckTimeout.String(), "api, dev", "bound of each check of GET /api/whatsapp/accounts/{id}/diagnostics (TLS handshake, probes through the public URL, OAuth2 token fetch); a check past it fails with \"timed out\""},
	{"DIAGNOSTICS_CALLBACK_MAX_AGE", DefaultDiagnosticsCallbackMaxAge.String(), "api, dev", "account diagnostics warn when no verified Sinch callback arrived for this long, and count a signature failure this recent as current"},
	{"RECONCILE_AFTER_OUTAGE", DefaultReconcileOutage.String(), "api, dev", "when the API starts after being down longer than this (its heartbeat stopped), every account is reconciled with Sinch over the gap; off disables it"},
	{"MEDIA_DIR", "$DATA_DIR/media", "api, worker, dev", "where attachments are stored (content-addressed files written atomically); api and worker must share it"},
	{"MEDIA_MAX_BYTES", "100M", "api, worker, dev", "the connector's own file size limit, checked before Sinch's and WhatsApp's (image 5 MiB, audio and video 16 MiB, document 100 MiB)"},
	{"MEDIA_MIN_FREE_BYTES", "512M", "api, worker, dev", "disk-space guard of MEDIA_DIR: below it no file is written (uploads answer 507, fetches are retried and the account warns \"disk space low on the connector\"); 0 disables it"},
	{"MEDIA_URL_TTL", DefaultMediaURLTTL.String(), "worker, dev", "lifetime of the signed /api/media/{token} URL Sinch fetches an agent's file from"},
	{"MEDIA_FETCH_TIMEOUT", DefaultMediaFetchTimeout.String(), "api, worker, dev", "one download of a customer's file from Sinch"},
	{"MEDIA_FETCH_RETRY_FOR", DefaultMediaFetchRetry.String(), "api, worker, dev", "how long a failing download is retried (network, 5xx, disk low) before the attachment fails with a system message; POST /api/attachments/{id}/retry starts again"},
	{"MEDIA_FETCH_ALLOW_LOOPBACK", "empty (dev: the emulator)", "worker, dev", "loopback ip:port addresses exempt from the media fetch address policy (private, loopback, link-local, CGNAT and IPv6 local addresses are refused at dial time); for the Sinch emulator only"},
	{"MIGRATION_CONFIRM_TIMEOUT", DefaultMigrationConfirmTimeout.String(), "api, dev", "how long an account migration waits for the Sinch account manager's confirmation (POST /api/migrations/{id}/confirm) before it expires and is undone"},
	{"MIGRATION_REMINDER_EVERY", DefaultMigrationReminderEvery.String(), "api, dev", "how often a migration waiting for the confirmation records a reminder (a MIGRATION_REMINDER event on the source account and its nextAction)"},
	{"MIGRATION_FIRST_MESSAGE_TIMEOUT", DefaultMigrationFirstMessageTimeout.String(), "api, dev", "how long a confirmed migration waits for the first customer message on the new account before it expires and is undone"},
	{"RETENTION_AGENT_EVENTS", DefaultRetentionAgentEvents.String(), "worker, dev", "agents' SSE events (agent_events) older than this are deleted by the retention schedule; a client resuming with an older Last-Event-ID misses them; off keeps them"},
	{"RETENTION_ACCOUNT_EVENTS", DefaultRetentionAccountEvents.String(), "worker, dev", "account events (account_events) older than this are deleted, except held customer messages (MESSAGE_NOT_OPENED) and the newest event of each kind and type per account; off keeps them"},
	{"RETENTION_EVERY", DefaultRetentionEvery.String(), "worker, dev", "interval of the Temporal schedule `retention` that runs RetentionWorkflow (created or updated by every worker at start); off deletes the schedule and nothing is pruned"},
	{"RETENTION_MEDIA", DefaultRetentionMedia.String(), "worker, dev", "stored media files (customers' and agents' attachments) older than this (90 days) are deleted by the retention schedule; their links then answer 410; off keeps them"},
	{"HTTP_READ_TIMEOUT", DefaultHTTPReadTimeout.String(), "api, dev", "longest time to read one request, body included (a slow-loris client is cut off)"},
	{"HTTP_WRITE_TIMEOUT", DefaultHTTPWriteTimeout.String(), "api, dev", "longest time to handle and write one response; agents' event streams (SSE) are exempt, but each of their writes must still finish within it (a client that stops reading is cut off); file replies get extra time for their size (128 KiB/s)"},
	{"SSE_MAX_STREAMS_PER_AGENT", "5", "api, dev", "open event streams per agent; a new stream closes the agent's oldest"},
	{"AUTH_FAILURE_LIMIT", DefaultAuthFailureLimit, "api, dev", "authentication failures allowed per client IP as N/duration (N at once, refilled at N per duration); past it requests answer 429 with Retry-After and touch nothing; Sinch's webhook failures count per client IP and account, IPv6 clients per /64; off disables it"},
	{"TRUSTED_PROXIES", "empty", "api, dev", "comma-separated IPs or CIDR networks of the reverse proxies whose X-Forwarded-For (or X-Real-IP) is believed for the client IP (rate limits, logs); loopback and private networks are not trusted unless listed; empty: the TCP peer is the client"},
	{"SINCH_ALLOW_CUSTOM_URLS", "false (dev: true)", "api, worker, dev", "true lets an account's baseUrl and authUrl name hosts other than Sinch's own (*.conversation.api.sinch.com, auth.sinch.com, *.auth.sinch.com); dev sets it for the emulator; the worker refuses to use an account saved with other hosts while it is false"},
	{"ADMIN_TOKEN", "generated in dev", "api, dev", "bearer token of admin routes, at least 16 characters; dev generates $DATA_DIR/admin.token"},
	{"SECRET_KEYS", "generated in dev", "api, worker, dev, rekey", "keys sealing secrets at rest (AES-256-GCM) and signing media URLs: comma-separated id:key pairs, key as 64 hex chars or base64, the current key first (seals, signs), old keys after it (open, verify); api and worker need the same value; `connector rekey` re-seals stored secrets under the current key. Set this or SECRET_KEY, not both; neither: dev generates $DATA_DIR/secret.key"},
	{"SECRET_KEY", "generated in dev", "api, worker, dev, rekey", "still accepted: one 32-byte key (64 hex chars or base64), the same as SECRET_KEYS=k0:<key>; prefer SECRET_KEYS, which lets the key rotate"},
	{"PII_CODEC_KEYS", "generated in dev", "api, worker, dev", "keys encrypting Temporal payloads (message text, media URLs, contact names, error texts): comma-separated id:key pairs, key as 64 hex chars or base64, the current key first, old keys after it (decrypt only); api and worker need the same value; dev generates $DATA_DIR/pii_codec.keys"},
	{"CODEC_TOKEN", "generated in dev", "api, dev", "bearer token of POST /codec/encode and /codec/decode (the Temporal codec server for the UI and CLI), at least 16 characters; empty turns the endpoint off; dev generates $DATA_DIR/codec.token"},
	{"CODEC_CORS_ORIGINS", "empty (dev: the embedded UI)", "api, dev", "comma-separated browser origins allowed to call the codec endpoint (the Temporal UI's, e.g. https://temporal-ui.example.com)"},
	{"PII_HASH_IDENTITIES", "false", "api, worker, dev", "true replaces the contact identity in conversation workflow ids and the ContactIdentity search attribute by a keyed hash (from the PII_HASH_KEY_ID key of SECRET_KEYS); `connector search-key +39…` prints the value to search for"},
	{"PII_HASH_KEY_ID", "the only key", "api, worker, dev", "with PII_HASH_IDENTITIES=true: the id of the SECRET_KEYS key the identity hash is derived from (k0 for SECRET_KEY); required once SECRET_KEYS holds several keys, and that key must stay in SECRET_KEYS: the hash is part of running conversations' workflow ids, so it does not rotate"},
	{"LOG_LEVEL", "info", "all", "debug, info, warn or error"},
	{"LOG_FORMAT", "json (dev: text)", "all", "text or json; the api and worker default to json: one object a line, with request_id, account_id and workflow_id where known"},
	{"METRICS_ADDR", DefaultMetricsAddr, "worker", "where the worker serves GET /metrics (Prometheus text format); `off` disables it. The api and dev serve /metrics on HTTP_ADDR"},
	{"METRICS_TOKEN", "empty (open)", "api, worker, dev", "when set (at least 16 characters), GET /metrics requires `Authorization: Bearer <METRICS_TOKEN>`"},
}
