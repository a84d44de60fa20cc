package app_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/app"
	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/internal/secretbox"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
)

var (
	rekeyKeyA = bytes.Repeat([]byte{0xA1}, 32)
	rekeyKeyB = bytes.Repeat([]byte{0xB2}, 32)
	rekeyKeyC = bytes.Repeat([]byte{0xC3}, 32)
)

// sealedValue is one stored secret: where it is, how it is bound, and its
// plaintext.
type sealedValue struct {
	table, column string
	id            uint64
	aad, plain    string
}

// rekeyFixture is a database with secrets in every sealed column.
type rekeyFixture struct {
	t      *testing.T
	db     *gorm.DB
	dsn    string
	values []sealedValue
}

func newRekeyFixture(t *testing.T, engine models.Engine) *rekeyFixture {
	t.Helper()
	f := &rekeyFixture{t: t}
	switch engine {
	case models.SQLite:
		f.dsn = filepath.Join(t.TempDir(), "connector.db")
	case models.Postgres:
		f.dsn = testdb.PostgresDSN(t)
	}
	db, err := models.Open(models.OpenOptions{Engine: engine, DSN: f.dsn})
	require.NoError(t, err)
	t.Cleanup(func() { _ = models.Close(db) })
	require.NoError(t, models.Migrate(db))
	f.db = db
	return f
}

func mustBox(t *testing.T, keys ...secretbox.Key) *secretbox.Box {
	t.Helper()
	box, err := secretbox.NewKeys(keys)
	require.NoError(t, err)
	return box
}

// account stores an account whose secrets box seals; an empty secret is
// left NULL.
func (f *rekeyFixture) account(box *secretbox.Box, key, keySecret, webhookSecret string) models.Account {
	f.t.Helper()
	acc := models.Account{Name: key, Key: key, PublicURL: "https://motion.example.com", Type: models.AccountTypeSinchV2,
		Region: models.RegionEU, ProjectID: "p", AppID: "app-" + key, KeyID: "k", Phone: "+390212345678", Channels: "WHATSAPP"}
	require.NoError(f.t, f.db.Create(&acc).Error)
	f.seal(box, "accounts", acc.ID, map[string][2]string{
		"key_secret_enc":     {secretbox.AccountAAD(acc.ID, "key_secret"), keySecret},
		"webhook_secret_enc": {secretbox.AccountAAD(acc.ID, "webhook_secret"), webhookSecret},
	})
	return acc
}

// migration stores a migration of source holding secrets box seals.
func (f *rekeyFixture) migration(box *secretbox.Box, source uint64, keySecret, webhookSecret string) models.Migration {
	f.t.Helper()
	m := models.Migration{SourceAccountID: source, WorkflowID: fmt.Sprintf("migration/%d/%s", source, keySecret),
		State: models.MigrationRunning, Target: "{}", StartedAt: time.Now().UTC()}
	require.NoError(f.t, f.db.Create(&m).Error)
	f.seal(box, "migrations", m.ID, map[string][2]string{
		"target_key_secret_enc":     {secretbox.MigrationAAD(m.ID, "key_secret"), keySecret},
		"target_webhook_secret_enc": {secretbox.MigrationAAD(m.ID, "webhook_secret"), webhookSecret},
	})
	return m
}

// seal writes the columns (column → aad, plaintext) of a row.
func (f *rekeyFixture) seal(box *secretbox.Box, table string, id uint64, cols map[string][2]string) {
	f.t.Helper()
	set := map[string]any{}
	for col, v := range cols {
		if v[1] == "" {
			continue
		}
		sealed, err := box.Seal(v[1], v[0])
		require.NoError(f.t, err)
		set[col] = sealed
		f.values = append(f.values, sealedValue{table: table, column: col, id: id, aad: v[0], plain: v[1]})
	}
	if len(set) > 0 {
		require.NoError(f.t, f.db.Table(table).Where("id = ?", id).Updates(set).Error)
	}
}

// stored reads a value as the database holds it now.
func (f *rekeyFixture) stored(v sealedValue) []byte {
	f.t.Helper()
	var b []byte
	require.NoError(f.t, f.db.Table(v.table).Select(v.column).Where("id = ?", v.id).Row().Scan(&b))
	return b
}

// requireUnder checks that every value is sealed under the current key of
// box (version 2 naming it) and that box alone opens it to its plaintext.
func (f *rekeyFixture) requireUnder(box *secretbox.Box) {
	f.t.Helper()
	for _, v := range f.values {
		b := f.stored(v)
		assert.Truef(f.t, box.IsCurrent(b), "%s id %d %s is under key %s", v.table, v.id, v.column, box.CurrentKeyID())
		got, err := box.Open(b, v.aad)
		require.NoErrorf(f.t, err, "%s id %d %s", v.table, v.id, v.column)
		assert.Equal(f.t, v.plain, got)
	}
}

// countUnder is how many values are under box's current key.
func (f *rekeyFixture) countUnder(box *secretbox.Box) int {
	n := 0
	for _, v := range f.values {
		if box.IsCurrent(f.stored(v)) {
			n++
		}
	}
	return n
}

// rekey runs `connector rekey` with env (SECRET_KEY or SECRET_KEYS) and
// returns what it printed.
func (f *rekeyFixture) rekey(env map[string]string) (string, error) {
	f.t.Helper()
	vars := map[string]string{"DATABASE_URL": f.dsn, "DATA_DIR": f.t.TempDir()}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	require.NoError(f.t, err)
	require.NoError(f.t, cfg.Validate(config.RoleRekey))
	var out strings.Builder
	err = app.RunRekey(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), &out)
	return out.String(), err
}

func rekeyReport(accounts, accountsCurrent, migrations, migrationsCurrent int, key string) string {
	return fmt.Sprintf("accounts (key_secret_enc, webhook_secret_enc): %d re-sealed, %d already under key %s\n"+
		"migrations (target_key_secret_enc, target_webhook_secret_enc): %d re-sealed, %d already under key %s\n",
		accounts, accountsCurrent, key, migrations, migrationsCurrent, key)
}

func TestRekeyRoundTrip(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) { testRekeyRoundTrip(t, engine) })
	}
}

// testRekeyRoundTrip: rekey from one key to two and back with every secret
// still readable. Secrets stored under SECRET_KEY=A (some before key ids
// existed) are moved under B with SECRET_KEYS=kb:B,k0:A, then back under A
// with SECRET_KEYS=k0:A,kb:B, and A alone reads them all again.
func testRekeyRoundTrip(t *testing.T, engine models.Engine) {
	f := newRekeyFixture(t, engine)
	legacy, err := secretbox.New(rekeyKeyA) // what SECRET_KEY sealed before key ids
	require.NoError(t, err)
	underA := mustBox(t, secretbox.Key{ID: config.LegacySecretKeyID, Key: rekeyKeyA})
	acc1 := f.account(legacy, "one", "ks-1", "wh-1")
	f.account(underA, "two", "ks-2", "wh-2")
	f.account(underA, "three", "", "wh-3")
	gone := f.account(legacy, "gone", "ks-4", "wh-4")
	require.NoError(t, f.db.Delete(&gone).Error)
	f.migration(underA, acc1.ID, "ks-m1", "wh-m1")
	f.migration(underA, acc1.ID, "", "") // finished: holds nothing
	require.Len(t, f.values, 9)

	a := map[string]string{"SECRET_KEY": hex.EncodeToString(rekeyKeyA)}
	ba := map[string]string{"SECRET_KEYS": "kb:" + hex.EncodeToString(rekeyKeyB) + ",k0:" + hex.EncodeToString(rekeyKeyA)}
	ab := map[string]string{"SECRET_KEYS": "k0:" + hex.EncodeToString(rekeyKeyA) + ",kb:" + hex.EncodeToString(rekeyKeyB)}
	onlyB := mustBox(t, secretbox.Key{ID: "kb", Key: rekeyKeyB})

	// Under SECRET_KEY alone, rekey gives the values without an id the
	// key's id k0; the deleted account's secrets are kept up to date too.
	out, err := f.rekey(a)
	require.NoError(t, err)
	assert.Equal(t, rekeyReport(4, 3, 0, 2, "k0"), out)
	f.requireUnder(underA)

	out, err = f.rekey(ba)
	require.NoError(t, err)
	assert.Equal(t, rekeyReport(7, 0, 2, 0, "kb"), out)
	f.requireUnder(onlyB)

	out, err = f.rekey(ba)
	require.NoError(t, err)
	assert.Equal(t, rekeyReport(0, 7, 0, 2, "kb"), out, "idempotent: nothing left to re-seal")
	f.requireUnder(onlyB)

	out, err = f.rekey(ab)
	require.NoError(t, err)
	assert.Equal(t, rekeyReport(7, 0, 2, 0, "k0"), out)
	f.requireUnder(underA)
	out, err = f.rekey(a)
	require.NoError(t, err)
	assert.Equal(t, rekeyReport(0, 7, 0, 2, "k0"), out, "A alone, as SECRET_KEY, reads everything")

	var acc models.Account
	require.NoError(t, f.db.Unscoped().First(&acc, gone.ID).Error)
	assert.True(t, acc.DeletedAt.Valid, "the deleted account stays deleted")
}

func TestRekeyInterrupted(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) { testRekeyInterrupted(t, engine) })
	}
}

// testRekeyInterrupted: a run cancelled in the middle of a row leaves
// every row either re-sealed or untouched, every secret readable, and a
// second run finishes the work.
func testRekeyInterrupted(t *testing.T, engine models.Engine) {
	f := newRekeyFixture(t, engine)
	underA := mustBox(t, secretbox.Key{ID: "ka", Key: rekeyKeyA})
	var first models.Account
	for i, key := range []string{"one", "two", "three"} {
		acc := f.account(underA, key, "ks-"+key, "wh-"+key)
		if i == 0 {
			first = acc
		}
	}
	f.migration(underA, first.ID, "ks-m", "wh-m")
	ba := mustBox(t, secretbox.Key{ID: "kb", Key: rekeyKeyB}, secretbox.Key{ID: "ka", Key: rekeyKeyA})

	// Stop the run (as SIGINT would) while it writes the second row: that
	// row's transaction does not commit.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	writes := 0
	require.NoError(t, f.db.Callback().Update().After("gorm:update").Register("rekey_test:interrupt", func(*gorm.DB) {
		if writes++; writes == 2 {
			cancel()
		}
	}))
	counts, err := app.Rekey(ctx, f.db, ba)
	require.Error(t, err, "the run was interrupted")
	require.Len(t, counts, 1, "it stopped in the first table")
	assert.Equal(t, 2, counts[0].Resealed, "the first row was done")
	assert.Equal(t, 2, f.countUnder(ba), "the first account only: the second row's write was rolled back")
	for _, v := range f.values {
		got, err := ba.Open(f.stored(v), v.aad)
		require.NoError(t, err, "every secret is readable mid-rotation")
		assert.Equal(t, v.plain, got)
	}

	counts, err = app.Rekey(context.Background(), f.db, ba)
	require.NoError(t, err)
	require.Len(t, counts, 2)
	assert.Equal(t, app.RekeyCount{Table: "accounts", Columns: []string{"key_secret_enc", "webhook_secret_enc"}, Resealed: 4, Current: 2}, counts[0])
	assert.Equal(t, app.RekeyCount{Table: "migrations", Columns: []string{"target_key_secret_enc", "target_webhook_secret_enc"}, Resealed: 2}, counts[1])
	f.requireUnder(ba)
	assert.Equal(t, 5, writes, "one write per row: the first run's two (one rolled back), then two accounts and the migration")

	counts, err = app.Rekey(context.Background(), f.db, ba)
	require.NoError(t, err)
	assert.Zero(t, counts[0].Resealed+counts[1].Resealed)
	assert.Equal(t, 6, counts[0].Current)
	assert.Equal(t, 2, counts[1].Current)
	assert.Equal(t, 5, writes, "nothing written when everything is current")
}

func TestRekeyStopsOnAValueNoKeyOpens(t *testing.T) {
	f := newRekeyFixture(t, testdb.Engines(t)[0])
	underA := mustBox(t, secretbox.Key{ID: "ka", Key: rekeyKeyA})
	f.account(underA, "one", "ks-1", "wh-1")
	stray := f.account(mustBox(t, secretbox.Key{ID: "kc", Key: rekeyKeyC}), "two", "ks-2", "")
	f.account(underA, "three", "ks-3", "wh-3")

	out, err := f.rekey(map[string]string{"SECRET_KEYS": "kb:" + hex.EncodeToString(rekeyKeyB) + ",ka:" + hex.EncodeToString(rekeyKeyA)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("accounts id %d: key_secret_enc: ", stray.ID), "the row and column are named")
	assert.Contains(t, err.Error(), "sealed with key kc, which SECRET_KEYS does not hold")
	assert.Equal(t, "accounts (key_secret_enc, webhook_secret_enc): 2 re-sealed, 0 already under key kb\n", out, "what was done before it stopped")

	// A value without a key id that no key opens stops it too.
	legacyC, err := secretbox.New(rekeyKeyC)
	require.NoError(t, err)
	sealed, err := legacyC.Seal("ks-2", secretbox.AccountAAD(stray.ID, "key_secret"))
	require.NoError(t, err)
	require.NoError(t, f.db.Table("accounts").Where("id = ?", stray.ID).Update("key_secret_enc", sealed).Error)
	_, err = app.Rekey(context.Background(), f.db, mustBox(t, secretbox.Key{ID: "kb", Key: rekeyKeyB}, secretbox.Key{ID: "ka", Key: rekeyKeyA}))
	require.ErrorIs(t, err, secretbox.ErrDecrypt)
	assert.Contains(t, err.Error(), fmt.Sprintf("accounts id %d: key_secret_enc", stray.ID))
}

// TestRekeyCoversEverySealedColumn: every *_enc column of the models is
// one rekey re-seals.
func TestRekeyCoversEverySealedColumn(t *testing.T) {
	db := testdb.Open(t, models.SQLite)
	var want []string
	for _, model := range models.All() {
		stmt := &gorm.Statement{DB: db}
		require.NoError(t, stmt.Parse(model))
		for _, field := range stmt.Schema.Fields {
			if strings.HasSuffix(field.DBName, "_enc") {
				want = append(want, stmt.Schema.Table+"."+field.DBName)
			}
		}
	}
	require.NotEmpty(t, want)
	counts, err := app.Rekey(context.Background(), db, mustBox(t, secretbox.Key{ID: "k1", Key: rekeyKeyA}))
	require.NoError(t, err)
	var got []string
	for _, c := range counts {
		for _, col := range c.Columns {
			got = append(got, c.Table+"."+col)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	assert.Equal(t, want, got)
}

// TestKeyRotationKeepsIdentityHash: the hashed identity (part of running
// conversations' workflow ids) is the same before the rotation, with
// SECRET_KEY=A, and after it, with SECRET_KEYS=kb:B,k0:A and
// PII_HASH_KEY_ID=k0.
func TestKeyRotationKeepsIdentityHash(t *testing.T) {
	searchKey := func(env map[string]string) (string, error) {
		vars := map[string]string{"PII_HASH_IDENTITIES": "true", "DATA_DIR": t.TempDir()}
		for k, v := range env {
			vars[k] = v
		}
		cfg, err := config.Load(func(k string) string { return vars[k] })
		require.NoError(t, err)
		var out strings.Builder
		err = app.SearchKey(cfg, "+39 333 1234567", &out)
		return out.String(), err
	}
	a, b := hex.EncodeToString(rekeyKeyA), hex.EncodeToString(rekeyKeyB)
	before, err := searchKey(map[string]string{"SECRET_KEY": a})
	require.NoError(t, err)
	after, err := searchKey(map[string]string{"SECRET_KEYS": "kb:" + b + ",k0:" + a, "PII_HASH_KEY_ID": "k0"})
	require.NoError(t, err)
	assert.Equal(t, before, after)
	other, err := searchKey(map[string]string{"SECRET_KEYS": "kb:" + b})
	require.NoError(t, err)
	assert.NotEqual(t, before, other, "the hash depends on the key")

	_, err = searchKey(map[string]string{"SECRET_KEYS": "kb:" + b + ",k0:" + a})
	var cerr *config.Error
	require.ErrorAs(t, err, &cerr)
	assert.Equal(t, "PII_HASH_KEY_ID", cerr.Var, "with two keys the hash key must be named")
}
