package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"gorm.io/gorm"

	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/internal/secretbox"
	"github.com/xcally-connector/connector/models"
)

// sealedTable is a table whose columns hold values sealed by secretbox,
// each bound to its row and field by aad.
type sealedTable struct {
	name    string
	aad     func(id uint64, field string) string
	columns []sealedColumn
}

// sealedColumn is a sealed column and the field name its additional data
// uses.
type sealedColumn struct {
	name, field string
}

// sealedTables is every sealed column in models/: the account's secrets
// (api/accounts.go, activities/migration.go) and those a migration holds
// for the account it creates (api/migrations.go). A new sealed column
// belongs here, or rekey leaves it under the old key; a test checks every
// *_enc column of models.All is listed.
var sealedTables = []sealedTable{
	{name: "accounts", aad: secretbox.AccountAAD, columns: []sealedColumn{
		{"key_secret_enc", "key_secret"}, {"webhook_secret_enc", "webhook_secret"},
	}},
	{name: "migrations", aad: secretbox.MigrationAAD, columns: []sealedColumn{
		{"target_key_secret_enc", "key_secret"}, {"target_webhook_secret_enc", "webhook_secret"},
	}},
}

// rekeyBatch is how many row ids Rekey lists at a time.
const rekeyBatch = 100

// RekeyCount is what Rekey did to one table's sealed values (empty ones are
// not counted).
type RekeyCount struct {
	Table   string
	Columns []string
	// Resealed values were sealed again under the current key; Current
	// ones already were and were left as they are.
	Resealed, Current int
}

// RunRekey is `connector rekey`: it re-seals every stored secret under the
// current (first) key of SECRET_KEYS and prints what it did per table. It
// needs only DATABASE_URL and the keys; it may run while api and worker
// serve, and again after an interruption.
func RunRekey(ctx context.Context, cfg *config.Config, log *slog.Logger, out io.Writer) error {
	box, err := secretBox(cfg)
	if err != nil {
		return err
	}
	db, err := OpenDB(cfg, log)
	if err != nil {
		return err
	}
	defer func() { _ = models.Close(db) }()
	counts, err := Rekey(ctx, db, box)
	for _, c := range counts {
		if _, werr := fmt.Fprintf(out, "%s (%s): %d re-sealed, %d already under key %s\n",
			c.Table, strings.Join(c.Columns, ", "), c.Resealed, c.Current, box.CurrentKeyID()); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

// Rekey re-seals every value of sealedTables that is not yet under box's
// current key, soft-deleted accounts included. Each row is its own small
// transaction (read FOR UPDATE, re-seal, write), so a secret set through
// the API meanwhile is not overwritten and an interrupted run leaves every
// row either done or untouched: running it again finishes the work, and a
// value already current is skipped. A value no key of box opens stops it
// with an error naming the row. The counts cover the tables and rows done
// before an error.
func Rekey(ctx context.Context, db *gorm.DB, box *secretbox.Box) ([]RekeyCount, error) {
	var counts []RekeyCount
	for _, t := range sealedTables {
		c := RekeyCount{Table: t.name}
		for _, col := range t.columns {
			c.Columns = append(c.Columns, col.name)
		}
		err := rekeyTable(ctx, db.WithContext(ctx), box, t, &c)
		counts = append(counts, c)
		if err != nil {
			return counts, err
		}
	}
	return counts, nil
}

// rekeyTable walks t's rows holding a sealed value by ascending id.
func rekeyTable(ctx context.Context, db *gorm.DB, box *secretbox.Box, t sealedTable, c *RekeyCount) error {
	anySet := make([]string, len(t.columns))
	for i, col := range t.columns {
		anySet[i] = col.name + " IS NOT NULL"
	}
	var after uint64
	for {
		var ids []uint64
		err := db.Table(t.name).Where("id > ?", after).Where(strings.Join(anySet, " OR ")).
			Order("id").Limit(rekeyBatch).Pluck("id", &ids).Error
		if err != nil {
			return fmt.Errorf("rekey: list %s: %w", t.name, err)
		}
		if len(ids) == 0 {
			return nil
		}
		for _, id := range ids {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("rekey: interrupted at %s id %d: %w", t.name, id, err)
			}
			resealed, current, err := rekeyRow(db, box, t, id)
			if err != nil {
				return err
			}
			c.Resealed += resealed
			c.Current += current
			after = id
		}
	}
}

// rekeyRow re-seals row id of t in one transaction and says how many of
// its values it re-sealed and how many were already current.
func rekeyRow(db *gorm.DB, box *secretbox.Box, t sealedTable, id uint64) (resealed, current int, err error) {
	cols := make([]string, len(t.columns))
	for i, col := range t.columns {
		cols[i] = col.name
	}
	err = db.Transaction(func(tx *gorm.DB) error {
		resealed, current = 0, 0
		values := make([][]byte, len(t.columns))
		dest := make([]any, len(values))
		for i := range values {
			dest[i] = &values[i]
		}
		err := models.ForUpdate(tx.Table(t.name)).Select(cols).Where("id = ?", id).Row().Scan(dest...)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // deleted since it was listed: nothing left to re-seal
		}
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		set := map[string]any{}
		for i, col := range t.columns {
			if len(values[i]) == 0 {
				continue
			}
			out, changed, err := box.Reseal(values[i], []byte(t.aad(id, col.field)))
			if err != nil {
				return fmt.Errorf("%s: %w", col.name, err)
			}
			if !changed {
				current++
				continue
			}
			set[col.name] = out
		}
		if len(set) == 0 {
			return nil
		}
		if err := tx.Table(t.name).Where("id = ?", id).Updates(set).Error; err != nil {
			return fmt.Errorf("write: %w", err)
		}
		resealed = len(set)
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("rekey: %s id %d: %w", t.name, id, err)
	}
	return resealed, current, nil
}
