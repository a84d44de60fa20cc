package models

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
)

// Engine names a supported database engine.
type Engine string

// Supported engines.
const (
	Postgres Engine = "postgres"
	SQLite   Engine = "sqlite"
)

// OpenOptions configures Open.
type OpenOptions struct {
	Engine Engine
	// DSN is a postgres DSN or a SQLite file path.
	DSN string
	// Logger receives slow-query and error logs; nil discards them.
	Logger *slog.Logger
	// MaxOpenConns bounds the pool (postgres); 0 keeps the default of 20.
	MaxOpenConns int
}

// Open connects to the database. gorm runs with TranslateError so unique
// violations surface as gorm.ErrDuplicatedKey on both engines. SQLite files
// are opened in WAL mode with a busy timeout and foreign keys on.
func Open(opts OpenOptions) (*gorm.DB, error) {
	cfg := &gorm.Config{
		TranslateError: true,
		NowFunc:        func() time.Time { return time.Now().UTC() },
		Logger:         newGormLogger(opts.Logger),
	}
	var dialector gorm.Dialector
	switch opts.Engine {
	case Postgres:
		dialector = postgres.Open(opts.DSN)
	case SQLite:
		if dir := filepath.Dir(opts.DSN); dir != "." && dir != "" && !strings.HasPrefix(opts.DSN, ":memory:") {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("create directory for SQLite file: %w", err)
			}
		}
		dialector = sqlite.Open(sqliteDSN(opts.DSN))
	default:
		return nil, fmt.Errorf("unsupported database engine %q", opts.Engine)
	}
	db, err := gorm.Open(dialector, cfg)
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", opts.Engine, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	switch opts.Engine {
	case SQLite:
		// One writer at a time is all SQLite allows; a single connection
		// avoids SQLITE_BUSY storms under concurrent writes.
		sqlDB.SetMaxOpenConns(1)
	case Postgres:
		n := opts.MaxOpenConns
		if n <= 0 {
			n = 20
		}
		sqlDB.SetMaxOpenConns(n)
		sqlDB.SetMaxIdleConns(n)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	}
	return db, nil
}

func sqliteDSN(path string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=5000&_foreign_keys=1&_txlock=immediate"
}

// Ping checks that the database answers within ctx.
func Ping(ctx context.Context, db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// Close releases the connection pool.
func Close(db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// IsDuplicate reports whether err is a unique-key violation, which callers
// that repeat a write treat as "already done".
func IsDuplicate(err error) bool { return errors.Is(err, gorm.ErrDuplicatedKey) }

// gormLogger adapts gorm's logger to slog: errors (other than record not
// found) and queries slower than 200ms are logged; everything else is not.
type gormLogger struct {
	log   *slog.Logger
	level logger.LogLevel
}

func newGormLogger(l *slog.Logger) logger.Interface {
	if l == nil {
		return logger.Discard
	}
	return &gormLogger{log: l, level: logger.Warn}
}

func (g *gormLogger) LogMode(level logger.LogLevel) logger.Interface {
	c := *g
	c.level = level
	return &c
}

func (g *gormLogger) Info(ctx context.Context, msg string, args ...any) {
	if g.level >= logger.Info {
		g.log.InfoContext(ctx, fmt.Sprintf(msg, args...))
	}
}

func (g *gormLogger) Warn(ctx context.Context, msg string, args ...any) {
	if g.level >= logger.Warn {
		g.log.WarnContext(ctx, fmt.Sprintf(msg, args...))
	}
}

func (g *gormLogger) Error(ctx context.Context, msg string, args ...any) {
	if g.level >= logger.Error {
		g.log.ErrorContext(ctx, fmt.Sprintf(msg, args...))
	}
}

func (g *gormLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	elapsed := time.Since(begin)
	switch {
	case err != nil && !errors.Is(err, gorm.ErrRecordNotFound) && !errors.Is(err, gorm.ErrDuplicatedKey) && g.level >= logger.Error:
		sql, rows := fc()
		g.log.ErrorContext(ctx, "sql error", "err", err, "elapsed", elapsed, "rows", rows, "sql", truncate(sql, 500))
	case elapsed > 200*time.Millisecond && g.level >= logger.Warn:
		sql, rows := fc()
		g.log.WarnContext(ctx, "slow sql", "elapsed", elapsed, "rows", rows, "sql", truncate(sql, 500))
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ForUpdate adds FOR UPDATE on Postgres, so the rows read stay locked until
// the transaction ends; SQLite has no row locks and its immediate
// transactions already serialise writers.
func ForUpdate(tx *gorm.DB) *gorm.DB {
	if tx.Dialector.Name() == "postgres" {
		return tx.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return tx
}
