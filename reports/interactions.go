package reports

import (
	"context"
	"slices"

	"gorm.io/gorm"
)

// The interactions report counts the interactions opened in the range
// (From <= opened_at < To), grouped by the interaction's current account,
// queue, agent, channel or disposition, or by the day or week (in the
// report's zone) it was opened:
//
//   - Opened: every interaction of the group;
//   - Assigned: ever assigned (first_assigned_at set);
//   - Closed: closed by an agent or an admin (close_reason agent, admin);
//   - ClosedByInactivity: closed for inactivity;
//   - Transferred, Overflowed: moved at least once by a transfer, by a
//     queue's overflow;
//   - Abandoned: closed (for any reason) with no agent reply;
//   - MessagesIn, MessagesOut: the customer's messages and the agents'
//     replies (sums of the interactions' counters);
//   - FirstResponseSeconds, TimeToAssignSeconds, HandleSeconds: over the
//     interactions that have the figure; ReplySeconds: over the agent
//     replies (with a reply time) of the group's interactions.
//
// A row without the grouped value (no queue, no agent, no disposition)
// has Group.None. Rows are sorted by account name (split reports), then
// day or week ascending, names ascending, None last.

// Indexes of iFig.c and iFig.st.
const (
	cOpened = iota
	cAssigned
	cClosed
	cInactivity
	cTransferred
	cOverflowed
	cAbandoned
	cIn
	cOut
	nCounts
)

const (
	sFirstResponse = iota
	sTimeToAssign
	sReply
	sHandle
	nStats
)

// iFig is the figures of a group as both engines compute them.
type iFig struct {
	c  [nCounts]int64
	st [nStats]statAgg
}

func (x iFig) figures() InteractionFigures {
	return InteractionFigures{
		Opened: x.c[cOpened], Assigned: x.c[cAssigned], Closed: x.c[cClosed], ClosedByInactivity: x.c[cInactivity],
		Transferred: x.c[cTransferred], Overflowed: x.c[cOverflowed], Abandoned: x.c[cAbandoned],
		MessagesIn: x.c[cIn], MessagesOut: x.c[cOut],
		FirstResponseSeconds: x.st[sFirstResponse].stats(), TimeToAssignSeconds: x.st[sTimeToAssign].stats(),
		ReplySeconds: x.st[sReply].stats(), HandleSeconds: x.st[sHandle].stats(),
	}
}

// iResult is the figures of every group and of all of them.
type iResult struct {
	rows  map[key]*iFig
	total iFig
}

func (r *iResult) row(k key) *iFig {
	if r.rows[k] == nil {
		r.rows[k] = &iFig{}
	}
	return r.rows[k]
}

// Interactions reports the interactions opened in f's range, grouped by
// f.GroupBy (InteractionGroupBys). On Postgres it aggregates in SQL; on
// SQLite it reads the range's figures and aggregates them in Go, with the
// same answers. An invalid filter is a *FilterError.
func Interactions(ctx context.Context, db *gorm.DB, f Filter) (InteractionsReport, error) {
	s, err := newScope(ctx, db, f, ReportInteractions, true)
	if err != nil {
		return InteractionsReport{}, err
	}
	res := &iResult{rows: map[key]*iFig{}}
	if s.pg {
		err = s.pgInteractions(res)
	} else {
		err = s.sqliteInteractions(res)
	}
	if err != nil {
		return InteractionsReport{}, err
	}
	keys := make([]key, 0, len(res.rows))
	for k := range res.rows {
		keys = append(keys, k)
	}
	nb, err := s.loadNames(keys, f.GroupBy)
	if err != nil {
		return InteractionsReport{}, err
	}
	out := InteractionsReport{
		From: s.f.From.In(s.loc), To: s.f.To.In(s.loc), TZ: s.loc.String(), GroupBy: f.GroupBy,
		Rows: make([]InteractionRow, 0, len(keys)), Totals: res.total.figures(), TotalsURL: s.rowURL(nil, ""),
	}
	out.TotalsFigureURLs = figureURLs(out.TotalsURL)
	for _, k := range keys {
		u := s.rowURL(&k, f.GroupBy)
		out.Rows = append(out.Rows, InteractionRow{
			Group: s.group(k, f.GroupBy, nb), InteractionFigures: res.rows[k].figures(), InteractionsURL: u, FigureURLs: figureURLs(u),
		})
	}
	slices.SortFunc(out.Rows, func(a, b InteractionRow) int { return compareGroups(a.Group, b.Group) })
	return out, nil
}
