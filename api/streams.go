package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// streamRegistry holds every agent's open event streams, oldest first, and
// keeps at most max per agent (SSE_MAX_STREAMS_PER_AGENT): opening one more
// tells the agent's oldest stream to end. An agent's browser tabs and
// reconnecting clients cannot pile up streams (each holds a connection, a
// goroutine and a database poll).
type streamRegistry struct {
	max int

	mu      sync.Mutex
	byAgent map[uint64][]*agentStream
}

// agentStream is one open stream; superseded is closed when a newer stream
// of the same agent takes its place.
type agentStream struct {
	superseded chan struct{}
}

func newStreamRegistry(max int) *streamRegistry {
	return &streamRegistry{max: max, byAgent: map[uint64][]*agentStream{}}
}

// open registers a stream of agentID. superseded is closed when the stream
// must end; release unregisters it (call it once the stream has ended).
func (r *streamRegistry) open(agentID uint64) (superseded <-chan struct{}, release func()) {
	st := &agentStream{superseded: make(chan struct{})}
	r.mu.Lock()
	defer r.mu.Unlock()
	streams := append(r.byAgent[agentID], st)
	for len(streams) > r.max {
		close(streams[0].superseded)
		streams = streams[1:]
	}
	r.byAgent[agentID] = streams
	return st.superseded, func() { r.release(agentID, st) }
}

func (r *streamRegistry) release(agentID uint64, st *agentStream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	streams := slices.DeleteFunc(r.byAgent[agentID], func(o *agentStream) bool { return o == st })
	if len(streams) == 0 {
		delete(r.byAgent, agentID)
		return
	}
	r.byAgent[agentID] = streams
}

// openStream sets up an agent's event stream: it registers it (see
// streamRegistry) and lifts HTTP_READ_TIMEOUT and HTTP_WRITE_TIMEOUT, which
// would end every stream after a minute or two: net/http's read deadline
// fails its background read of the idle connection, which cancels the
// request's context; the write deadline fails the next write. Instead each
// write of the stream gets HTTP_WRITE_TIMEOUT to reach the client, so a
// client that stops reading is still cut off. The caller defers release.
func (s *Server) openStream(c echo.Context, agentID uint64) (superseded <-chan struct{}, release func(), err error) {
	w := c.Response()
	// The controller works on the writer echo's Response wraps (the
	// deadline writer below flushes through it, not back through echo); a
	// writer without deadlines (a test's recorder) has none to lift.
	rc := http.NewResponseController(w.Writer)
	switch err := rc.SetReadDeadline(time.Time{}); {
	case errors.Is(err, http.ErrNotSupported):
	case err != nil:
		return nil, nil, fmt.Errorf("event stream: clear the read deadline: %w", err)
	default:
		if err := rc.SetWriteDeadline(time.Time{}); err != nil {
			return nil, nil, fmt.Errorf("event stream: clear the write deadline: %w", err)
		}
		if d := s.deps.HTTPWriteTimeout; d > 0 {
			w.Writer = &deadlineWriter{ResponseWriter: w.Writer, rc: rc, timeout: d}
		}
	}
	superseded, release = s.streams.open(agentID)
	return superseded, release, nil
}

// endSuperseded is the last event of a stream closed for a newer one of
// the same agent. It carries no id, so a client reconnecting with
// Last-Event-ID misses nothing; a client that gets it may also stay away,
// else it closes the then oldest stream in turn.
func (s *Server) endSuperseded(w *echo.Response) {
	if _, err := fmt.Fprintf(w, "event: stream.superseded\ndata: {\"reason\":\"too_many_streams\",\"maxStreams\":%d}\n\n", s.streams.max); err == nil {
		w.Flush()
	}
}

// deadlineWriter gives each write and flush of a long-lived response its
// own write deadline.
type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	if err := d.rc.SetWriteDeadline(time.Now().Add(d.timeout)); err != nil {
		return 0, err
	}
	return d.ResponseWriter.Write(p)
}

// FlushError is what http.ResponseController.Flush (and echo's
// Response.Flush) calls.
func (d *deadlineWriter) FlushError() error {
	if err := d.rc.SetWriteDeadline(time.Now().Add(d.timeout)); err != nil {
		return err
	}
	return d.rc.Flush()
}

// Unwrap lets http.ResponseController reach net/http's writer.
func (d *deadlineWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }
