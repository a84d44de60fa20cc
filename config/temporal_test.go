package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/config"
)

// TestEngineSettings: `connector engine` needs its Postgres, and every
// misconfiguration of the engine and of the clients' TLS is refused with
// the variable named.
func TestEngineSettings(t *testing.T) {
	dir := t.TempDir()
	pem := filepath.Join(dir, "x.pem")
	require.NoError(t, os.WriteFile(pem, []byte("-----BEGIN CERTIFICATE-----\n"), 0o600))
	base := map[string]string{"DATA_DIR": dir}
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
	pg := "postgres://temporal@127.0.0.1:5432/temporal?sslmode=disable"

	cfg, err := config.Load(env(with(map[string]string{"TEMPORAL_DATABASE_URL": pg, "ENGINE_SERVICES": "history, matching,history"})))
	require.NoError(t, err)
	require.NoError(t, cfg.Validate(config.RoleEngine))
	assert.Equal(t, []string{"history", "matching"}, cfg.Engine.Services, "trimmed, deduplicated")
	assert.Equal(t, 4, cfg.Engine.HistoryShards)
	assert.Equal(t, 10, cfg.Engine.MaxConns)
	assert.Empty(t, cfg.Engine.UIAddr, "the engine serves no UI unless TEMPORAL_UI_ADDR is set")
	assert.Equal(t, "json", cfg.LogFormat)

	for _, tc := range []struct {
		name    string
		role    config.Role
		env     map[string]string
		wantVar string
	}{
		{"engine without its database", config.RoleEngine, nil, "TEMPORAL_DATABASE_URL"},
		{"engine on a SQLite path", config.RoleEngine, map[string]string{"TEMPORAL_DATABASE_URL": "/tmp/t.db"}, "TEMPORAL_DATABASE_URL"},
		{"engine URL without database", config.RoleEngine, map[string]string{"TEMPORAL_DATABASE_URL": "postgres://u@h:5432/"}, "TEMPORAL_DATABASE_URL"},
		{"unknown service", config.RoleEngine, map[string]string{"TEMPORAL_DATABASE_URL": pg, "ENGINE_SERVICES": "frontend,histroy"}, "ENGINE_SERVICES"},
		{"shards zero", config.RoleEngine, map[string]string{"TEMPORAL_DATABASE_URL": pg, "TEMPORAL_HISTORY_SHARDS": "0"}, "TEMPORAL_HISTORY_SHARDS"},
		{"one connection", config.RoleEngine, map[string]string{"TEMPORAL_DATABASE_URL": pg, "TEMPORAL_DATABASE_MAX_CONNS": "1"}, "TEMPORAL_DATABASE_MAX_CONNS"},
		{"cert without key", config.RoleEngine, map[string]string{"TEMPORAL_DATABASE_URL": pg, "ENGINE_TLS_CERT": pem}, "ENGINE_TLS_CERT"},
		{"client CA without cert", config.RoleEngine, map[string]string{"TEMPORAL_DATABASE_URL": pg, "ENGINE_TLS_CLIENT_CA": pem}, "ENGINE_TLS_CERT"},
		{"unreadable key", config.RoleEngine, map[string]string{"TEMPORAL_DATABASE_URL": pg, "ENGINE_TLS_CERT": pem, "ENGINE_TLS_KEY": filepath.Join(dir, "missing.pem")}, "ENGINE_TLS_KEY"},
		{"broadcast not an IP", config.RoleEngine, map[string]string{"TEMPORAL_DATABASE_URL": pg, "ENGINE_BROADCAST_ADDRESS": "engine-1"}, "ENGINE_BROADCAST_ADDRESS"},
		{"dev splitting services", config.RoleDev, map[string]string{"TEMPORAL_DATABASE_URL": pg, "ENGINE_SERVICES": "history"}, "ENGINE_SERVICES"},
		{"dev serving TLS", config.RoleDev, map[string]string{"TEMPORAL_DATABASE_URL": pg, "ENGINE_TLS_CERT": pem, "ENGINE_TLS_KEY": pem}, "ENGINE_TLS_CERT"},
		{"client cert without key", config.RoleDev, map[string]string{"TEMPORAL_TLS_CERT": pem}, "TEMPORAL_TLS_CERT"},
		{"client CA unreadable", config.RoleDev, map[string]string{"TEMPORAL_TLS_CA": filepath.Join(dir, "nope.pem")}, "TEMPORAL_TLS_CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Load(env(with(tc.env)))
			if err == nil {
				err = cfg.Validate(tc.role)
			}
			var ce *config.Error
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.wantVar, ce.Var, err.Error())
		})
	}
}

func TestTemporalClientTLSEnabled(t *testing.T) {
	assert.False(t, config.TemporalClientTLS{}.Enabled())
	for _, c := range []config.TemporalClientTLS{{CAFile: "ca"}, {ServerName: "x"}, {CertFile: "c", KeyFile: "k"}, {APIKey: "k"}} {
		assert.True(t, c.Enabled(), "%+v turns TLS on", c)
	}
}
