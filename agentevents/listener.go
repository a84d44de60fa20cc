// Package agentevents owns the read side of the agents' event streams
// (the agent_events rows that activities write and the API serves as
// Server-Sent Events): the Postgres listener that wakes a process's
// streams when any process inserts an event, and the queries that find
// where a stream resumes. It never writes events (activities do, in the
// transaction of the change they announce) and does not speak HTTP (api
// does).
package agentevents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/xcally-connector/connector/models"
)

// Listener timing defaults.
const (
	// DefaultSafetyPoll is how often a stream woken by NOTIFY still reads
	// agent_events: a notification lost while the listener reconnects
	// delays an event by at most this, never loses it.
	DefaultSafetyPoll = 5 * time.Second
	// listenPing is how long the listener waits for a notification before
	// it pings its connection, so a connection that died silently (no
	// RST) is noticed and replaced.
	listenPing = 30 * time.Second
	// Reconnection backoff: doubling from listenBackoffMin to listenBackoffMax.
	listenBackoffMin = 250 * time.Millisecond
	listenBackoffMax = 10 * time.Second
)

// Listener wakes the agents' SSE streams of this API process when
// agent_events rows are inserted, by any process: it holds one dedicated
// Postgres connection that LISTENs on models.AgentEventsChannel (notified
// by a trigger with the agent id) and fans each notification out to the
// streams of that agent. When the connection fails it reconnects with
// backoff and then wakes every stream, since notifications sent in between
// are lost; streams also poll every SafetyPoll.
type Listener struct {
	cfg *pgx.ConnConfig
	log *slog.Logger
	// SafetyPoll is how often subscribed streams poll anyway
	// (DefaultSafetyPoll when 0). Set before Run.
	SafetyPoll time.Duration

	mu   sync.Mutex
	subs map[uint64]map[chan struct{}]struct{}

	pid        atomic.Uint32
	connects   atomic.Int64
	listenDone chan struct{}
}

// NewListener parses a Postgres DSN (URL or key=value form) for the
// listener's connection; it does not connect yet (Run does).
func NewListener(dsn string, log *slog.Logger) (*Listener, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("agent events listener: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["application_name"] = "connector-sse-listener"
	return &Listener{cfg: cfg, log: log, subs: map[uint64]map[chan struct{}]struct{}{}, listenDone: make(chan struct{})}, nil
}

// Subscribe registers a stream of agentID: the channel receives a value
// (coalesced) when the agent may have new events. Call the returned func
// when the stream ends.
func (l *Listener) Subscribe(agentID uint64) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	l.mu.Lock()
	set := l.subs[agentID]
	if set == nil {
		set = map[chan struct{}]struct{}{}
		l.subs[agentID] = set
	}
	set[ch] = struct{}{}
	l.mu.Unlock()
	return ch, func() {
		l.mu.Lock()
		delete(l.subs[agentID], ch)
		if len(l.subs[agentID]) == 0 {
			delete(l.subs, agentID)
		}
		l.mu.Unlock()
	}
}

// PollEvery is how often subscribed streams poll anyway: a notification
// lost while the listener reconnects delays an event by at most this.
func (l *Listener) PollEvery() time.Duration {
	if l.SafetyPoll > 0 {
		return l.SafetyPoll
	}
	return DefaultSafetyPoll
}

// Connects counts the listener's successful LISTENs (1 + reconnections).
func (l *Listener) Connects() int64 { return l.connects.Load() }

// BackendPID is the Postgres backend pid of the current listening
// connection (0 when not connected), as pg_stat_activity shows it.
func (l *Listener) BackendPID() uint32 { return l.pid.Load() }

// Run listens until ctx is done, reconnecting with backoff. It returns
// nil when ctx ends.
func (l *Listener) Run(ctx context.Context) error {
	defer close(l.listenDone)
	backoff := listenBackoffMin
	for {
		before := l.connects.Load()
		err := l.listen(ctx)
		l.pid.Store(0)
		if ctx.Err() != nil {
			return nil
		}
		if l.connects.Load() > before {
			// It was listening: a fresh failure, not a failing server.
			backoff = listenBackoffMin
		}
		l.log.Warn("agent events listener disconnected: streams poll until it is back", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, listenBackoffMax)
	}
}

// Done is closed when Run has returned.
func (l *Listener) Done() <-chan struct{} { return l.listenDone }

// listen runs one connection: LISTEN, wake everyone (what was inserted
// while nobody listened), then fan notifications out until it fails.
func (l *Listener) listen(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.ConnectConfig(cctx, l.cfg)
	cancel()
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{models.AgentEventsChannel}.Sanitize()); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	l.pid.Store(conn.PgConn().PID())
	if l.connects.Add(1) > 1 {
		l.log.Info("agent events listener reconnected")
	}
	l.wakeAll()
	for {
		wctx, cancel := context.WithTimeout(ctx, listenPing)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			if id, perr := strconv.ParseUint(n.Payload, 10, 64); perr == nil {
				l.wake(id)
			}
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, context.DeadlineExceeded):
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("ping: %w", err)
			}
		default:
			return fmt.Errorf("wait for notification: %w", err)
		}
	}
}

// wake signals every stream of agentID without blocking.
func (l *Listener) wake(agentID uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for ch := range l.subs[agentID] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// wakeAll signals every stream.
func (l *Listener) wakeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, set := range l.subs {
		for ch := range set {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}
