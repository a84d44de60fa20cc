package reports_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/internal/ptr"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/reports"
)

// dspec is an outbound message and what it must count as: want holds
// a (accepted), d (delivered), r (read), f (failed), s (resent).
type dspec struct {
	label, inter string
	flow         bool
	created      time.Time
	status       models.MessageStatus
	sent         bool
	attempt      int
	code, class  string
	errMsg       string
	// parts are the statuses of its split parts (the failed one with
	// partCode).
	parts    []models.MessageStatus
	partCode string
	want     string
}

const timedOut = "SEND_TIMED_OUT: Sinch did not accept the message within 30s (rate limited or unavailable); try again later"

var dspecs = []dspec{
	{label: "m1", inter: "N1", created: day(2, 10, 1), status: models.StatusDelivered, sent: true, want: "ad"},
	{label: "m2", inter: "N1", created: day(2, 23, 30), status: models.StatusRead, sent: true, want: "adr"},
	{label: "m3", inter: "N1", created: day(3, 9, 0), status: models.StatusFailed, sent: true, attempt: 3, code: "RATE_LIMITED", class: "network", want: "afs"},
	{label: "m4", inter: "N1", flow: true, created: day(3, 9, 5), status: models.StatusAccepted, attempt: 2, want: "as"},
	{label: "m5", inter: "N1", created: day(4, 9, 0), status: models.StatusFailed, sent: true, code: "OUTSIDE_ALLOWED_SENDING_WINDOW", class: "policy", want: "af"},
	{label: "m6", inter: "N1", created: day(4, 9, 5), status: models.StatusPending, want: ""},
	{label: "m7", inter: "N1", created: day(5, 9, 0), status: models.StatusDelivered, sent: true, code: activities.ReasonSplitRequired,
		parts: []models.MessageStatus{models.StatusDelivered, models.StatusDelivered}, want: "ads"},
	{label: "m8", inter: "N1", created: day(5, 9, 5), status: models.StatusFailed, sent: true, code: activities.ReasonSplitRequired, class: "policy",
		errMsg: "part 2 of 2: RECIPIENT_NOT_OPTED_IN: …", parts: []models.MessageStatus{models.StatusDelivered, models.StatusFailed},
		partCode: "RECIPIENT_NOT_OPTED_IN", want: "afs"},
	{label: "m9", inter: "N1", created: day(6, 9, 0), status: models.StatusFailed, code: "SEND_TIMED_OUT", class: "network", errMsg: timedOut, want: "f"},
	{label: "m10", inter: "N1", created: day(6, 9, 5), status: models.StatusFailed, sent: true, attempt: 4, code: "RATE_LIMITED", class: "network", want: "afs"},
	{label: "m11", inter: "N1", created: day(6, 9, 10), status: models.StatusFailed, code: "NEW_SINCH_CODE", class: "support",
		errMsg: "NEW_SINCH_CODE: unknown Sinch error code: contact support with these details", want: "f"},
	{label: "m12", inter: "N1", created: day(6, 9, 15), status: models.StatusFailed, code: "MEDIA_TOO_LARGE", class: "media", want: "f"},
	{label: "s1", inter: "S1", created: day(7, 9, 0), status: models.StatusDelivered, sent: true, want: "ad"},
	{label: "s2", inter: "S1", flow: true, created: day(7, 9, 5), status: models.StatusFailed, sent: true, attempt: 1, code: "RECIPIENT_NOT_OPTED_IN", class: "policy", want: "af"},
	{label: "s3", inter: "S1", created: day(8, 12, 0), status: models.StatusFailed, sent: true, attempt: 2, code: "RATE_LIMITED", class: "network", want: "afs"},
	// Outside the range.
	{label: "x1", inter: "N1", created: day(1, 0, 0).Add(-time.Hour), status: models.StatusFailed, code: "RATE_LIMITED", class: "network"},
	{label: "x2", inter: "N1", created: day(10, 0, 0), status: models.StatusFailed, code: "RATE_LIMITED", class: "network"},
}

// seedDeliveries adds two accounts (North on WhatsApp, South on
// Instagram) with an interaction each and the messages of dspecs, plus
// messages that are not sent: inbound, system.
func seedDeliveries(w *world) {
	w.account("North", "")
	w.account("South", "")
	w.agent("Dan", models.PresenceAvailable, 1, "North", "South")
	w.interaction(ispec{label: "N1", account: "North", agent: "Dan", channel: models.ChannelWhatsApp, opened: day(2, 10, 0), status: models.InteractionAssigned})
	w.interaction(ispec{label: "S1", account: "South", agent: "Dan", channel: models.ChannelInstagram, opened: day(3, 10, 0), status: models.InteractionAssigned})
	for _, s := range dspecs {
		in := w.inter[s.inter]
		m := models.Message{InteractionID: in.ID, Direction: models.DirectionOutbound, Status: s.status, SendAttempt: max(s.attempt, 1),
			ReasonCode: s.code, ErrorClass: models.ErrorClass(s.class), ErrorMessage: s.errMsg, CreatedAt: s.created}
		if !s.flow {
			m.AgentID = in.AgentID
		}
		if s.sent {
			m.SentAt = ptr.To(s.created.Add(time.Second))
		}
		if s.status == models.StatusFailed && s.errMsg == "" {
			m.ErrorMessage = activities.ClassifyReason(s.code, "", "").Message
		}
		if s.code == "MEDIA_TOO_LARGE" {
			m.Kind = "media"
		}
		parent := w.message(m)
		for i, st := range s.parts {
			p := models.Message{InteractionID: in.ID, Direction: models.DirectionOutbound, AgentID: in.AgentID, Status: st, SendAttempt: 2,
				ParentID: &parent.ID, Part: i + 1, SentAt: ptr.To(s.created), CreatedAt: s.created.Add(time.Duration(i+1) * time.Second)}
			if st == models.StatusFailed {
				p.ReasonCode, p.ErrorClass = s.partCode, models.ErrorClass(s.class)
			}
			w.message(p)
		}
	}
	n1 := w.inter["N1"].ID
	w.message(models.Message{InteractionID: n1, Direction: models.DirectionInbound, Status: models.StatusReceived, CreatedAt: day(2, 10, 0)})
	w.message(models.Message{InteractionID: n1, Direction: models.DirectionSystem, Kind: "system", Status: models.StatusReceived, CreatedAt: day(3, 9, 1)})
}

// dexpect is the figures of the labelled messages from their want
// flags; codes are checked separately.
func dexpect(labels ...string) reports.DeliveryFigures {
	var f reports.DeliveryFigures
	for _, l := range labels {
		for _, s := range dspecs {
			if s.label != l {
				continue
			}
			f.Sent++
			f.Accepted += b2i(strings.Contains(s.want, "a"))
			f.Delivered += b2i(strings.Contains(s.want, "d"))
			f.Read += b2i(strings.Contains(s.want, "r"))
			f.Failed += b2i(strings.Contains(s.want, "f"))
			f.Resent += b2i(strings.Contains(s.want, "s"))
		}
	}
	if f.Sent > 0 {
		f.FailureRate = float64(f.Failed) / float64(f.Sent)
	}
	return f
}

func deliveries(t *testing.T, w *world, f reports.Filter) reports.DeliveriesReport {
	t.Helper()
	r, err := reports.Deliveries(context.Background(), w.db, f)
	require.NoError(t, err)
	return r
}

func advice(code string) string { return activities.ClassifyReason(code, "", "").Message }

func TestDeliveriesTotalsAndTopCodes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, w *world) {
		seedDeliveries(w)
		r := deliveries(t, w, reports.Filter{From: from, To: to, GroupBy: reports.ByAccount})
		want := reports.DeliveryFigures{Sent: 15, Accepted: 11, Delivered: 4, Read: 1, Failed: 9, Resent: 6, FailureRate: 0.6,
			TopCodes: []reports.CodeCount{
				{Code: "RATE_LIMITED", Class: "network", Count: 3, Advice: advice("RATE_LIMITED")},
				// m8's part failed with it: the split text counts once,
				// under its part's code.
				{Code: "RECIPIENT_NOT_OPTED_IN", Class: "policy", Count: 2, Advice: advice("RECIPIENT_NOT_OPTED_IN")},
				{Code: "MEDIA_TOO_LARGE", Class: "media", Count: 1, Advice: advice("MEDIA_TOO_LARGE")},
				{Code: "NEW_SINCH_CODE", Class: "support", Count: 1, Advice: "NEW_SINCH_CODE: unknown Sinch error code: contact support with these details"},
				{Code: "OUTSIDE_ALLOWED_SENDING_WINDOW", Class: "policy", Count: 1, Advice: advice("OUTSIDE_ALLOWED_SENDING_WINDOW")},
			}}
		assert.Equal(t, want, r.Totals)
		all := dexpect("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9", "m10", "m11", "m12", "s1", "s2", "s3")
		all.TopCodes = want.TopCodes
		assert.Equal(t, want, all, "the test's flags agree")
		assert.Contains(t, r.Totals.TopCodes[0].Advice, "resent the message automatically")

		require.Len(t, r.Rows, 2)
		assert.Equal(t, reports.Group{AccountID: w.accounts["North"], AccountName: "North"}, r.Rows[0].Group)
		assert.Equal(t, reports.Group{AccountID: w.accounts["South"], AccountName: "South"}, r.Rows[1].Group)
		south := r.Rows[1].DeliveryFigures
		assert.Equal(t, []reports.CodeCount{
			{Code: "RATE_LIMITED", Class: "network", Count: 1, Advice: advice("RATE_LIMITED")},
			{Code: "RECIPIENT_NOT_OPTED_IN", Class: "policy", Count: 1, Advice: advice("RECIPIENT_NOT_OPTED_IN")},
		}, south.TopCodes)
		south.TopCodes = nil
		assert.Equal(t, dexpect("s1", "s2", "s3"), south)
		assert.Len(t, r.Rows[0].TopCodes, reports.MaxTopCodes, "North has six codes: five are listed")
	})
}

func TestDeliveriesGroupBy(t *testing.T) {
	forEachEngine(t, func(t *testing.T, w *world) {
		seedDeliveries(w)
		none := []string{"m1", "m2", "m4", "m6", "m7", "s1"}
		for _, tc := range []struct {
			name, groupBy string
			loc           *time.Location
			rows          []row
		}{
			{"channel", reports.ByChannel, nil, []row{
				{reports.Group{Channel: "INSTAGRAM"}, []string{"s1", "s2", "s3"}},
				{reports.Group{Channel: "WHATSAPP"}, []string{"m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9", "m10", "m11", "m12"}},
			}},
			{"class", reports.ByClass, nil, []row{
				{reports.Group{Class: "media"}, []string{"m12"}},
				{reports.Group{Class: "network"}, []string{"m3", "m9", "m10", "s3"}},
				{reports.Group{Class: "policy"}, []string{"m5", "m8", "s2"}},
				{reports.Group{Class: "support"}, []string{"m11"}},
				{reports.Group{None: true}, none},
			}},
			{"code", reports.ByCode, nil, []row{
				{reports.Group{Code: "MEDIA_TOO_LARGE"}, []string{"m12"}},
				{reports.Group{Code: "NEW_SINCH_CODE"}, []string{"m11"}},
				{reports.Group{Code: "OUTSIDE_ALLOWED_SENDING_WINDOW"}, []string{"m5"}},
				{reports.Group{Code: "RATE_LIMITED"}, []string{"m3", "m10", "s3"}},
				{reports.Group{Code: "RECIPIENT_NOT_OPTED_IN"}, []string{"m8", "s2"}},
				{reports.Group{Code: "SEND_TIMED_OUT"}, []string{"m9"}},
				{reports.Group{None: true}, none},
			}},
			{"day UTC", reports.ByDay, nil, []row{
				{reports.Group{Day: "2026-03-02"}, []string{"m1", "m2"}},
				{reports.Group{Day: "2026-03-03"}, []string{"m3", "m4"}},
				{reports.Group{Day: "2026-03-04"}, []string{"m5", "m6"}},
				{reports.Group{Day: "2026-03-05"}, []string{"m7", "m8"}},
				{reports.Group{Day: "2026-03-06"}, []string{"m9", "m10", "m11", "m12"}},
				{reports.Group{Day: "2026-03-07"}, []string{"s1", "s2"}},
				{reports.Group{Day: "2026-03-08"}, []string{"s3"}},
			}},
			{"day Rome", reports.ByDay, rome(t), []row{
				{reports.Group{Day: "2026-03-02"}, []string{"m1"}},
				{reports.Group{Day: "2026-03-03"}, []string{"m2", "m3", "m4"}},
				{reports.Group{Day: "2026-03-04"}, []string{"m5", "m6"}},
				{reports.Group{Day: "2026-03-05"}, []string{"m7", "m8"}},
				{reports.Group{Day: "2026-03-06"}, []string{"m9", "m10", "m11", "m12"}},
				{reports.Group{Day: "2026-03-07"}, []string{"s1", "s2"}},
				{reports.Group{Day: "2026-03-08"}, []string{"s3"}},
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := deliveries(t, w, reports.Filter{From: from, To: to, GroupBy: tc.groupBy, Location: tc.loc})
				require.Len(t, r.Rows, len(tc.rows))
				for i, want := range tc.rows {
					got := r.Rows[i]
					assert.Equal(t, want.group, got.Group, "row %d", i)
					figs := got.DeliveryFigures
					figs.TopCodes = nil
					assert.Equal(t, dexpect(want.labels...), figs, "row %d %+v", i, want.group)
					if want.group.Code != "" {
						require.Len(t, got.TopCodes, 1)
						assert.Equal(t, want.group.Code, got.TopCodes[0].Code)
					}
					if want.group.None {
						assert.Empty(t, got.TopCodes)
					}
				}
				assert.Equal(t, int64(15), r.Totals.Sent)
			})
		}
		r := deliveries(t, w, reports.Filter{From: from, To: to, GroupBy: reports.ByCode})
		assert.Equal(t, timedOut, r.Rows[5].TopCodes[0].Advice, "the connector's own code: the text the agent saw")
		assert.Equal(t, "network", r.Rows[5].TopCodes[0].Class)
	})
}

func TestDeliveriesFilters(t *testing.T) {
	forEachEngine(t, func(t *testing.T, w *world) {
		seedDeliveries(w)
		for _, tc := range []struct {
			name   string
			f      reports.Filter
			labels []string
		}{
			{"account", reports.Filter{AccountID: w.accounts["South"]}, []string{"s1", "s2", "s3"}},
			{"channel", reports.Filter{Channel: "INSTAGRAM"}, []string{"s1", "s2", "s3"}},
			{"agent: not flow replies", reports.Filter{AgentID: w.agents["Dan"], AccountID: w.accounts["South"]}, []string{"s1", "s3"}},
			{"range", reports.Filter{From: day(6, 9, 5), To: day(6, 9, 15)}, []string{"m10", "m11"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := tc.f
				if f.From.IsZero() {
					f.From, f.To = from, to
				}
				f.GroupBy = reports.ByDay
				r := deliveries(t, w, f)
				figs := r.Totals
				figs.TopCodes = nil
				assert.Equal(t, dexpect(tc.labels...), figs)
			})
		}
		r := deliveries(t, w, reports.Filter{From: day(20, 0, 0), To: day(21, 0, 0), GroupBy: reports.ByDay})
		assert.Equal(t, reports.DeliveryFigures{TopCodes: []reports.CodeCount{}}, r.Totals, "nothing sent: a rate of 0")
		assert.Equal(t, []reports.DeliveryRow{}, r.Rows)
	})
}

func TestDeliveriesIncludeMigrated(t *testing.T) {
	forEachEngine(t, func(t *testing.T, w *world) {
		seedDeliveries(w)
		w.account("Elsewhere", "")
		require.NoError(t, w.db.Model(&models.Account{}).Where("id = ?", w.accounts["South"]).
			Updates(map[string]any{"status": models.AccountMigrated, "migrated_to_account_id": w.accounts["North"]}).Error)
		r := deliveries(t, w, reports.Filter{From: from, To: to, GroupBy: reports.ByChannel, AccountID: w.accounts["North"], IncludeMigrated: true})
		require.Len(t, r.Rows, 2, "North's WhatsApp and South's Instagram")
		assert.Equal(t, reports.Group{AccountID: w.accounts["North"], AccountName: "North", Channel: "WHATSAPP"}, r.Rows[0].Group)
		assert.Equal(t, reports.Group{AccountID: w.accounts["South"], AccountName: "South", Channel: "INSTAGRAM"}, r.Rows[1].Group)
		south := r.Rows[1].DeliveryFigures
		south.TopCodes = nil
		assert.Equal(t, dexpect("s1", "s2", "s3"), south)
		assert.Equal(t, int64(15), r.Totals.Sent)
		// From South, the set is the same.
		r2 := deliveries(t, w, reports.Filter{From: from, To: to, GroupBy: reports.ByChannel, AccountID: w.accounts["South"], IncludeMigrated: true})
		assert.Equal(t, r, r2)
	})
}
