package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/reports"
)

// TestReportsBenchShort runs the reports bench small, as CI can: it checks
// what the bench seeds (counts, and figures that agree with the messages)
// and that every case was timed, never how fast.
func TestReportsBenchShort(t *testing.T) {
	dsn := testdb.PostgresDSN(t) // skips without TEST_DATABASE_URL
	opts := ReportsOptions{DatabaseURL: dsn, Interactions: 2000, Messages: 20000, Calls: 2, Keep: true, MaxP95: time.Second, MaxRatio: 10}
	res, err := RunReports(context.Background(), opts, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	db, err := models.Open(models.OpenOptions{Engine: models.Postgres, DSN: dsn, MaxOpenConns: 1})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = db.Exec(fmt.Sprintf(`DROP SCHEMA IF EXISTS %q CASCADE`, res.Schema)).Error
		_ = models.Close(db)
	})

	assert.Equal(t, SeedCounts{Accounts: 20, Queues: 50, Agents: 300, Contacts: res.Counts.Contacts, Interactions: 2000, Messages: 20000}, res.Counts)
	assert.Positive(t, res.Counts.Contacts)
	assert.Less(t, res.Counts.Contacts, int64(2000), "some customers come back")

	want := []string{baseInteractions, baseMessages, refGroupCounts, refReplies}
	for _, g := range reports.InteractionGroupBys {
		want = append(want, "interactions groupBy="+g)
	}
	want = append(want, fmt.Sprintf("interactions groupBy=day account=%d includeMigrated", res.Migrated))
	for _, g := range reports.DeliveryGroupBys {
		want = append(want, "deliveries groupBy="+g)
	}
	want = append(want, "live")
	var names []string
	rows := map[string]int64{}
	for _, c := range res.Cases {
		names, rows[c.Name] = append(names, c.Name), c.Rows
		assert.Equal(t, 2, c.Latency.N, c.Name)
		assert.Len(t, c.Times, 2, "%s: every call timed", c.Name)
		for _, d := range c.Times {
			assert.Positive(t, d, c.Name)
		}
		if c.Baseline == "" || strings.HasPrefix(c.Name, "live") {
			continue
		}
		assert.Positive(t, c.Rows, "%s answered rows", c.Name)
	}
	assert.Equal(t, want, names)
	assert.Equal(t, int64(2000), rows[baseInteractions], "the range holds every interaction")
	assert.Equal(t, int64(20000), rows[baseMessages], "the range holds every message")

	// The seeded figures agree with the seeded messages, as the activities
	// write them.
	sdb, err := models.Open(models.OpenOptions{Engine: models.Postgres, DSN: schemaDSN(t, dsn, res.Schema), MaxOpenConns: 1})
	require.NoError(t, err)
	defer func() { _ = models.Close(sdb) }()
	const replies = "m.direction = 'outbound' AND m.agent_id IS NOT NULL AND m.parent_id IS NULL"
	var bad struct{ BadIn, BadOut, BadFrt, BadTimes, BadHandle int64 }
	require.NoError(t, sdb.Raw(`SELECT
  count(*) FILTER (WHERE i.messages_in <> (SELECT count(*) FROM messages m WHERE m.interaction_id = i.id AND m.direction = 'inbound')) AS bad_in,
  count(*) FILTER (WHERE i.messages_out <> (SELECT count(*) FROM messages m WHERE m.interaction_id = i.id AND `+replies+`)) AS bad_out,
  count(*) FILTER (WHERE i.first_response_ms IS DISTINCT FROM (SELECT m.reply_ms FROM messages m WHERE m.interaction_id = i.id AND `+replies+`
    ORDER BY m.created_at LIMIT 1)) AS bad_frt,
  count(*) FILTER (WHERE EXISTS (SELECT 1 FROM messages m WHERE m.interaction_id = i.id AND m.created_at < i.opened_at)) AS bad_times,
  count(*) FILTER (WHERE i.closed_at IS NOT NULL AND i.assigned_at IS NOT NULL AND
    abs(i.handle_ms - EXTRACT(EPOCH FROM (i.closed_at - i.assigned_at)) * 1000) > 1) AS bad_handle
FROM interactions i`).Scan(&bad).Error)
	assert.Zero(t, bad, "interactions whose figures disagree with their messages")
	var replyTimes int64
	require.NoError(t, sdb.Raw(`SELECT count(*) FROM messages m WHERE `+replies+` AND m.reply_ms IS NOT NULL`).Scan(&replyTimes).Error)
	assert.Equal(t, replyTimes, rows[refReplies], "the replies reference counts every reply time of the range")
	assert.Positive(t, rows[refGroupCounts])
	assert.LessOrEqual(t, rows[refGroupCounts], int64(301), "one row per agent and one for none")
	var mix struct{ Abandoned, Unassigned, Transferred, Overflowed, Inactivity, Admin, Failed, Read, Parts, System, Flow int64 }
	require.NoError(t, sdb.Raw(`SELECT
  (SELECT count(*) FROM interactions WHERE status = 'closed' AND first_response_at IS NULL) AS abandoned,
  (SELECT count(*) FROM interactions WHERE first_assigned_at IS NULL) AS unassigned,
  (SELECT count(*) FROM interactions WHERE transfers > 0) AS transferred,
  (SELECT count(*) FROM interactions WHERE overflows > 0) AS overflowed,
  (SELECT count(*) FROM interactions WHERE close_reason = 'inactivity') AS inactivity,
  (SELECT count(*) FROM interactions WHERE close_reason = 'admin') AS admin,
  (SELECT count(*) FROM messages WHERE status = 'failed' AND reason_code <> '' AND error_class <> '') AS failed,
  (SELECT count(*) FROM messages WHERE status = 'read' AND read_at IS NOT NULL) AS read,
  (SELECT count(*) FROM messages WHERE parent_id IS NOT NULL AND direction = 'outbound') AS parts,
  (SELECT count(*) FROM messages WHERE direction = 'system') AS system,
  (SELECT count(*) FROM messages WHERE direction = 'outbound' AND agent_id IS NULL) AS flow`).Scan(&mix).Error)
	for name, n := range map[string]int64{"abandoned": mix.Abandoned, "never assigned": mix.Unassigned, "transferred": mix.Transferred,
		"overflowed": mix.Overflowed, "closed idle": mix.Inactivity, "closed by an admin": mix.Admin, "failed with a code": mix.Failed,
		"read": mix.Read, "split parts": mix.Parts, "system notes": mix.System, "flow replies": mix.Flow} {
		assert.Positive(t, n, name)
	}

	var out bytes.Buffer
	res.Print(&out)
	for _, n := range want {
		assert.Contains(t, out.String(), n)
	}
	assert.Contains(t, out.String(), "p95/base")
	raw, err := json.Marshal(res)
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"p95Ms"`)

	// Every case but the baselines and the references is held to the
	// limits; a reference still has its ratio.
	res.Failures, res.MaxP95Ms, res.MaxRatio = nil, 1e-6, 1e12
	res.finish()
	assert.Len(t, res.Failures, len(res.Cases)-4, "a p95 over the limit fails its case")
	res.Failures, res.MaxP95Ms, res.MaxRatio = nil, 1e9, 1e-6
	res.finish()
	assert.Len(t, res.Failures, len(res.Cases)-4, "a p95 over the ratio fails its case")
	for _, c := range res.Cases {
		if c.Reference {
			assert.Positive(t, c.Ratio, c.Name)
			assert.NotContains(t, strings.Join(res.Failures, "\n"), c.Name+":", "a reference is never held to the limits")
		}
	}
	assert.Contains(t, out.String(), "(references, in parentheses, are not held to the limits)")
}

// TestReportsBenchCommand runs `connector bench reports -json` through
// Main, and without a Postgres URL.
func TestReportsBenchCommand(t *testing.T) {
	var out bytes.Buffer
	err := Main(context.Background(), []string{"reports", "-database-url", ""}, &out, slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, "DATABASE_URL")
	err = Main(context.Background(), []string{"reports", "-database-url", "file.db"}, &out, slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, "postgres://")

	dsn := testdb.PostgresDSN(t)
	err = Main(context.Background(), []string{"reports", "-database-url", dsn, "-interactions", "300", "-messages", "3000",
		"-calls", "1", "-json", "-max-p95", "1h", "-max-ratio", "1e9"}, &out, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	var s ReportsResult
	require.NoError(t, json.Unmarshal(out.Bytes(), &s))
	assert.Equal(t, int64(300), s.Counts.Interactions)
	assert.Equal(t, int64(3000), s.Counts.Messages)
	assert.Empty(t, s.Failures)
	assert.NotEmpty(t, s.Cases)
	var left int64
	db, err := models.Open(models.OpenOptions{Engine: models.Postgres, DSN: dsn, MaxOpenConns: 1})
	require.NoError(t, err)
	defer func() { _ = models.Close(db) }()
	require.NoError(t, db.Raw(`SELECT count(*) FROM pg_namespace WHERE nspname = ?`, s.Schema).Scan(&left).Error)
	assert.Zero(t, left, "the schema is dropped without -keep")
}

// schemaDSN is dsn with search_path set to schema.
func schemaDSN(t *testing.T, dsn, schema string) string {
	t.Helper()
	i := strings.Index(dsn, "search_path=")
	require.GreaterOrEqual(t, i, 0, "testdb's DSN names its search_path")
	rest := dsn[i+len("search_path="):]
	if j := strings.IndexByte(rest, '&'); j >= 0 {
		return dsn[:i] + "search_path=" + schema + rest[j:]
	}
	return dsn[:i] + "search_path=" + schema
}
