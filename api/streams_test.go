package api_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
)

// sseStream is one client of an agent's event stream: its lines, and ended
// once the server closed it.
type sseStream struct {
	lines chan string
	ended chan struct{}
}

// openSSE opens agentID's stream at base with the admin token and waits for
// its first line.
func openSSE(t *testing.T, base string, agentID uint64, query string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/agents/%d/events%s", base, agentID, query), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	s := &sseStream{lines: make(chan string, 10000), ended: make(chan struct{})}
	go func() {
		defer close(s.ended)
		defer func() { _ = resp.Body.Close() }()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	select {
	case line := <-s.lines:
		require.True(t, strings.HasPrefix(line, ": stream of agent"), line)
	case <-time.After(5 * time.Second):
		t.Fatal("the stream sent nothing")
	}
	return s
}

// await waits for a line with prefix, failing after max.
func (s *sseStream) await(t *testing.T, prefix string, max time.Duration) string {
	t.Helper()
	deadline := time.After(max)
	for {
		select {
		case line := <-s.lines:
			if strings.HasPrefix(line, prefix) {
				return line
			}
		case <-deadline:
			t.Fatalf("no %q line within %s", prefix, max)
			return ""
		}
	}
}

// isOpen reports whether the server has not ended the stream.
func (s *sseStream) isOpen() bool {
	select {
	case <-s.ended:
		return false
	default:
		return true
	}
}

var eventSeq atomic.Int64

// insertEvent stores an event for agentID as the worker would.
func insertEvent(t *testing.T, db *gorm.DB, agentID uint64, typ, data string) uint64 {
	t.Helper()
	ev := models.AgentEvent{AgentID: agentID, Type: typ, Data: data, DedupKey: fmt.Sprintf("test-%d", eventSeq.Add(1))}
	require.NoError(t, db.Create(&ev).Error)
	return ev.ID
}

func createAgent(t *testing.T, db *gorm.DB, name string) uint64 {
	t.Helper()
	ag := models.Agent{Name: name, TokenHash: fmt.Sprintf("%064d", eventSeq.Add(1))}
	require.NoError(t, db.Create(&ag).Error)
	return ag.ID
}

// The sixth stream of an agent ends its first (with a last event naming
// why, and no id: Last-Event-ID resumes where it was); the other four and
// another agent's stream keep receiving events.
func TestSSEStreamCapClosesTheOldest(t *testing.T) {
	db := testdb.Open(t, models.SQLite)
	ann, bob := createAgent(t, db, "ann"), createAgent(t, db, "bob")
	srv := httptest.NewServer(api.New(api.Deps{DB: db, Temporal: &fakeTemporal{}, AdminToken: adminToken, SSEMaxStreamsPerAgent: 5}))
	t.Cleanup(srv.Close)

	var anns []*sseStream
	for range 5 {
		anns = append(anns, openSSE(t, srv.URL, ann, ""))
	}
	bobs := openSSE(t, srv.URL, bob, "")
	for _, s := range anns {
		assert.True(t, s.isOpen(), "five streams are within the cap")
	}

	anns = append(anns, openSSE(t, srv.URL, ann, ""))
	assert.Equal(t, "event: stream.superseded", anns[0].await(t, "event:", 5*time.Second))
	assert.Equal(t, `data: {"reason":"too_many_streams","maxStreams":5}`, anns[0].await(t, "data:", time.Second))
	select {
	case <-anns[0].ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the oldest stream did not end")
	}

	annEv := insertEvent(t, db, ann, "message.inbound", `{"text":"hi ann"}`)
	bobEv := insertEvent(t, db, bob, "message.inbound", `{"text":"hi bob"}`)
	for i, s := range anns[1:] {
		assert.Equal(t, fmt.Sprintf("id: %d", annEv), s.await(t, "id:", 5*time.Second), "stream %d", i+2)
		assert.True(t, s.isOpen(), "stream %d", i+2)
	}
	assert.Equal(t, fmt.Sprintf("id: %d", bobEv), bobs.await(t, "id:", 5*time.Second), "another agent's stream is not counted")
	assert.True(t, bobs.isOpen())
}
