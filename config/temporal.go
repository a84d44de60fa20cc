package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
)

// RoleEngine runs Temporal's own server (`connector engine`).
const RoleEngine Role = "engine"

// EngineServices are the services `connector engine` can run.
var EngineServices = []string{"frontend", "history", "matching", "worker"}

// TemporalClientTLS is how the api and worker reach a secured Temporal
// (Temporal Cloud, or a cluster serving TLS): a client certificate (mutual
// TLS), the CA to trust, the server name to expect, or an API key.
type TemporalClientTLS struct {
	CertFile, KeyFile string
	CAFile            string
	ServerName        string
	APIKey            string
}

// Enabled tells whether the clients use TLS: any of the settings turns it
// on (an API key is never sent in clear).
func (t TemporalClientTLS) Enabled() bool {
	return t.CertFile != "" || t.CAFile != "" || t.ServerName != "" || t.APIKey != ""
}

// Engine configures Temporal's own server as `connector engine` runs it,
// and `connector dev`'s embedded engine when DatabaseURL is set.
type Engine struct {
	// DatabaseURL is the engine's Postgres (TEMPORAL_DATABASE_URL); empty
	// keeps dev on SQLite. VisibilityDatabase is the visibility store's
	// database on the same server (empty: "<db>_visibility").
	DatabaseURL        string
	VisibilityDatabase string
	// Services this process runs (ENGINE_SERVICES; empty: all).
	Services []string
	// ClusterAddress is the cluster's frontend address every member
	// records (ENGINE_CLUSTER_ADDRESS; empty: this process's).
	ClusterAddress string
	// BroadcastAddress is the IP other members reach this one on.
	BroadcastAddress string
	// HistoryShards is a new cluster's shard count (fixed forever).
	HistoryShards int
	// MaxConns bounds each service's pool to the main database.
	MaxConns int
	// UIAddr serves the Web UI from the engine ("" or off: none).
	UIAddr string
	// The frontend's TLS (ENGINE_TLS_*); CertFile empty: plaintext.
	TLSCert, TLSKey, TLSCA, TLSServerName, TLSClientCA string
}

// loadTemporal is Load's part for Temporal's client security and the
// engine. The first unparsable value is an *Error naming its variable.
func (c *Config) loadTemporal(get func(name, def string) string, getenv func(string) string) error {
	trim := func(name string) string { return strings.TrimSpace(getenv(name)) }
	c.TemporalTLS = TemporalClientTLS{
		CertFile:   trim("TEMPORAL_TLS_CERT"),
		KeyFile:    trim("TEMPORAL_TLS_KEY"),
		CAFile:     trim("TEMPORAL_TLS_CA"),
		ServerName: trim("TEMPORAL_TLS_SERVER_NAME"),
		APIKey:     trim("TEMPORAL_API_KEY"),
	}
	e := &c.Engine
	e.DatabaseURL = trim("TEMPORAL_DATABASE_URL")
	e.VisibilityDatabase = trim("TEMPORAL_VISIBILITY_DATABASE")
	e.ClusterAddress = trim("ENGINE_CLUSTER_ADDRESS")
	e.BroadcastAddress = trim("ENGINE_BROADCAST_ADDRESS")
	e.UIAddr = trim("TEMPORAL_UI_ADDR")
	if e.UIAddr == "off" {
		e.UIAddr = ""
	}
	e.TLSCert, e.TLSKey = trim("ENGINE_TLS_CERT"), trim("ENGINE_TLS_KEY")
	e.TLSCA, e.TLSServerName, e.TLSClientCA = trim("ENGINE_TLS_CA"), trim("ENGINE_TLS_SERVER_NAME"), trim("ENGINE_TLS_CLIENT_CA")
	if raw := trim("ENGINE_SERVICES"); raw != "" {
		for _, s := range strings.Split(raw, ",") {
			s = strings.ToLower(strings.TrimSpace(s))
			if !slices.Contains(EngineServices, s) {
				return &Error{"ENGINE_SERVICES", fmt.Sprintf("unknown service %q: want a comma-separated subset of %s", s, strings.Join(EngineServices, ","))}
			}
			if !slices.Contains(e.Services, s) {
				e.Services = append(e.Services, s)
			}
		}
	}
	var err error
	if e.HistoryShards, err = strconv.Atoi(get("TEMPORAL_HISTORY_SHARDS", "4")); err != nil || e.HistoryShards < 1 || e.HistoryShards > 16384 {
		return &Error{"TEMPORAL_HISTORY_SHARDS", fmt.Sprintf("want a whole number 1–16384, got %q", getenv("TEMPORAL_HISTORY_SHARDS"))}
	}
	if e.MaxConns, err = strconv.Atoi(get("TEMPORAL_DATABASE_MAX_CONNS", "10")); err != nil || e.MaxConns < 2 {
		return &Error{"TEMPORAL_DATABASE_MAX_CONNS", fmt.Sprintf("want a whole number of at least 2, got %q", getenv("TEMPORAL_DATABASE_MAX_CONNS"))}
	}
	return nil
}

// validateTemporalTLS checks the client security settings of api, worker
// and dev: a certificate comes with its key, and every file is readable.
func (c *Config) validateTemporalTLS() error {
	t := c.TemporalTLS
	if (t.CertFile == "") != (t.KeyFile == "") {
		return &Error{"TEMPORAL_TLS_CERT", "TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together (the client certificate and its key, PEM files)"}
	}
	for _, f := range []struct{ name, path string }{{"TEMPORAL_TLS_CERT", t.CertFile}, {"TEMPORAL_TLS_KEY", t.KeyFile}, {"TEMPORAL_TLS_CA", t.CAFile}} {
		if err := readable(f.path); err != nil {
			return &Error{f.name, err.Error()}
		}
	}
	return nil
}

// validateEngine checks `connector engine`'s settings (and dev's when it
// runs on Postgres).
func (c *Config) validateEngine(role Role) error {
	e := c.Engine
	if role == RoleEngine && e.DatabaseURL == "" {
		return &Error{"TEMPORAL_DATABASE_URL", "required: the engine's Postgres, e.g. postgres://temporal:secret@127.0.0.1:5432/temporal?sslmode=disable (the role needs CREATEDB, or create the databases temporal and temporal_visibility beforehand)"}
	}
	if e.DatabaseURL != "" {
		u, err := url.Parse(e.DatabaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" || strings.Trim(u.Path, "/") == "" {
			return &Error{"TEMPORAL_DATABASE_URL", "want postgres://user:password@host:5432/database (Temporal's own database, not the connector's)"}
		}
	}
	if role == RoleDev && len(e.Services) > 0 {
		return &Error{"ENGINE_SERVICES", "dev runs every service; run `connector engine` to split them"}
	}
	if role == RoleDev && e.TLSCert != "" {
		return &Error{"ENGINE_TLS_CERT", "dev's embedded engine serves plaintext to its own process; ENGINE_TLS_* are for `connector engine`"}
	}
	if len(e.Services) > 0 && e.DatabaseURL == "" {
		return &Error{"ENGINE_SERVICES", "needs TEMPORAL_DATABASE_URL"}
	}
	if e.ClusterAddress != "" {
		if err := checkHostPort(e.ClusterAddress); err != nil {
			return &Error{"ENGINE_CLUSTER_ADDRESS", err.Error()}
		}
	}
	if e.BroadcastAddress != "" && net.ParseIP(e.BroadcastAddress) == nil {
		return &Error{"ENGINE_BROADCAST_ADDRESS", fmt.Sprintf("want an IP address the other engine processes reach, got %q", e.BroadcastAddress)}
	}
	if e.UIAddr != "" && role == RoleEngine {
		if err := checkListenAddr(e.UIAddr); err != nil {
			return &Error{"TEMPORAL_UI_ADDR", err.Error() + " (or off)"}
		}
	}
	if (e.TLSCert == "") != (e.TLSKey == "") {
		return &Error{"ENGINE_TLS_CERT", "ENGINE_TLS_CERT and ENGINE_TLS_KEY go together (the frontend's certificate and key, PEM files)"}
	}
	if e.TLSCert == "" && (e.TLSCA != "" || e.TLSClientCA != "" || e.TLSServerName != "") {
		return &Error{"ENGINE_TLS_CERT", "required by ENGINE_TLS_CA, ENGINE_TLS_CLIENT_CA and ENGINE_TLS_SERVER_NAME (the frontend's certificate)"}
	}
	if e.TLSCert != "" && e.DatabaseURL == "" {
		return &Error{"ENGINE_TLS_CERT", "TLS needs the engine on Postgres (TEMPORAL_DATABASE_URL)"}
	}
	for _, f := range []struct{ name, path string }{{"ENGINE_TLS_CERT", e.TLSCert}, {"ENGINE_TLS_KEY", e.TLSKey}, {"ENGINE_TLS_CA", e.TLSCA}, {"ENGINE_TLS_CLIENT_CA", e.TLSClientCA}} {
		if err := readable(f.path); err != nil {
			return &Error{f.name, err.Error()}
		}
	}
	return nil
}

// readable checks that a configured file can be read ("" is not set).
func readable(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot read %s: %v", path, err)
	}
	return f.Close()
}
