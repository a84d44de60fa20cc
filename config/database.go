package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

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

// RedactedDatabaseURL is DatabaseURL safe to log.
func (c *Config) RedactedDatabaseURL() string { return redactDSN(c.DatabaseURL) }
