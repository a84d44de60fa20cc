package app_test

import (
	"encoding/csv"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/reports"
	"github.com/xcally-connector/connector/sinch/emulator"
)

// TestReportsAfterRealTraffic: customers write through the emulator,
// agents reply, transfer and close through the API, the engine and the
// worker do the rest; the reports then count exactly that traffic, their
// time figures agree with the stored figures (nearest-rank, by hand), and
// each drill-down lists exactly the counted interactions.
func TestReportsAfterRealTraffic(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) { testReportsAfterRealTraffic(t, engine) })
	}
}

func testReportsAfterRealTraffic(t *testing.T, engine models.Engine) {
	s := newReplyStack(t, engine, nil)
	start := time.Now().UTC().Add(-time.Minute)
	// Three customers; c1 and c2 get replies, c3 none.
	it1, it2, it3 := s.hello("393331000001"), s.hello("393331000002"), s.hello("393331000003")
	replyAs := func(it api.InteractionResponse, text string) api.ReplyResponse {
		owner, _ := s.assignee(s.interaction(it.ID))
		var out api.ReplyResponse
		require.Equal(t, http.StatusAccepted, s.reply(it, owner.Token, map[string]string{"text": text}, &out))
		return out
	}
	r1 := replyAs(it1, "Hello, how can I help?")
	r2 := replyAs(it2, "Hi there")
	// c1 writes again and gets a second reply.
	_, err := s.em.SendInbound(appID, emulator.Inbound{From: "393331000001", Text: "My order is late"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(s.interaction(it1.ID).Messages) >= 3 }, 30*time.Second, 50*time.Millisecond)
	r3 := replyAs(it1, "Let me check")
	for i, r := range []api.ReplyResponse{r1, r2, r3} {
		s.waitStatus([]uint64{it1.ID, it2.ID, it1.ID}[i], r.ID, "read")
	}
	// c2 is transferred to the other agent; c1 closed by its agent, c3 by
	// the admin without any reply.
	owner2, other2 := s.assignee(s.interaction(it2.ID))
	require.Equal(t, http.StatusOK, s.call(http.MethodPost, fmt.Sprintf("/api/interactions/%d/transfer", it2.ID), owner2.Token, map[string]any{"agentId": other2.ID}, nil))
	owner1, _ := s.assignee(s.interaction(it1.ID))
	require.Equal(t, http.StatusOK, s.call(http.MethodPost, fmt.Sprintf("/api/interactions/%d/close", it1.ID), owner1.Token, map[string]string{}, nil))
	require.Equal(t, http.StatusOK, s.call(http.MethodPost, fmt.Sprintf("/api/interactions/%d/close", it3.ID), s.cfg.AdminToken, map[string]string{}, nil))
	end := time.Now().UTC().Add(time.Minute)

	q := url.Values{"from": {start.Format(time.RFC3339)}, "to": {end.Format(time.RFC3339)}}
	get := func(path string, v url.Values, out any) {
		s.admin(http.MethodGet, path+"?"+v.Encode(), nil, out, http.StatusOK)
	}
	var byAccount reports.InteractionsReport
	get("/api/reports/interactions", q, &byAccount)
	require.Len(t, byAccount.Rows, 1)
	tot := byAccount.Totals
	assert.Equal(t, int64(3), tot.Opened)
	assert.Equal(t, int64(3), tot.Assigned)
	assert.Equal(t, int64(2), tot.Closed, "one by its agent, one by the admin")
	assert.Equal(t, int64(0), tot.ClosedByInactivity)
	assert.Equal(t, int64(1), tot.Transferred)
	assert.Equal(t, int64(0), tot.Overflowed)
	assert.Equal(t, int64(1), tot.Abandoned, "c3 closed with no agent reply")
	assert.Equal(t, int64(4), tot.MessagesIn)
	assert.Equal(t, int64(3), tot.MessagesOut)
	assert.Equal(t, byAccount.Rows[0].InteractionFigures, tot)

	// The time figures are those the worker stored, summarized by hand.
	var rows []models.Interaction
	require.NoError(t, s.dev.DB.Where("id IN ?", []uint64{it1.ID, it2.ID, it3.ID}).Order("id").Find(&rows).Error)
	var first, assign, handle []float64
	for _, r := range rows {
		if r.FirstResponseMs != nil {
			first = append(first, float64(*r.FirstResponseMs)/1000)
		}
		if r.TimeToAssignMs != nil {
			assign = append(assign, float64(*r.TimeToAssignMs)/1000)
		}
		if r.HandleMs != nil {
			handle = append(handle, float64(*r.HandleMs)/1000)
		}
	}
	var replies []models.Message
	require.NoError(t, s.dev.DB.Where("id IN ?", []uint64{r1.ID, r2.ID, r3.ID}).Find(&replies).Error)
	var reply []float64
	for _, m := range replies {
		require.NotNil(t, m.ReplyMs, "every reply here answers a customer message")
		reply = append(reply, float64(*m.ReplyMs)/1000)
	}
	assertStats(t, "firstResponseSeconds", first, tot.FirstResponseSeconds)
	assertStats(t, "timeToAssignSeconds", assign, tot.TimeToAssignSeconds)
	assertStats(t, "handleSeconds", handle, tot.HandleSeconds)
	assertStats(t, "replySeconds", reply, tot.ReplySeconds)
	assert.Len(t, first, 2)
	assert.Len(t, assign, 3)
	assert.Len(t, handle, 2)

	// Per agent: the rows partition the totals and each drill-down lists
	// exactly the row's interactions.
	byAgent := url.Values{"from": q["from"], "to": q["to"], "groupBy": {"agent"}}
	var agents reports.InteractionsReport
	get("/api/reports/interactions", byAgent, &agents)
	var opened int64
	for _, row := range agents.Rows {
		opened += row.Opened
		var list api.InteractionList
		s.admin(http.MethodGet, row.InteractionsURL, nil, &list, http.StatusOK)
		assert.Len(t, list.Items, int(row.Opened), "%+v: %s", row.Group, row.InteractionsURL)
		assertFigureURLs(t, s.stack, row.InteractionFigures, row.FigureURLs)
	}
	assertFigureURLs(t, s.stack, agents.Totals, agents.TotalsFigureURLs)
	assert.Equal(t, int64(3), opened)
	var all api.InteractionList
	s.admin(http.MethodGet, byAccount.TotalsURL, nil, &all, http.StatusOK)
	var ids []uint64
	for _, i := range all.Items {
		ids = append(ids, i.ID)
	}
	slices.Sort(ids)
	assert.Equal(t, []uint64{it1.ID, it2.ID, it3.ID}, ids)

	// Deliveries: three replies sent, accepted, delivered and read.
	var del reports.DeliveriesReport
	get("/api/reports/deliveries", q, &del)
	assert.Equal(t, int64(3), del.Totals.Sent)
	assert.Equal(t, int64(3), del.Totals.Accepted)
	assert.Equal(t, int64(3), del.Totals.Delivered)
	assert.Equal(t, int64(3), del.Totals.Read)
	assert.Zero(t, del.Totals.Failed)
	assert.Zero(t, del.Totals.FailureRate)

	// Live: c2 is open and answered, nothing waits.
	var live reports.LiveReport
	s.admin(http.MethodGet, "/api/reports/live", nil, &live, http.StatusOK)
	assert.Equal(t, int64(1), live.Open.Count)
	assert.Zero(t, live.Queued.Count)
	assert.Zero(t, live.Unattended.Count)
	assert.Equal(t, int64(2), live.Agents.Available)

	// CSV parses back to the JSON figures.
	q.Set("format", "csv")
	resp, err := http.Get(s.url("/api/reports/interactions?" + q.Encode()))
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "reports need the admin token")
	req, err := http.NewRequest(http.MethodGet, s.url("/api/reports/interactions?"+q.Encode()), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.cfg.AdminToken)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	lines, err := csv.NewReader(resp.Body).ReadAll()
	_ = resp.Body.Close()
	require.NoError(t, err)
	require.Len(t, lines, 3, "header, the account's row, the total line")
	col := func(name string) int { return slices.Index(lines[0], name) }
	for _, c := range []struct {
		name string
		want int64
	}{{"opened", 3}, {"abandoned", 1}, {"messagesOut", 3}, {"replySeconds.count", 3}} {
		require.GreaterOrEqual(t, col(c.name), 0, c.name)
		assert.Equal(t, strconv.FormatInt(c.want, 10), lines[2][col(c.name)], c.name)
	}
	assert.Equal(t, "total", lines[2][0])
	p50, err := strconv.ParseFloat(lines[2][col("firstResponseSeconds.p50")], 64)
	require.NoError(t, err)
	assert.InDelta(t, tot.FirstResponseSeconds.P50, p50, 1e-9)
	assert.True(t, strings.HasPrefix(lines[0][0], "row"))
}

// assertStats checks a report's summary of values (seconds) by hand:
// count, average, nearest-rank p50 and p90, maximum.
// assertFigureURLs checks that each figure's drill-down lists exactly as
// many interactions as the figure counts.
func assertFigureURLs(t *testing.T, s *stack, f reports.InteractionFigures, urls map[string]string) {
	t.Helper()
	want := map[string]int64{
		reports.FigureAssigned: f.Assigned, reports.FigureClosed: f.Closed, reports.FigureClosedByInactivity: f.ClosedByInactivity,
		reports.FigureTransferred: f.Transferred, reports.FigureOverflowed: f.Overflowed, reports.FigureAbandoned: f.Abandoned,
	}
	require.Len(t, urls, len(want))
	for name, n := range want {
		var list api.InteractionList
		s.admin(http.MethodGet, urls[name], nil, &list, http.StatusOK)
		assert.Len(t, list.Items, int(n), "%s: %s", name, urls[name])
	}
}

func assertStats(t *testing.T, name string, values []float64, got reports.Stats) {
	t.Helper()
	slices.Sort(values)
	n := len(values)
	require.Equal(t, int64(n), got.Count, name)
	if n == 0 {
		return
	}
	sum := 0.0
	for _, v := range values {
		sum += v
	}
	rank := func(p float64) float64 { return values[int(math.Ceil(p*float64(n)))-1] }
	assert.InDelta(t, sum/float64(n), got.Avg, 0.001, name+".avg")
	assert.InDelta(t, rank(0.5), got.P50, 0.001, name+".p50")
	assert.InDelta(t, rank(0.9), got.P90, 0.001, name+".p90")
	assert.InDelta(t, values[n-1], got.Max, 0.001, name+".max")
}
