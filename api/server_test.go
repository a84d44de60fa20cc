package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/internal/media"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
)

const adminToken = "test-admin-token-0123456789"

// fakeTemporal is a one-layer stand-in for the Temporal client; methods a
// test does not override panic through the nil embedded interface.
type fakeTemporal struct {
	client.Client
	healthErr error
	startErr  error
}

func (f *fakeTemporal) CheckHealth(context.Context, *client.CheckHealthRequest) (*client.CheckHealthResponse, error) {
	if f.healthErr != nil {
		return nil, f.healthErr
	}
	return &client.CheckHealthResponse{}, nil
}

func (f *fakeTemporal) SignalWorkflow(context.Context, string, string, string, any) error {
	return nil
}

func (f *fakeTemporal) ExecuteWorkflow(context.Context, client.StartWorkflowOptions, any, ...any) (client.WorkflowRun, error) {
	return nil, f.startErr
}

func newServer(t *testing.T, tc *fakeTemporal) *echo.Echo {
	t.Helper()
	db := testdb.Open(t, models.SQLite)
	e := api.New(api.Deps{DB: db, Temporal: tc, AdminToken: adminToken, BodyLimit: 1024, TaskQueue: "q"})
	// A route that panics and one that reads its body, to test middleware.
	e.GET("/test/panic", func(echo.Context) error { panic("boom") })
	e.POST("/test/echo", func(c echo.Context) error {
		var v map[string]any
		if err := c.Bind(&v); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, v)
	})
	return e
}

func do(e *echo.Echo, method, path, body string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func errorBody(t *testing.T, rec *httptest.ResponseRecorder) api.ErrorDetail {
	t.Helper()
	var b api.ErrorBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &b), rec.Body.String())
	assert.NotEmpty(t, b.Error.Code)
	assert.NotEmpty(t, b.Error.Message)
	return b.Error
}

func TestHealthzAndReadyz(t *testing.T) {
	tc := &fakeTemporal{}
	e := newServer(t, tc)
	rec := do(e, http.MethodGet, "/healthz", "", nil)
	assert.Equal(t, http.StatusOK, rec.Code)

	rec = do(e, http.MethodGet, "/readyz", "", nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var h api.HealthResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &h))
	assert.Equal(t, map[string]string{"database": "ok", "temporal": "ok"}, h.Checks)

	tc.healthErr = serviceerror.NewUnavailable("connection refused")
	rec = do(e, http.MethodGet, "/readyz", "", nil)
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &h))
	assert.Equal(t, []string{"temporal"}, h.Failing)
	assert.Equal(t, map[string]string{"database": "ok", "temporal": "unavailable"}, h.Checks)
	assert.NotContains(t, rec.Body.String(), "connection refused", "the cause is logged, not answered")
	assert.Equal(t, "5", rec.Header().Get("Retry-After"))
}

func TestReadyzNamesTheDatabase(t *testing.T) {
	db := testdb.Open(t, models.SQLite)
	logs := &logSink{}
	e := api.New(api.Deps{DB: db, Temporal: &fakeTemporal{healthErr: errors.New("dial tcp 10.1.2.3:7233: connection refused")}, AdminToken: adminToken,
		Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	require.NoError(t, models.Close(db))
	rec := do(e, http.MethodGet, "/readyz", "", nil)
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	var h api.HealthResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &h))
	assert.Equal(t, []string{"database", "temporal"}, h.Failing)
	assert.Equal(t, map[string]string{"database": "unavailable", "temporal": "unavailable"}, h.Checks)
	assert.NotContains(t, rec.Body.String(), "10.1.2.3", "no address or driver message for anyone to read")

	// The causes are in the log, by component.
	causes := map[string]string{}
	for _, l := range logs.lines(t) {
		if l["msg"] == "readiness check failed" {
			causes[l["component"].(string)], _ = l["err"].(string)
		}
	}
	assert.Contains(t, causes["temporal"], "10.1.2.3:7233: connection refused")
	assert.NotEmpty(t, causes["database"])
}

func TestAdminAuth(t *testing.T) {
	e := newServer(t, &fakeTemporal{startErr: serviceerror.NewUnavailable("down")})
	rec := do(e, http.MethodGet, "/api/diagnostics", "", nil)
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Equal(t, "unauthorized", errorBody(t, rec).Code)

	rec = do(e, http.MethodGet, "/api/diagnostics", "", map[string]string{"Authorization": "Bearer nope"})
	assert.Equal(t, http.StatusForbidden, rec.Code)
	assert.Equal(t, "forbidden", errorBody(t, rec).Code)

	rec = do(e, http.MethodGet, "/api/diagnostics", "", map[string]string{"Authorization": "Basic " + adminToken})
	assert.Equal(t, http.StatusUnauthorized, rec.Code, "only the bearer scheme")

	rec = do(e, http.MethodGet, "/api/diagnostics", "", map[string]string{"Authorization": "bearer " + adminToken})
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "authorised; the engine is down")
	d := errorBody(t, rec)
	assert.Equal(t, "engine_unavailable", d.Code)
	assert.NotEmpty(t, d.RequestID, "the request id is in the body")
	assert.Equal(t, d.RequestID, rec.Header().Get(echo.HeaderXRequestID))
}

func TestErrorShapes(t *testing.T) {
	e := newServer(t, &fakeTemporal{})

	rec := do(e, http.MethodGet, "/nope", "", nil)
	assert.Equal(t, http.StatusNotFound, rec.Code)
	assert.Equal(t, "not_found", errorBody(t, rec).Code)

	rec = do(e, http.MethodGet, "/test/panic", "", nil)
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	d := errorBody(t, rec)
	assert.Equal(t, "internal", d.Code)
	assert.NotContains(t, rec.Body.String(), "boom", "panic details stay in the logs")

	rec = do(e, http.MethodPost, "/test/echo", `{"a":`, nil)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, "bad_request", errorBody(t, rec).Code)

	rec = do(e, http.MethodPost, "/test/echo", `{"a":1}`, nil)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.JSONEq(t, `{"a":1}`, rec.Body.String())
}

func TestBodyLimit(t *testing.T) {
	e := newServer(t, &fakeTemporal{})
	big := `{"a":"` + strings.Repeat("x", 2000) + `"}`
	rec := do(e, http.MethodPost, "/test/echo", big, nil)
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
	assert.Equal(t, "body_too_large", errorBody(t, rec).Code)

	// Chunked body: no Content-Length, the limit still applies while reading.
	req := httptest.NewRequest(http.MethodPost, "/test/echo", strings.NewReader(big))
	req.ContentLength = -1
	req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, rec.Body.String())
}

// serveReal serves e on a loopback port with its own http.Server (the
// timeouts api.New set on it), as the api role does.
func serveReal(t *testing.T, e *echo.Echo) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := e.Server
	srv.Handler = e
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

// shortTimeouts is a server with 300 ms read and write timeouts.
func shortTimeouts(t *testing.T, tweak func(*api.Deps)) (*echo.Echo, *gorm.DB) {
	t.Helper()
	db := testdb.Open(t, models.SQLite)
	deps := api.Deps{DB: db, Temporal: &fakeTemporal{}, AdminToken: adminToken, TaskQueue: "q",
		HTTPReadTimeout: 300 * time.Millisecond, HTTPWriteTimeout: 300 * time.Millisecond}
	if tweak != nil {
		tweak(&deps)
	}
	e := api.New(deps)
	e.POST("/test/echo", func(c echo.Context) error {
		var v map[string]any
		if err := c.Bind(&v); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, v)
	})
	return e, db
}

// trickle writes head, then body a byte every interval, until stop or a
// write fails.
func trickle(conn net.Conn, head, body string, interval time.Duration, stop <-chan struct{}) {
	if _, err := io.WriteString(conn, head); err != nil {
		return
	}
	for i := range len(body) {
		select {
		case <-stop:
			return
		case <-time.After(interval):
		}
		if _, err := conn.Write([]byte{body[i]}); err != nil {
			return
		}
	}
}

// readUntilClosed reads conn until the server closes it; it fails the test
// when that takes longer than max.
func readUntilClosed(t *testing.T, conn net.Conn, max time.Duration) string {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(max)))
	got, err := io.ReadAll(conn)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server kept the connection for %s (read %d bytes: %.300q)", max, len(got), got)
	return string(got)
}

// A client sending its headers or its body a byte at a time is cut off
// after the read timeout, long before it would have finished.
func TestSlowClientIsCutOff(t *testing.T) {
	e, _ := shortTimeouts(t, nil)
	addr := serveReal(t, e)

	t.Run("headers", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer func() { _ = conn.Close() }()
		stop := make(chan struct{})
		defer close(stop)
		// 100 header bytes at 50 ms: 5 s to send.
		go trickle(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n", "X-Slow: "+strings.Repeat("a", 90)+"\r\n\r\n", 50*time.Millisecond, stop)
		got := readUntilClosed(t, conn, 3*time.Second)
		assert.NotContains(t, got, "200 OK")
	})
	t.Run("body", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer func() { _ = conn.Close() }()
		stop := make(chan struct{})
		defer close(stop)
		body := `{"a":"` + strings.Repeat("x", 92) + `"}`
		head := fmt.Sprintf("POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
		go trickle(conn, head, body, 50*time.Millisecond, stop)
		got := readUntilClosed(t, conn, 3*time.Second)
		assert.NotContains(t, got, "200 OK")
	})
}

// A client that never reads its response blocks the handler's writes only
// until the write timeout.
func TestClientThatNeverReadsIsCutOff(t *testing.T) {
	e, _ := shortTimeouts(t, nil)
	wrote := make(chan error, 1)
	e.GET("/test/big", func(c echo.Context) error {
		chunk := make([]byte, 64<<10)
		var err error
		for i := 0; i < 1024 && err == nil; i++ { // 64 MiB: more than the sockets buffer
			_, err = c.Response().Write(chunk)
		}
		wrote <- err
		return nil
	})
	conn, err := net.Dial("tcp", serveReal(t, e))
	require.NoError(t, err)
	defer func() { _ = conn.Close() }()
	_, err = io.WriteString(conn, "GET /test/big HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	select {
	case err := <-wrote:
		require.Error(t, err, "the handler wrote 64 MiB to a client that reads nothing")
		var ne net.Error
		assert.True(t, errors.As(err, &ne) && ne.Timeout(), "%v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("the handler is still blocked writing to a client that reads nothing")
	}
}

// An agent's event stream outlives the read and write timeouts: an event
// written well after both still arrives.
func TestSSEOutlivesTheTimeouts(t *testing.T) {
	e, db := shortTimeouts(t, nil)
	agent := createAgent(t, db, "ann")
	s := openSSE(t, "http://"+serveReal(t, e), agent, "")
	time.Sleep(time.Second) // three times both timeouts, with nothing sent
	require.True(t, s.isOpen(), "the stream ended")
	id := insertEvent(t, db, agent, "message.inbound", `{"text":"late"}`)
	assert.Equal(t, fmt.Sprintf("id: %d", id), s.await(t, "id:", 5*time.Second))
	assert.True(t, s.isOpen())
}

// A stream client that stops reading is cut off too: each write has the
// write timeout to get through. The stream ends before the client got the
// events, instead of waiting for it.
func TestSSEClientThatStopsReadingIsCutOff(t *testing.T) {
	e, db := shortTimeouts(t, nil)
	agent := createAgent(t, db, "ann")
	data := `{"text":"` + strings.Repeat("x", 32<<10) + `"}`
	evs := make([]models.AgentEvent, 1000) // 32 MiB
	for i := range evs {
		evs[i] = models.AgentEvent{AgentID: agent, Type: "message.inbound", Data: data, DedupKey: fmt.Sprintf("big-%d", i)}
	}
	require.NoError(t, db.CreateInBatches(evs, 100).Error)

	conn, err := net.Dial("tcp", serveReal(t, e))
	require.NoError(t, err)
	defer func() { _ = conn.Close() }()
	_, err = fmt.Fprintf(conn, "GET /api/agents/%d/events?lastEventId=0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", agent, adminToken)
	require.NoError(t, err)
	time.Sleep(2 * time.Second) // not reading while the server writes
	got := readUntilClosed(t, conn, 20*time.Second)
	assert.Less(t, strings.Count(got, "\nid: ")+strings.Count(got, "\r\nid: "), len(evs))
}

// A file reply may take longer than the read timeout: once the handler
// reads it (the caller authenticated), the deadlines grow with its size. A
// JSON reply as slow is still cut off.
func TestFileReplyOutlivesTheReadTimeout(t *testing.T) {
	dir := t.TempDir()
	store, err := media.NewFS(dir, 0)
	require.NoError(t, err)
	e, db := shortTimeouts(t, func(d *api.Deps) { d.Media = store })
	acc := models.Account{Name: "Acme", Key: "acme", PublicURL: "https://motion.example.com", Type: models.AccountTypeSinchV2,
		Region: models.RegionEU, ProjectID: "p", AppID: "01HAPP", KeyID: "k", Phone: "+390212345678", Channels: "WHATSAPP"}
	require.NoError(t, db.Create(&acc).Error)
	contact := models.Contact{AccountID: acc.ID, Channel: models.ChannelWhatsApp, Identity: "393330000001"}
	require.NoError(t, db.Create(&contact).Error)
	inter := models.Interaction{Key: "wf#1", WorkflowID: "wf", AccountID: acc.ID, ContactID: contact.ID,
		Channel: models.ChannelWhatsApp, Status: models.InteractionQueued, OpenedAt: time.Now()}
	require.NoError(t, db.Create(&inter).Error)
	addr := serveReal(t, e)

	send := func(contentType string, body []byte, chunks int) string {
		t.Helper()
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer func() { _ = conn.Close() }()
		_, err = fmt.Fprintf(conn, "POST /api/interactions/%d/messages HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
			inter.ID, adminToken, contentType, len(body))
		require.NoError(t, err)
		// The body in chunks 150 ms apart: well past the 300 ms read timeout.
		size := (len(body) + chunks - 1) / chunks
		for part := range slices.Chunk(body, size) {
			time.Sleep(150 * time.Millisecond)
			if _, err := conn.Write(part); err != nil {
				break
			}
		}
		return readUntilClosed(t, conn, 10*time.Second)
	}

	// 512 KiB (4 s at the slowest upload rate) sent in 1.5 s.
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	fw, err := w.CreateFormFile("file", "blob.bin")
	require.NoError(t, err)
	_, err = fw.Write(bytes.Repeat([]byte{0}, 512<<10))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	got := send(w.FormDataContentType(), mp.Bytes(), 10)
	assert.Contains(t, got, "422 Unprocessable Entity", "the whole file was read, then refused for its type")
	assert.Contains(t, got, "attachment_type_unsupported")

	got = send("application/json", []byte(`{"text":"`+strings.Repeat("x", 2000)+`"}`), 10)
	assert.NotContains(t, got, "202 Accepted")
	assert.NotContains(t, got, "200 OK")
}

// c.RealIP (the request log's remote_ip, the auth-failure limit) is the TCP
// peer, unless the peer is a trusted proxy: then the nearest untrusted
// address of X-Forwarded-For, else X-Real-IP. Loopback and private peers
// are not trusted unless listed.
func TestClientIPTrustsOnlyTrustedProxies(t *testing.T) {
	realIP := func(trusted []netip.Prefix, peer string, hdr map[string]string) string {
		t.Helper()
		e := api.New(api.Deps{DB: testdb.Open(t, models.SQLite), Temporal: &fakeTemporal{}, TrustedProxies: trusted})
		e.GET("/test/ip", func(c echo.Context) error { return c.String(http.StatusOK, c.RealIP()) })
		req := httptest.NewRequest(http.MethodGet, "/test/ip", nil)
		req.RemoteAddr = peer
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec.Body.String()
	}
	xff := func(v string) map[string]string { return map[string]string{"X-Forwarded-For": v} }
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:1::/48")}

	assert.Equal(t, "203.0.113.9", realIP(nil, "203.0.113.9:4000", xff("198.51.100.7")), "no trusted proxy: spoofed header ignored")
	assert.Equal(t, "127.0.0.1", realIP(nil, "127.0.0.1:4000", xff("198.51.100.7")), "loopback is not trusted by default")
	assert.Equal(t, "192.168.1.5", realIP(nil, "192.168.1.5:4000", map[string]string{"X-Real-IP": "198.51.100.7"}), "nor a private network")

	assert.Equal(t, "198.51.100.7", realIP(proxies, "10.1.2.3:4000", xff("198.51.100.7")), "from a trusted proxy")
	assert.Equal(t, "198.51.100.7", realIP(proxies, "10.1.2.3:4000", xff("192.0.2.66, 198.51.100.7, 10.9.9.9")), "the nearest untrusted hop, not what the client wrote")
	assert.Equal(t, "198.51.100.8", realIP(proxies, "[2001:db8:1::5]:4000", map[string]string{"X-Real-IP": "198.51.100.8"}), "X-Real-IP from a trusted proxy")
	assert.Equal(t, "203.0.113.9", realIP(proxies, "203.0.113.9:4000", xff("198.51.100.7")), "from an untrusted peer")
	assert.Equal(t, "127.0.0.1", realIP(proxies, "127.0.0.1:4000", xff("198.51.100.7")), "loopback is not a listed proxy")
}

// The request log's remote_ip is the peer, not a spoofed X-Forwarded-For.
func TestRequestLogRemoteIPIsThePeer(t *testing.T) {
	logs := &logSink{}
	e := api.New(api.Deps{DB: testdb.Open(t, models.SQLite), Temporal: &fakeTemporal{}, AdminToken: adminToken,
		Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	req := httptest.NewRequest(http.MethodGet, "/openapi.json", nil)
	req.RemoteAddr = "203.0.113.9:4000"
	req.Header.Set("X-Forwarded-For", "198.51.100.7")
	e.ServeHTTP(httptest.NewRecorder(), req)
	var found bool
	for _, l := range logs.lines(t) {
		if l["msg"] == "http request" {
			found = true
			assert.Equal(t, "203.0.113.9", l["remote_ip"])
		}
	}
	assert.True(t, found, "no request log line")
}
