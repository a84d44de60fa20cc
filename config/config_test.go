package config_test

import (
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/config"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

const hexKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

// codecKeys is a rotated PII_CODEC_KEYS: k2 (base64) encrypts, k1 decrypts.
const codecKeys = "k2:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=, k1:" + hexKey

func TestDefaultsMakeDevWorkWithNoVariables(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Load(env(map[string]string{"DATA_DIR": dir}))
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "connector.db"), cfg.DatabaseURL)
	assert.Equal(t, filepath.Join(dir, "temporal.db"), cfg.TemporalDBPath)
	assert.Equal(t, "127.0.0.1:7233", cfg.TemporalAddress)
	assert.Equal(t, "default", cfg.TemporalNamespace)
	assert.Equal(t, "whatsapp-connector", cfg.TemporalTaskQueue)
	assert.Equal(t, "127.0.0.1:8233", cfg.TemporalUIAddr)
	assert.Equal(t, ":8080", cfg.HTTPAddr)
	assert.Equal(t, "http://localhost:8080", cfg.PublicURL)
	assert.EqualValues(t, 1<<20, cfg.HTTPBodyLimit)
	assert.Equal(t, 15*time.Second, cfg.ShutdownTimeout)
	assert.Equal(t, slog.LevelInfo, cfg.LogLevel)
	assert.Equal(t, ":9090", cfg.MetricsAddr)
	assert.Empty(t, cfg.MetricsToken)

	require.NoError(t, cfg.Validate(config.RoleDev))
	assert.Equal(t, "text", cfg.LogFormat, "dev logs for a terminal")
	assert.GreaterOrEqual(t, len(cfg.AdminToken), 16, "dev generates an admin token")
	assert.Len(t, cfg.SecretKey, 32, "dev generates a secret key")
	assert.FileExists(t, filepath.Join(dir, "admin.token"))
	info, err := os.Stat(filepath.Join(dir, "secret.key"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "secrets are private to the user")

	again, err := config.Load(env(map[string]string{"DATA_DIR": dir}))
	require.NoError(t, err)
	require.NoError(t, again.Validate(config.RoleDev))
	assert.Equal(t, cfg.AdminToken, again.AdminToken, "the generated token survives a restart")
	assert.Equal(t, cfg.SecretKey, again.SecretKey, "the generated key survives a restart, so secrets stay readable")
	require.Len(t, cfg.CodecKeys, 1, "dev generates a payload codec key")
	assert.Equal(t, cfg.CodecKeys, again.CodecKeys, "the generated codec key survives a restart, so histories stay readable")
	assert.FileExists(t, filepath.Join(dir, "pii_codec.keys"))
	assert.Equal(t, cfg.CodecToken, again.CodecToken)
	assert.GreaterOrEqual(t, len(cfg.CodecToken), 16, "dev generates a codec token")
}

func TestCodecOriginsAndHashSetting(t *testing.T) {
	cfg, err := config.Load(env(map[string]string{
		"CODEC_CORS_ORIGINS": "https://ui.example.com/, http://localhost:8233", "PII_HASH_IDENTITIES": "true",
	}))
	require.NoError(t, err)
	assert.Equal(t, []string{"https://ui.example.com", "http://localhost:8233"}, cfg.CodecCORSOrigins)
	assert.True(t, cfg.HashIdentities)
}

func TestOverrides(t *testing.T) {
	cfg, err := config.Load(env(map[string]string{
		"DATABASE_URL":        "postgres://u:p@db:5432/connector?sslmode=disable",
		"TEMPORAL_ADDRESS":    "temporal:7233",
		"TEMPORAL_NAMESPACE":  "contact-center",
		"TEMPORAL_TASK_QUEUE": "wa",
		"HTTP_ADDR":           "0.0.0.0:9000",
		"PUBLIC_URL":          "https://motion.example.com/",
		"HTTP_BODY_LIMIT":     "512K",
		"SHUTDOWN_TIMEOUT":    "30s",
		"ADMIN_TOKEN":         "a-very-long-admin-token",
		"SECRET_KEY":          hexKey,
		"PII_CODEC_KEYS":      codecKeys,
		"LOG_LEVEL":           "debug",
		"LOG_FORMAT":          "JSON",
	}))
	require.NoError(t, err)
	require.NoError(t, cfg.Validate(config.RoleAPI))
	assert.Equal(t, "temporal:7233", cfg.TemporalAddress)
	assert.Equal(t, "contact-center", cfg.TemporalNamespace)
	assert.Equal(t, "wa", cfg.TemporalTaskQueue)
	assert.Equal(t, "0.0.0.0:9000", cfg.HTTPAddr)
	assert.Equal(t, "https://motion.example.com", cfg.PublicURL, "trailing slash trimmed")
	assert.EqualValues(t, 512<<10, cfg.HTTPBodyLimit)
	assert.Equal(t, 30*time.Second, cfg.ShutdownTimeout)
	assert.Equal(t, slog.LevelDebug, cfg.LogLevel)
	assert.Equal(t, "json", cfg.LogFormat)
	assert.Equal(t, byte(0x1f), cfg.SecretKey[31])
	require.Len(t, cfg.CodecKeys, 2)
	assert.Equal(t, "k2", cfg.CodecKeys[0].ID, "the first key is the current one")
	assert.Equal(t, "k1", cfg.CodecKeys[1].ID)
	assert.Len(t, cfg.CodecKeys[0].Key, 32)
	assert.False(t, cfg.HashIdentities, "identities are in clear by default")
	assert.Equal(t, "postgres://u:xxxxx@db:5432/connector?sslmode=disable", cfg.RedactedDatabaseURL(), "password never logged")
	target, err := config.ParseDatabaseURL(cfg.DatabaseURL)
	require.NoError(t, err)
	assert.Equal(t, config.Postgres, target.Engine)
}

func TestBadValuesNameTheVariable(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		role config.Role
		want string
	}{
		{"log level", map[string]string{"LOG_LEVEL": "loud"}, config.RoleAPI, "LOG_LEVEL"},
		{"log format", map[string]string{"LOG_FORMAT": "xml"}, config.RoleAPI, "LOG_FORMAT"},
		{"body limit", map[string]string{"HTTP_BODY_LIMIT": "lots"}, config.RoleAPI, "HTTP_BODY_LIMIT"},
		{"shutdown", map[string]string{"SHUTDOWN_TIMEOUT": "-1s"}, config.RoleAPI, "SHUTDOWN_TIMEOUT"},
		{"secret key length", map[string]string{"SECRET_KEY": "abcd"}, config.RoleAPI, "SECRET_KEY"},
		{"database scheme", map[string]string{"DATABASE_URL": "mysql://x/y"}, config.RoleAPI, "DATABASE_URL"},
		{"temporal address", map[string]string{"TEMPORAL_ADDRESS": "temporal"}, config.RoleAPI, "TEMPORAL_ADDRESS"},
		{"http addr", map[string]string{"HTTP_ADDR": "8080"}, config.RoleAPI, "HTTP_ADDR"},
		{"public url", map[string]string{"PUBLIC_URL": "motion.example.com"}, config.RoleAPI, "PUBLIC_URL"},
		{"public url with path", map[string]string{"PUBLIC_URL": "https://m.example.com/x"}, config.RoleAPI, "PUBLIC_URL"},
		{"api needs admin token", map[string]string{"SECRET_KEY": hexKey}, config.RoleAPI, "ADMIN_TOKEN"},
		{"short admin token", map[string]string{"SECRET_KEY": hexKey, "ADMIN_TOKEN": "short"}, config.RoleAPI, "ADMIN_TOKEN"},
		{"worker needs secret key", map[string]string{}, config.RoleWorker, "SECRET_KEYS"},
		{"rekey needs secret key", map[string]string{}, config.RoleRekey, "SECRET_KEYS"},
		{"metrics addr", map[string]string{"METRICS_ADDR": "9090"}, config.RoleWorker, "METRICS_ADDR"},
		{"short metrics token", map[string]string{"METRICS_TOKEN": "abc"}, config.RoleAPI, "METRICS_TOKEN"},
		{"worker needs codec keys", map[string]string{"SECRET_KEY": hexKey}, config.RoleWorker, "PII_CODEC_KEYS"},
		{"api needs codec keys", map[string]string{"SECRET_KEY": hexKey, "ADMIN_TOKEN": "a-very-long-admin-token"}, config.RoleAPI, "PII_CODEC_KEYS"},
		{"codec key without id", map[string]string{"PII_CODEC_KEYS": hexKey}, config.RoleAPI, "PII_CODEC_KEYS"},
		{"codec key too short", map[string]string{"PII_CODEC_KEYS": "k1:abcd"}, config.RoleAPI, "PII_CODEC_KEYS"},
		{"codec key id twice", map[string]string{"PII_CODEC_KEYS": "k1:" + hexKey + ",k1:" + hexKey}, config.RoleAPI, "PII_CODEC_KEYS"},
		{"codec key id charset", map[string]string{"PII_CODEC_KEYS": "k 1:" + hexKey}, config.RoleAPI, "PII_CODEC_KEYS"},
		{"short codec token", map[string]string{"CODEC_TOKEN": "short"}, config.RoleAPI, "CODEC_TOKEN"},
		{"cors origin with path", map[string]string{"CODEC_CORS_ORIGINS": "https://ui.example.com/x"}, config.RoleAPI, "CODEC_CORS_ORIGINS"},
		{"cors wildcard", map[string]string{"CODEC_CORS_ORIGINS": "*"}, config.RoleAPI, "CODEC_CORS_ORIGINS"},
		{"hash identities", map[string]string{"PII_HASH_IDENTITIES": "maybe"}, config.RoleAPI, "PII_HASH_IDENTITIES"},
		{"write timeout", map[string]string{"HTTP_WRITE_TIMEOUT": "0s"}, config.RoleAPI, "HTTP_WRITE_TIMEOUT"},
		{"read timeout", map[string]string{"HTTP_READ_TIMEOUT": "2h"}, config.RoleAPI, "HTTP_READ_TIMEOUT"},
		{"sse streams", map[string]string{"SSE_MAX_STREAMS_PER_AGENT": "0"}, config.RoleAPI, "SSE_MAX_STREAMS_PER_AGENT"},
		{"auth failure limit", map[string]string{"AUTH_FAILURE_LIMIT": "20"}, config.RoleAPI, "AUTH_FAILURE_LIMIT"},
		{"auth failure period", map[string]string{"AUTH_FAILURE_LIMIT": "20/10ms"}, config.RoleAPI, "AUTH_FAILURE_LIMIT"},
		{"trusted proxies", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8,proxy.internal"}, config.RoleAPI, "TRUSTED_PROXIES"},
		{"custom urls", map[string]string{"SINCH_ALLOW_CUSTOM_URLS": "sometimes"}, config.RoleAPI, "SINCH_ALLOW_CUSTOM_URLS"},
		{"media retention", map[string]string{"RETENTION_MEDIA": "10m"}, config.RoleWorker, "RETENTION_MEDIA"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := map[string]string{"ADMIN_TOKEN": "a-very-long-admin-token", "SECRET_KEY": hexKey, "PII_CODEC_KEYS": codecKeys}
			if strings.Contains(tc.name, "needs") || strings.Contains(tc.name, "short") {
				base = map[string]string{}
			}
			for k, v := range tc.env {
				base[k] = v
			}
			cfg, err := config.Load(env(base))
			if err == nil {
				err = cfg.Validate(tc.role)
			}
			require.Error(t, err)
			var cerr *config.Error
			require.True(t, errors.As(err, &cerr), "want *config.Error, got %T", err)
			assert.Equal(t, tc.want, cerr.Var)
			assert.True(t, strings.HasPrefix(err.Error(), tc.want+": "), "message names the variable: %q", err.Error())
		})
	}
}

func TestProductionRolesLogJSONByDefault(t *testing.T) {
	for _, role := range []config.Role{config.RoleAPI, config.RoleWorker} {
		cfg, err := config.Load(env(map[string]string{"ADMIN_TOKEN": "a-very-long-admin-token", "SECRET_KEY": hexKey, "PII_CODEC_KEYS": "k1:" + hexKey, "METRICS_ADDR": "off"}))
		require.NoError(t, err)
		require.NoError(t, cfg.Validate(role))
		assert.Equal(t, "json", cfg.LogFormat, role)
		assert.Equal(t, "off", cfg.MetricsAddr)
	}
	cfg, err := config.Load(env(map[string]string{"LOG_FORMAT": "text", "SECRET_KEY": hexKey, "PII_CODEC_KEYS": "k1:" + hexKey}))
	require.NoError(t, err)
	require.NoError(t, cfg.Validate(config.RoleWorker))
	assert.Equal(t, "text", cfg.LogFormat, "an explicit LOG_FORMAT wins")
}

func TestSecretKeyEncodings(t *testing.T) {
	for _, s := range []string{hexKey, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"} {
		k, err := config.ParseSecretKey(s)
		require.NoError(t, err, s)
		assert.Len(t, k, 32)
		assert.Equal(t, byte(31), k[31])
	}
	_, err := config.ParseSecretKey(strings.Repeat("ab", 31))
	assert.Error(t, err, "31 bytes")
}

func TestParseDatabaseURL(t *testing.T) {
	for in, want := range map[string]config.DatabaseTarget{
		"postgres://u@h:5432/db":           {Engine: config.Postgres, DSN: "postgres://u@h:5432/db"},
		"postgresql://u@h/db":              {Engine: config.Postgres, DSN: "postgresql://u@h/db"},
		"host=h user=u dbname=db":          {Engine: config.Postgres, DSN: "host=h user=u dbname=db"},
		"./data/connector.db":              {Engine: config.SQLite, DSN: "./data/connector.db"},
		"sqlite:/var/lib/connector/app.db": {Engine: config.SQLite, DSN: "/var/lib/connector/app.db"},
	} {
		got, err := config.ParseDatabaseURL(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	_, err := config.ParseDatabaseURL("postgres://")
	assert.Error(t, err)
}

func TestEveryVarIsDocumentedOnce(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range config.Vars {
		assert.False(t, seen[v.Name], "duplicate %s", v.Name)
		seen[v.Name] = true
		assert.NotEmpty(t, v.Doc, v.Name)
	}
	// docs/operating.md holds the configuration table: one row per variable,
	// `| `NAME` | default | used by | meaning |`, and no row for anything else.
	doc, err := os.ReadFile("../docs/operating.md")
	require.NoError(t, err)
	rows := map[string]int{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z0-9_]+)` \\|").FindAllStringSubmatch(string(doc), -1) {
		rows[m[1]]++
	}
	for _, v := range config.Vars {
		assert.Equal(t, 1, rows[v.Name], "docs/operating.md's configuration table lists %s once", v.Name)
	}
	for name := range rows {
		assert.True(t, seen[name], "docs/operating.md's configuration table lists %s, which config.Vars lacks", name)
	}
}

func TestRetentionSettings(t *testing.T) {
	cfg, err := config.Load(env(map[string]string{}))
	require.NoError(t, err)
	assert.Equal(t, 720*time.Hour, cfg.RetentionAgentEvents)
	assert.Equal(t, 2160*time.Hour, cfg.RetentionAccountEvents)
	assert.Equal(t, time.Hour, cfg.RetentionEvery)

	cfg, err = config.Load(env(map[string]string{"RETENTION_AGENT_EVENTS": "off", "RETENTION_ACCOUNT_EVENTS": "48h", "RETENTION_EVERY": "off"}))
	require.NoError(t, err)
	assert.Zero(t, cfg.RetentionAgentEvents, "off keeps agent events")
	assert.Equal(t, 48*time.Hour, cfg.RetentionAccountEvents)
	assert.Zero(t, cfg.RetentionEvery, "off: no schedule")

	for name, raw := range map[string]string{"RETENTION_AGENT_EVENTS": "10m", "RETENTION_ACCOUNT_EVENTS": "forever", "RETENTION_EVERY": "10s"} {
		_, err := config.Load(env(map[string]string{name: raw}))
		var cerr *config.Error
		require.True(t, errors.As(err, &cerr), "%s=%s: got %v", name, raw, err)
		assert.Equal(t, name, cerr.Var)
		assert.Contains(t, err.Error(), "or off, got \""+raw+"\"")
	}
}

func TestFormatCodecKeysRoundTrips(t *testing.T) {
	keys, err := config.ParseCodecKeys("k2:" + strings.Repeat("ab", 32) + ", k1:" + strings.Repeat("01", 32))
	require.NoError(t, err)
	require.Len(t, keys, 2)
	raw := config.FormatCodecKeys(keys)
	assert.Equal(t, "k2:"+strings.Repeat("ab", 32)+",k1:"+strings.Repeat("01", 32), raw)
	again, err := config.ParseCodecKeys(raw)
	require.NoError(t, err)
	assert.Equal(t, keys, again, "the current key stays first")
}

// rotatedKeys is a SECRET_KEYS after a rotation from SECRET_KEY=hexKey: k1
// (base64) seals, k0 (the old single key) still opens.
const rotatedKeys = "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=, k0:" + hexKey

func TestSecretKeys(t *testing.T) {
	base := map[string]string{"ADMIN_TOKEN": "a-very-long-admin-token", "PII_CODEC_KEYS": codecKeys}
	with := func(kv map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range kv {
			out[k] = v
		}
		return out
	}

	cfg, err := config.Load(env(with(map[string]string{"SECRET_KEYS": rotatedKeys})))
	require.NoError(t, err)
	require.NoError(t, cfg.Validate(config.RoleAPI))
	ring := cfg.SecretKeyRing()
	require.Len(t, ring, 2)
	assert.Equal(t, "k1", ring[0].ID, "the first key seals")
	assert.Equal(t, byte(1), ring[0].Key[31])
	assert.Equal(t, "k0", ring[1].ID)
	assert.Equal(t, byte(0x1f), ring[1].Key[31])
	assert.Nil(t, cfg.SecretKey)

	cfg, err = config.Load(env(with(map[string]string{"SECRET_KEY": hexKey})))
	require.NoError(t, err)
	require.NoError(t, cfg.Validate(config.RoleWorker))
	require.Len(t, cfg.SecretKeyRing(), 1)
	assert.Equal(t, config.CodecKey{ID: config.LegacySecretKeyID, Key: cfg.SecretKey}, cfg.SecretKeyRing()[0], "SECRET_KEY=x is SECRET_KEYS=k0:x")
	assert.Equal(t, "k0", config.LegacySecretKeyID)

	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"both set":       {map[string]string{"SECRET_KEY": hexKey, "SECRET_KEYS": rotatedKeys}, "SECRET_KEY is set too"},
		"no id":          {map[string]string{"SECRET_KEYS": hexKey}, "want id:key"},
		"short key":      {map[string]string{"SECRET_KEYS": "k1:abcd"}, "32 bytes"},
		"id twice":       {map[string]string{"SECRET_KEYS": "k1:" + hexKey + ",k1:" + hexKey}, "given twice"},
		"id charset":     {map[string]string{"SECRET_KEYS": "k/1:" + hexKey}, "letters, digits"},
		"empty item":     {map[string]string{"SECRET_KEYS": "k1:" + hexKey + ","}, "item 2"},
		"bad single key": {map[string]string{"SECRET_KEY": "abcd"}, "32 bytes"},
	} {
		_, err := config.Load(env(with(tc.env)))
		var cerr *config.Error
		require.ErrorAs(t, err, &cerr, name)
		want := "SECRET_KEYS"
		if _, ok := tc.env["SECRET_KEYS"]; !ok {
			want = "SECRET_KEY"
		}
		assert.Equal(t, want, cerr.Var, name)
		assert.Contains(t, err.Error(), tc.want, name)
	}
}

func TestDevGeneratesSecretKeyOnlyWhenNoneIsSet(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Load(env(map[string]string{"DATA_DIR": dir, "SECRET_KEYS": rotatedKeys}))
	require.NoError(t, err)
	require.NoError(t, cfg.Validate(config.RoleDev))
	assert.NoFileExists(t, filepath.Join(dir, "secret.key"))
	assert.Equal(t, "k1", cfg.SecretKeyRing()[0].ID)
	assert.NotContains(t, cfg.Generated, "SECRET_KEY")

	cfg, err = config.Load(env(map[string]string{"DATA_DIR": dir}))
	require.NoError(t, err)
	require.NoError(t, cfg.Validate(config.RoleDev))
	assert.FileExists(t, filepath.Join(dir, "secret.key"))
	require.Len(t, cfg.SecretKeyRing(), 1)
	assert.Equal(t, config.LegacySecretKeyID, cfg.SecretKeyRing()[0].ID, "the generated key is dev's SECRET_KEY")
}

func TestIdentityHashKey(t *testing.T) {
	load := func(kv map[string]string) (*config.Config, error) {
		all := map[string]string{"ADMIN_TOKEN": "a-very-long-admin-token", "PII_CODEC_KEYS": codecKeys, "PII_HASH_IDENTITIES": "true"}
		for k, v := range kv {
			all[k] = v
		}
		cfg, err := config.Load(env(all))
		if err != nil {
			return nil, err
		}
		return cfg, cfg.Validate(config.RoleAPI)
	}

	// Before the rotation: SECRET_KEY=x, the only key.
	before, err := load(map[string]string{"SECRET_KEY": hexKey})
	require.NoError(t, err)
	k, err := before.IdentityKey()
	require.NoError(t, err)
	assert.Equal(t, "k0", k.ID)

	// After: SECRET_KEYS=k1:y,k0:x names the hash key, and it is x still.
	after, err := load(map[string]string{"SECRET_KEYS": rotatedKeys, "PII_HASH_KEY_ID": "k0"})
	require.NoError(t, err)
	k2, err := after.IdentityKey()
	require.NoError(t, err)
	assert.Equal(t, k, k2, "the identity hash does not follow the current key")

	one, err := load(map[string]string{"SECRET_KEYS": "k7:" + hexKey})
	require.NoError(t, err, "one key: it is the default")
	k, err = one.IdentityKey()
	require.NoError(t, err)
	assert.Equal(t, "k7", k.ID)

	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"several keys, no id":  {map[string]string{"SECRET_KEYS": rotatedKeys}, "required with PII_HASH_IDENTITIES=true and 2 keys"},
		"unknown id":           {map[string]string{"SECRET_KEYS": rotatedKeys, "PII_HASH_KEY_ID": "k9"}, `"k9" is not a key of SECRET_KEYS (k1, k0)`},
		"legacy key, other id": {map[string]string{"SECRET_KEY": hexKey, "PII_HASH_KEY_ID": "k1"}, `"k1" is not a key of SECRET_KEYS (k0)`},
	} {
		_, err := load(tc.env)
		var cerr *config.Error
		require.ErrorAs(t, err, &cerr, name)
		assert.Equal(t, "PII_HASH_KEY_ID", cerr.Var, name)
		assert.Contains(t, err.Error(), tc.want, name)
		assert.Contains(t, err.Error(), "workflow ids", "%s: the message says why", name)
	}

	cfg, err := config.Load(env(map[string]string{"ADMIN_TOKEN": "a-very-long-admin-token", "PII_CODEC_KEYS": codecKeys, "SECRET_KEYS": rotatedKeys}))
	require.NoError(t, err)
	assert.NoError(t, cfg.Validate(config.RoleAPI), "without hashed identities no hash key is needed")
}

func TestRekeyRoleNeedsOnlyDatabaseAndKeys(t *testing.T) {
	cfg, err := config.Load(env(map[string]string{
		"DATABASE_URL": "postgres://u@db:5432/connector", "SECRET_KEYS": rotatedKeys,
		// Settings of the other roles, wrong or missing, do not matter.
		"TEMPORAL_ADDRESS": "nowhere", "PII_HASH_IDENTITIES": "true",
	}))
	require.NoError(t, err)
	require.NoError(t, cfg.Validate(config.RoleRekey))
	assert.Equal(t, "text", cfg.LogFormat)
}

// TestHardeningSettings: the limits' defaults, their parsed forms, and
// SINCH_ALLOW_CUSTOM_URLS off for the production roles but on for dev
// (its emulator) unless set.
func TestHardeningSettings(t *testing.T) {
	prod := map[string]string{"ADMIN_TOKEN": "a-very-long-admin-token", "SECRET_KEY": hexKey, "PII_CODEC_KEYS": codecKeys}
	cfg, err := config.Load(env(prod))
	require.NoError(t, err)
	require.NoError(t, cfg.Validate(config.RoleAPI))
	assert.Equal(t, 2*time.Minute, cfg.HTTPWriteTimeout)
	assert.Equal(t, time.Minute, cfg.HTTPReadTimeout)
	assert.Equal(t, 5, cfg.SSEMaxStreamsPerAgent)
	assert.Equal(t, 20, cfg.AuthFailureBurst)
	assert.Equal(t, time.Minute, cfg.AuthFailureEvery)
	assert.Empty(t, cfg.TrustedProxies)
	assert.Equal(t, 90*24*time.Hour, cfg.RetentionMedia)
	assert.False(t, cfg.SinchAllowCustomURLs, "production accounts talk to Sinch's hosts only")

	set := map[string]string{
		"HTTP_WRITE_TIMEOUT": "30s", "HTTP_READ_TIMEOUT": "15s", "SSE_MAX_STREAMS_PER_AGENT": "2",
		"AUTH_FAILURE_LIMIT": "5/30s", "TRUSTED_PROXIES": " 10.0.0.0/8, 192.168.1.7 ,::1", "RETENTION_MEDIA": "off",
		"SINCH_ALLOW_CUSTOM_URLS": "true",
	}
	for k, v := range prod {
		set[k] = v
	}
	cfg, err = config.Load(env(set))
	require.NoError(t, err)
	assert.Equal(t, 30*time.Second, cfg.HTTPWriteTimeout)
	assert.Equal(t, 15*time.Second, cfg.HTTPReadTimeout)
	assert.Equal(t, 2, cfg.SSEMaxStreamsPerAgent)
	assert.Equal(t, 5, cfg.AuthFailureBurst)
	assert.Equal(t, 30*time.Second, cfg.AuthFailureEvery)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("::1/128")}, cfg.TrustedProxies)
	assert.Zero(t, cfg.RetentionMedia)
	assert.True(t, cfg.SinchAllowCustomURLs)

	cfg, err = config.Load(env(map[string]string{"AUTH_FAILURE_LIMIT": "off"}))
	require.NoError(t, err)
	assert.Zero(t, cfg.AuthFailureBurst, "off: no limit")

	dev := map[string]string{"DATA_DIR": t.TempDir()}
	cfg, err = config.Load(env(dev))
	require.NoError(t, err)
	require.NoError(t, cfg.Validate(config.RoleDev))
	assert.True(t, cfg.SinchAllowCustomURLs, "dev allows its emulator's URLs")
	dev["SINCH_ALLOW_CUSTOM_URLS"] = "false"
	cfg, err = config.Load(env(dev))
	require.NoError(t, err)
	require.NoError(t, cfg.Validate(config.RoleDev))
	assert.False(t, cfg.SinchAllowCustomURLs, "an explicit false holds in dev too")
}
