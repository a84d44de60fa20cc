// Package testdb gives tests a fresh, migrated database on every engine the
// connector supports: SQLite always, PostgreSQL when TEST_DATABASE_URL is set.
// Each Postgres database lives in its own schema, dropped when the test ends.
// Under CI (CI=true) a missing or unreachable Postgres fails the test instead
// of skipping it. Only tests import it.
package testdb

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/models"
)

// EnvVar names the Postgres DSN used by the Postgres-backed suites.
const EnvVar = "TEST_DATABASE_URL"

// Engines lists the engines to run a suite on. Postgres is included when
// TEST_DATABASE_URL is set; otherwise the test logs that it skipped it, or
// fails under CI.
func Engines(t testing.TB) []models.Engine {
	t.Helper()
	engines := []models.Engine{models.SQLite}
	if os.Getenv(EnvVar) != "" {
		return append(engines, models.Postgres)
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set: CI must run the Postgres-backed suites", EnvVar)
	}
	t.Logf("Postgres suite skipped: set %s=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable to run it", EnvVar)
	return engines
}

// Open returns a migrated database on engine, isolated from every other test.
func Open(t testing.TB, engine models.Engine) *gorm.DB {
	t.Helper()
	db := OpenEmpty(t, engine)
	require.NoError(t, models.Migrate(db))
	return db
}

// OpenEmpty returns an isolated database with no tables.
func OpenEmpty(t testing.TB, engine models.Engine) *gorm.DB {
	t.Helper()
	switch engine {
	case models.SQLite:
		db, err := models.Open(models.OpenOptions{Engine: models.SQLite, DSN: filepath.Join(t.TempDir(), "test.db")})
		require.NoError(t, err)
		t.Cleanup(func() { _ = models.Close(db) })
		return db
	case models.Postgres:
		return openPostgres(t)
	}
	t.Fatalf("unknown engine %q", engine)
	return nil
}

// PostgresDSN returns a DSN whose search_path is a fresh schema, dropped at
// the end of the test. It skips (or fails under CI) without TEST_DATABASE_URL.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvVar)
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: CI must run the Postgres-backed suites", EnvVar)
		}
		t.Skipf("Postgres suite skipped: set %s to run it", EnvVar)
	}
	admin, err := models.Open(models.OpenOptions{Engine: models.Postgres, DSN: base, MaxOpenConns: 2})
	require.NoError(t, err, "connect to %s", EnvVar)
	defer func() { _ = models.Close(admin) }()
	schema := "t_" + randomHex(8)
	require.NoError(t, admin.Exec(fmt.Sprintf(`CREATE SCHEMA %q`, schema)).Error, "create test schema (is Postgres up?)")
	t.Cleanup(func() {
		admin, err := models.Open(models.OpenOptions{Engine: models.Postgres, DSN: base, MaxOpenConns: 1})
		if err == nil {
			_ = admin.Exec(fmt.Sprintf(`DROP SCHEMA IF EXISTS %q CASCADE`, schema)).Error
			_ = models.Close(admin)
		}
	})
	return withSearchPath(t, base, schema)
}

func openPostgres(t testing.TB) *gorm.DB {
	t.Helper()
	db, err := models.Open(models.OpenOptions{Engine: models.Postgres, DSN: PostgresDSN(t), MaxOpenConns: 10})
	require.NoError(t, err)
	t.Cleanup(func() { _ = models.Close(db) })
	return db
}

// withSearchPath adds search_path=schema to a URL or key=value DSN.
func withSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		require.NoError(t, err)
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// TemporalDatabaseURL returns the URL of a database for Temporal's own
// server on the TEST_DATABASE_URL server: a fresh name, not created (the
// engine creates it and its visibility database "<name>_visibility"),
// both dropped at the end of the test. It skips (or fails under CI)
// without TEST_DATABASE_URL.
func TemporalDatabaseURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvVar)
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: CI must run the Postgres-backed suites", EnvVar)
		}
		t.Skipf("Postgres suite skipped: set %s to run it", EnvVar)
	}
	u, err := url.Parse(base)
	require.NoError(t, err, "%s must be a postgres:// URL for the engine's tests", EnvVar)
	name := "temporal_t_" + randomHex(6)
	u.Path = "/" + name
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	t.Cleanup(func() {
		admin, err := models.Open(models.OpenOptions{Engine: models.Postgres, DSN: base, MaxOpenConns: 1})
		if err != nil {
			return
		}
		defer func() { _ = models.Close(admin) }()
		for _, db := range []string{name, name + "_visibility"} {
			_ = admin.Exec(fmt.Sprintf(`DROP DATABASE IF EXISTS %q WITH (FORCE)`, db)).Error
		}
	})
	return u.String()
}
