package bench

import (
	"context"
	"fmt"
	"io"
	"time"

	"gorm.io/gorm"

	"github.com/xcally-connector/connector/reports"
)

// The reports bench's cases: the baselines the issue names (a bare
// count(*) of the range), references (what the interactions report's
// own reads cost without aggregating, measured in the same run; never
// held to the limits), and the reports.

const (
	baseInteractions = "count(*) interactions"
	baseMessages     = "count(*) messages"
	// refGroupCounts is one grouped pass over the range's interactions
	// with counts and sums only (no percentile sorts); refReplies counts
	// the agent replies with a reply time that the range's interactions
	// join to (the rows the reply-time figures are computed from).
	refGroupCounts = "reference: GROUP BY agent, counts and sums"
	refReplies     = "reference: count(*) replies joined"
)

// reportCases are the baselines, the references, every groupBy of both
// range reports, one account with its migrations, and live (it reads
// interactions).
func reportCases(db *gorm.DB, from, to time.Time, loc *time.Location, migrated uint64, now time.Time) []ReportCase {
	count := func(q string) func(context.Context) (int64, error) {
		return func(ctx context.Context) (n int64, err error) {
			err = db.WithContext(ctx).Raw(q, from, to).Scan(&n).Error
			return n, err
		}
	}
	interactions := func(f reports.Filter) func(context.Context) (int64, error) {
		return func(ctx context.Context) (int64, error) {
			r, err := reports.Interactions(ctx, db, f)
			return int64(len(r.Rows)), err
		}
	}
	cases := []ReportCase{
		{Name: baseInteractions, run: count(`SELECT count(*) FROM interactions WHERE opened_at >= ? AND opened_at < ?`)},
		{Name: baseMessages, run: count(`SELECT count(*) FROM messages WHERE created_at >= ? AND created_at < ?`)},
		{Name: refGroupCounts, Baseline: baseInteractions, Reference: true, run: count(`SELECT count(*) FROM (
  SELECT agent_id, count(*), count(first_assigned_at), sum(messages_in), sum(messages_out), sum(first_response_ms),
    max(first_response_ms), sum(time_to_assign_ms), max(time_to_assign_ms), sum(handle_ms), max(handle_ms)
  FROM interactions WHERE opened_at >= ? AND opened_at < ? GROUP BY agent_id) g`)},
		{Name: refReplies, Baseline: baseInteractions, Reference: true, run: count(`SELECT count(*) FROM interactions i
  JOIN messages m ON m.interaction_id = i.id
  WHERE i.opened_at >= ? AND i.opened_at < ? AND m.direction = 'outbound' AND m.agent_id IS NOT NULL AND m.parent_id IS NULL
    AND m.reply_ms IS NOT NULL`)},
	}
	base := reports.Filter{From: from, To: to, Location: loc}
	for _, g := range reports.InteractionGroupBys {
		f := base
		f.GroupBy = g
		cases = append(cases, ReportCase{Name: "interactions groupBy=" + g, Baseline: baseInteractions, run: interactions(f)})
	}
	f := base
	f.GroupBy, f.AccountID, f.IncludeMigrated = reports.ByDay, migrated, true
	cases = append(cases, ReportCase{Name: fmt.Sprintf("interactions groupBy=day account=%d includeMigrated", migrated),
		Baseline: baseInteractions, run: interactions(f)})
	for _, g := range reports.DeliveryGroupBys {
		f := base
		f.GroupBy = g
		cases = append(cases, ReportCase{Name: "deliveries groupBy=" + g, Baseline: baseMessages, run: func(ctx context.Context) (int64, error) {
			r, err := reports.Deliveries(ctx, db, f)
			return int64(len(r.Rows)), err
		}})
	}
	return append(cases, ReportCase{Name: "live", Baseline: baseInteractions, run: func(ctx context.Context) (int64, error) {
		r, err := reports.Live(ctx, db, reports.Filter{Location: loc}, now)
		return int64(len(r.Queues)), err
	}})
}

// finish computes each case's distribution and ratio, and the failures.
func (r *ReportsResult) finish() {
	p95 := map[string]float64{}
	for i, c := range r.Cases {
		r.Cases[i].Latency = distOf(c.Times)
		p95[c.Name] = r.Cases[i].Latency.P95
	}
	for i, c := range r.Cases {
		if c.Baseline == "" {
			continue
		}
		r.Cases[i].Ratio = c.Latency.P95 / max(p95[c.Baseline], 0.001) // (distOf's resolution is a µs)
		if c.Reference {
			continue
		}
		if c.Latency.P95 > r.MaxP95Ms {
			r.Failures = append(r.Failures, fmt.Sprintf("%s: p95 %.1f ms is over %g ms", c.Name, c.Latency.P95, r.MaxP95Ms))
		}
		if r.Cases[i].Ratio > r.MaxRatio {
			r.Failures = append(r.Failures, fmt.Sprintf("%s: p95 %.1f ms is %.1fx the p95 of %s (limit %gx)",
				c.Name, c.Latency.P95, r.Cases[i].Ratio, c.Baseline, r.MaxRatio))
		}
	}
}

// Print writes the table: each case's distribution and its p95's ratio to
// its baseline's, then the verdict.
func (r *ReportsResult) Print(w io.Writer) {
	kept := map[bool]string{false: "dropped at the end", true: "kept"}[r.kept]
	_, _ = fmt.Fprintf(w, "reports bench: %d interactions, %d messages over %d days; %d accounts, %d queues, %d agents, %d contacts; Postgres schema %s (%s)\n",
		r.Counts.Interactions, r.Counts.Messages, reportDays, r.Counts.Accounts, r.Counts.Queues, r.Counts.Agents, r.Counts.Contacts, r.Schema, kept)
	_, _ = fmt.Fprintf(w, "seeded in %.1fs, VACUUM ANALYZE %.1fs; range %s to %s (%s); %d timed calls per case after one untimed, cases interleaved\n",
		r.SeedSeconds, r.VacuumSeconds, r.From.Format(time.RFC3339), r.To.Format(time.RFC3339), r.TZ, r.Calls)
	_, _ = fmt.Fprintf(w, "%-52s %8s %9s %9s %9s %9s\n", "case", "rows", "p50 ms", "p95 ms", "max ms", "p95/base")
	for _, c := range r.Cases {
		ratio := "baseline"
		switch {
		case c.Reference:
			ratio = fmt.Sprintf("(%.1fx)", c.Ratio)
		case c.Baseline != "":
			ratio = fmt.Sprintf("%.1fx", c.Ratio)
		}
		_, _ = fmt.Fprintf(w, "%-52s %8d %9.1f %9.1f %9.1f %9s\n", c.Name, c.Rows, c.Latency.P50, c.Latency.P95, c.Latency.Max, ratio)
	}
	verdict := "ok: every p95 is"
	if len(r.Failures) > 0 {
		verdict = fmt.Sprintf("FAIL: %d over the limits; a p95 must be", len(r.Failures))
	}
	_, _ = fmt.Fprintf(w, "%s at most %gms and at most %gx its baseline's p95 (references, in parentheses, are not held to the limits)\n",
		verdict, r.MaxP95Ms, r.MaxRatio)
}
