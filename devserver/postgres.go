package devserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	pgschema "go.temporal.io/server/schema/postgresql/v12"
	toolschema "go.temporal.io/server/tools/common/schema"
	sqltool "go.temporal.io/server/tools/sql"
)

// Temporal's two Postgres schemas, by their names inside the server module's
// embedded schema files (go.temporal.io/server/schema). The server refuses to
// start on a database older than pgschema.Version (main) or
// pgschema.VisibilityVersion (visibility).
const (
	mainSchemaName       = "postgresql/v12/temporal"
	visibilitySchemaName = "postgresql/v12/visibility"
)

// schemaLockKey is the Postgres advisory lock every engine process takes,
// in the main database, while it creates or upgrades the schemas: two
// processes starting together on an empty database would otherwise both run
// the base schema, and the loser fails on its inserts.
const schemaLockKey = 0x7e3d_2c01

// pgStore is where a Postgres-backed engine keeps its data: the main
// database (executions, shards, membership) and the visibility database
// (workflow lists and search attributes). They must be two databases: each
// holds a schema_version row keyed by nothing but the database.
type pgStore struct {
	url        *url.URL // the main database, as given
	main, vis  config.SQL
	visibility string // the visibility database's name
}

// parsePostgresURL turns TEMPORAL_DATABASE_URL
// (postgres://user:pass@host:port/db?sslmode=…) into the engine's two SQL
// stores. Every query parameter is passed to the driver (sslmode,
// sslrootcert, application_name…). visibilityDB empty means "<db>_visibility".
// maxConns bounds each service's main pool; visibility gets half.
func parsePostgresURL(raw, visibilityDB string, maxConns int) (*pgStore, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, fmt.Errorf("want postgres://user:password@host:5432/temporal, got scheme %q", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, errors.New("no host in the URL (postgres://user:password@host:5432/temporal)")
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" || strings.Contains(db, "/") {
		return nil, errors.New("name the database in the URL's path, e.g. postgres://user@host:5432/temporal")
	}
	if visibilityDB == "" {
		visibilityDB = db + "_visibility"
	}
	if visibilityDB == db {
		return nil, fmt.Errorf("the visibility database must differ from the main database %q", db)
	}
	if maxConns <= 0 {
		maxConns = 10
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "5432")
	}
	password, _ := u.User.Password()
	attrs := map[string]string{}
	for k, v := range u.Query() {
		if len(v) > 0 {
			attrs[k] = v[len(v)-1]
		}
	}
	sqlConf := func(name string, conns int) config.SQL {
		return config.SQL{
			PluginName:        postgresql.PluginName,
			DatabaseName:      name,
			ConnectAddr:       addr,
			ConnectProtocol:   "tcp",
			User:              u.User.Username(),
			Password:          password,
			ConnectAttributes: attrs,
			MaxConns:          conns,
			MaxIdleConns:      conns,
			MaxConnLifetime:   time.Hour,
		}
	}
	return &pgStore{
		url:        u,
		main:       sqlConf(db, maxConns),
		vis:        sqlConf(visibilityDB, max(2, maxConns/2)),
		visibility: visibilityDB,
	}, nil
}

// dbURL is the store's URL pointed at another database of the same server.
func (p *pgStore) dbURL(db string) string {
	u := *p.url
	u.Path = "/" + db
	return u.String()
}

// ensureSchema creates the two databases when they are missing (this needs
// the CREATEDB privilege; databases created beforehand need nothing more)
// and brings both schemas to the versions this server expects, with
// Temporal's own schema tool, under an advisory lock so that processes
// starting together take turns.
func (p *pgStore) ensureSchema(ctx context.Context, logger log.Logger) error {
	if err := p.ensureDatabase(ctx, p.main.DatabaseName, logger); err != nil {
		return err
	}
	lock, err := pgx.Connect(ctx, p.dbURL(p.main.DatabaseName))
	if err != nil {
		return fmt.Errorf("connect to %s: %w", p.main.DatabaseName, err)
	}
	defer func() { _ = lock.Close(context.Background()) }()
	if _, err := lock.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(schemaLockKey)); err != nil {
		return fmt.Errorf("lock the schema of %s: %w", p.main.DatabaseName, err)
	}
	// Closing the connection releases the lock too; unlocking first lets a
	// waiting process go on without waiting for the close.
	defer func() { _, _ = lock.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", int64(schemaLockKey)) }()
	if err := p.ensureDatabase(ctx, p.visibility, logger); err != nil {
		return err
	}
	if err := upgradeSchema(&p.main, mainSchemaName, logger); err != nil {
		return fmt.Errorf("schema of %s: %w", p.main.DatabaseName, err)
	}
	if err := upgradeSchema(&p.vis, visibilitySchemaName, logger); err != nil {
		return fmt.Errorf("schema of %s: %w", p.visibility, err)
	}
	return nil
}

// ensureDatabase creates db unless it exists. It connects first, since
// Postgres checks the CREATEDB privilege before it checks existence: a role
// without it can still use databases an administrator created.
func (p *pgStore) ensureDatabase(ctx context.Context, db string, logger log.Logger) error {
	exists, err := p.databaseExists(ctx, db)
	if err != nil || exists {
		return err
	}
	conf := p.main
	conf.DatabaseName = db
	createErr := sqltool.DoCreateDatabase(&conf, "", logger)
	// Another process may have created it meanwhile (its CREATE won).
	if exists, err := p.databaseExists(ctx, db); err == nil && exists {
		return nil
	}
	if createErr != nil {
		return fmt.Errorf("create database %s (the role needs CREATEDB, or create it beforehand): %w", db, createErr)
	}
	return fmt.Errorf("database %s still missing after CREATE DATABASE", db)
}

// databaseExists tells whether db can be connected to; a missing database
// is false, any other failure (address, password, TLS) an error naming it.
func (p *pgStore) databaseExists(ctx context.Context, db string) (bool, error) {
	conn, err := pgx.Connect(ctx, p.dbURL(db))
	if err == nil {
		return true, conn.Close(ctx)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "3D000" { // invalid_catalog_name
		return false, nil
	}
	return false, fmt.Errorf("connect to database %s at %s: %w", db, p.main.ConnectAddr, err)
}

// upgradeSchema runs what temporal-sql-tool's setup-schema -v 0.0 and
// update-schema --schema-name do: the version tables, then every versioned
// step above the stored version.
func upgradeSchema(conf *config.SQL, schemaName string, logger log.Logger) (err error) {
	conn, err := sqltool.NewConnection(conf, logger)
	if err != nil {
		return err
	}
	defer func() {
		// The tool's Close panics when closing fails; the schema is
		// already written by then, so that is only worth an error.
		if r := recover(); r != nil && err == nil {
			err = fmt.Errorf("close: %v", r)
		}
	}()
	defer conn.Close()
	if err := toolschema.NewSetupSchemaTask(conn, &toolschema.SetupConfig{InitialVersion: "0.0"}, logger).Run(); err != nil {
		return fmt.Errorf("version tables: %w", err)
	}
	if err := toolschema.NewUpdateSchemaTask(conn, &toolschema.UpdateConfig{SchemaName: schemaName}, logger).Run(); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	return nil
}

// SchemaVersions are the schema versions this build of the engine creates
// and needs: main database and visibility database.
func SchemaVersions() (main, visibility string) {
	return pgschema.Version, pgschema.VisibilityVersion
}

// postgresHistoryShards is the history shard count of a new cluster when
// Options.HistoryShards is 0. A cluster keeps the count it was created with.
const postgresHistoryShards = 4
