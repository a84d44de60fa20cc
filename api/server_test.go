package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/internal/testdb"
	"github.com/xcally-connector/connector/models"
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
	e := api.New(api.Deps{DB: db, Temporal: &fakeTemporal{healthErr: errors.New("down")}, AdminToken: adminToken})
	require.NoError(t, models.Close(db))
	rec := do(e, http.MethodGet, "/readyz", "", nil)
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	var h api.HealthResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &h))
	assert.Equal(t, []string{"database", "temporal"}, h.Failing)
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
