package api_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/agentevents"
	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
)

var sseDedup atomic.Int64

// sseWorld is an API on a Postgres schema, an agent, and a second
// connection that plays the worker inserting events.
type sseWorld struct {
	url    string
	db     *gorm.DB
	writer *gorm.DB
	agent  uint64
	events *agentevents.Listener
}

// newSSEWorld serves the API on Postgres; with a listener (safety poll
// poll) its streams are woken by NOTIFY, without one they poll.
func newSSEWorld(tb testing.TB, withListener bool, poll time.Duration) *sseWorld {
	tb.Helper()
	dsn := testdb.PostgresDSN(tb)
	open := func() *gorm.DB {
		db, err := models.Open(models.OpenOptions{Engine: models.Postgres, DSN: dsn, MaxOpenConns: 4})
		require.NoError(tb, err)
		tb.Cleanup(func() { _ = models.Close(db) })
		return db
	}
	w := &sseWorld{db: open(), writer: open()}
	require.NoError(tb, models.Migrate(w.db))
	ag := models.Agent{Name: "ann", TokenHash: fmt.Sprintf("%064d", time.Now().UnixNano())}
	require.NoError(tb, w.db.Create(&ag).Error)
	w.agent = ag.ID
	deps := api.Deps{DB: w.db, AdminToken: adminToken, TaskQueue: "q"}
	if withListener {
		l, err := agentevents.NewListener(dsn, nil)
		require.NoError(tb, err)
		l.SafetyPoll = poll
		ctx, cancel := context.WithCancel(context.Background())
		go func() { _ = l.Run(ctx) }()
		tb.Cleanup(func() { cancel(); <-l.Done() })
		require.Eventually(tb, func() bool { return l.BackendPID() != 0 }, 10*time.Second, 10*time.Millisecond, "the listener connects")
		deps.Events, w.events = l, l
	}
	srv := httptest.NewServer(api.New(deps))
	tb.Cleanup(srv.Close)
	w.url = srv.URL
	return w
}

// stream opens the agent's SSE stream and returns the ids of the events
// it receives, after the stream's first line arrived.
func (w *sseWorld) stream(tb testing.TB) <-chan uint64 {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/agents/%d/events", w.url, w.agent), nil)
	require.NoError(tb, err)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(tb, err)
	require.Equal(tb, http.StatusOK, resp.StatusCode)
	ids := make(chan uint64, 1000)
	ready := make(chan struct{})
	go func() {
		defer func() { _ = resp.Body.Close() }()
		sc := bufio.NewScanner(resp.Body)
		first := true
		for sc.Scan() {
			line := sc.Text()
			if first {
				close(ready)
				first = false
			}
			if v, ok := strings.CutPrefix(line, "id: "); ok {
				id, _ := strconv.ParseUint(v, 10, 64)
				ids <- id
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		tb.Fatal("the stream sent nothing")
	}
	return ids
}

// insert stores an event through the writer connection, as a worker would.
func (w *sseWorld) insert(tb testing.TB) uint64 {
	tb.Helper()
	ev := models.AgentEvent{AgentID: w.agent, Type: "message.inbound", Data: `{"text":"hi"}`,
		DedupKey: fmt.Sprintf("sse-%d-%d", time.Now().UnixNano(), sseDedup.Add(1))}
	require.NoError(tb, w.writer.Create(&ev).Error)
	return ev.ID
}

// await returns how long until the stream delivered id (failing after max).
func await(tb testing.TB, ids <-chan uint64, id uint64, start time.Time, max time.Duration) time.Duration {
	tb.Helper()
	deadline := time.After(max)
	for {
		select {
		case got := <-ids:
			if got == id {
				return time.Since(start)
			}
		case <-deadline:
			tb.Fatalf("event %d not delivered within %s", id, max)
			return 0
		}
	}
}

// With the safety poll at a minute, an event inserted by another
// connection reaches the stream within 2 s only through NOTIFY; after the
// listener's connection is killed, the event inserted while it was gone
// and the next one still arrive within 2 s.
func TestSSEWokenByNotify(t *testing.T) {
	w := newSSEWorld(t, true, time.Minute)
	ids := w.stream(t)

	for range 3 {
		start := time.Now()
		took := await(t, ids, w.insert(t), start, 2*time.Second)
		t.Logf("delivered in %s", took)
	}

	pid := w.events.BackendPID()
	require.NotZero(t, pid)
	var killed bool
	require.NoError(t, w.writer.Raw("SELECT pg_terminate_backend(?)", pid).Scan(&killed).Error)
	require.True(t, killed, "the listener's backend was terminated")
	start := time.Now()
	lost := w.insert(t)
	await(t, ids, lost, start, 2*time.Second)
	require.Eventually(t, func() bool { return w.events.Connects() == 2 && w.events.BackendPID() != 0 },
		5*time.Second, 10*time.Millisecond, "the listener reconnected")
	assert.NotEqual(t, pid, w.events.BackendPID())
	start = time.Now()
	await(t, ids, w.insert(t), start, 2*time.Second)
}

// A stream of another agent is not woken, and two streams of one agent
// both are.
func TestEventListenerFansOutPerAgent(t *testing.T) {
	w := newSSEWorld(t, true, time.Minute)
	a1, a2 := w.stream(t), w.stream(t)
	other, unsubscribe := w.events.Subscribe(w.agent + 1000)
	defer unsubscribe()
	id := w.insert(t)
	start := time.Now()
	await(t, a1, id, start, 2*time.Second)
	await(t, a2, id, start, 2*time.Second)
	select {
	case <-other:
		t.Fatal("another agent's stream was woken")
	case <-time.After(200 * time.Millisecond):
	}
}

// BenchmarkSSEDelivery measures how long an inserted event takes to reach
// a connected stream: woken by NOTIFY, and polling every 250 ms (SQLite's
// way, here on the same Postgres). Run with -benchtime=20x.
func BenchmarkSSEDelivery(b *testing.B) {
	for _, bc := range []struct {
		name   string
		notify bool
	}{{"notify", true}, {"poll250ms", false}} {
		b.Run(bc.name, func(b *testing.B) {
			w := newSSEWorld(b, bc.notify, time.Minute)
			ids := w.stream(b)
			b.ResetTimer()
			for range b.N {
				await(b, ids, w.insert(b), time.Now(), 5*time.Second)
			}
		})
	}
}
