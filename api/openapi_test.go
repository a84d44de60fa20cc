package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/internal/media"
	"github.com/xcally-connector/connector/internal/metrics"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/sinch/emulator"
	"github.com/xcally-connector/connector/workflows"
)

// openAPIDoc loads api/openapi.json and requires it to be a valid OpenAPI
// document.
func openAPIDoc(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI())
	require.NoError(t, err, "api/openapi.json does not load")
	require.NoError(t, doc.Validate(loader.Context), "api/openapi.json is not a valid OpenAPI document")
	return doc
}

// echoParam matches an echo path parameter (:id).
var echoParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// registeredRoutes are the routes api.New registers, as "METHOD /path/{param}".
func registeredRoutes(e *echo.Echo) []string {
	var out []string
	for _, r := range e.Routes() {
		if r.Method == echo.RouteNotFound {
			continue // echo's own 404 handlers, not API routes
		}
		out = append(out, r.Method+" "+echoParam.ReplaceAllString(r.Path, "{$1}"))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// documentedOperations are the document's operations, as "METHOD /path".
func documentedOperations(doc *openapi3.T) map[string]*openapi3.Operation {
	out := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			out[strings.ToUpper(method)+" "+path] = op
		}
	}
	return out
}

// TestOpenAPIDocumentsEveryRoute: every route api.New registers is in
// api/openapi.json and every documented operation is registered.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	doc := openAPIDoc(t)
	registered := registeredRoutes(api.New(api.Deps{Metrics: newTestMetrics(t)}))
	documented := documentedOperations(doc)
	require.NotEmpty(t, registered)
	for _, r := range registered {
		_, ok := documented[r]
		assert.True(t, ok, "route %s is registered in api/ but not documented in api/openapi.json", r)
	}
	for _, op := range slices.Sorted(maps.Keys(documented)) {
		assert.True(t, slices.Contains(registered, op), "%s is documented in api/openapi.json but api.New does not register it", op)
	}
}

// TestOpenAPIServed: GET /openapi.json answers the document, without auth.
func TestOpenAPIServed(t *testing.T) {
	e := api.New(api.Deps{AdminToken: adminToken})
	rec := do(e, http.MethodGet, "/openapi.json", "", nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, echo.MIMEApplicationJSON, rec.Header().Get(echo.HeaderContentType))
	assert.Equal(t, api.OpenAPI(), rec.Body.Bytes())
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc))
	assert.True(t, strings.HasPrefix(doc.OpenAPI, "3."), "openapi %q", doc.OpenAPI)
	assert.Contains(t, doc.Paths, "/openapi.json")
}

// openAPIChecker sends requests to a server and validates them and the
// responses against api/openapi.json.
type openAPIChecker struct {
	t      *testing.T
	doc    *openapi3.T
	router routers.Router
}

// registerSSEDecoder lets openapi3filter read an event stream as text.
var registerSSEDecoder sync.Once

func newOpenAPIChecker(t *testing.T) *openAPIChecker {
	t.Helper()
	registerSSEDecoder.Do(func() { openapi3filter.RegisterBodyDecoder("text/event-stream", openapi3filter.PlainBodyDecoder) })
	doc := openAPIDoc(t)
	router, err := gorillamux.NewRouter(doc)
	require.NoError(t, err)
	return &openAPIChecker{t: t, doc: doc, router: router}
}

// request builds a request with an optional bearer token; body is a string
// or a value marshalled to JSON.
func (c *openAPIChecker) request(method, path, token string, body any) *http.Request {
	c.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		raw, err = json.Marshal(b)
		require.NoError(c.t, err)
	}
	req := httptest.NewRequest(method, path, bytes.NewReader(raw))
	if len(raw) > 0 {
		req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	}
	if token != "" {
		req.Header.Set(echo.HeaderAuthorization, "Bearer "+token)
	}
	return req
}

// route finds the documented operation of req.
func (c *openAPIChecker) route(req *http.Request) (*routers.Route, map[string]string) {
	c.t.Helper()
	route, params, err := c.router.FindRoute(req)
	require.NoError(c.t, err, "%s %s is not documented in api/openapi.json", req.Method, req.URL.Path)
	return route, params
}

// requestErr validates a request against the document (auth not checked).
func (c *openAPIChecker) requestErr(method, path string, body any) error {
	c.t.Helper()
	req := c.request(method, path, "", body)
	route, params := c.route(req)
	return openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	})
}

// valid sends a request whose body the document must accept, then checks
// the response (see serve).
func (c *openAPIChecker) valid(e *echo.Echo, method, path, token string, body any) *httptest.ResponseRecorder {
	c.t.Helper()
	require.NoError(c.t, c.requestErr(method, path, body), "the document refuses the request %s %s", method, path)
	return c.serve(e, method, path, token, body)
}

// serve sends a request to e and requires the response (status, headers,
// body) to match the document.
func (c *openAPIChecker) serve(e *echo.Echo, method, path, token string, body any) *httptest.ResponseRecorder {
	c.t.Helper()
	return c.serveRequest(e, c.request(method, path, token, body))
}

func (c *openAPIChecker) serveRequest(e *echo.Echo, req *http.Request) *httptest.ResponseRecorder {
	c.t.Helper()
	route, params := c.route(req)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 rec.Code,
		Header:                 rec.Header(),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(rec.Body.Bytes())
	err := openapi3filter.ValidateResponse(context.Background(), in)
	assert.NoError(c.t, err, "%s %s answered %d, which api/openapi.json does not describe: %.512q", req.Method, req.URL.Path, rec.Code, rec.Body.String())
	return rec
}

// TestOpenAPISecurityMatchesTheMiddleware sends every documented operation
// without a token and with an unknown one: an operation documented as
// secured answers 401 without credentials; with an unknown bearer token an
// admin-only one (adminBearer alone) answers 403 and one open to agents
// 401; a public one (security: [] or an empty requirement) answers
// neither. Each answer must match the document.
func TestOpenAPISecurityMatchesTheMiddleware(t *testing.T) {
	c := newOpenAPIChecker(t)
	e := api.New(api.Deps{DB: testdb.Open(t, models.SQLite), Temporal: &fakeTemporal{}, AdminToken: adminToken, Metrics: newTestMetrics(t),
		CodecToken: "a-codec-token-of-the-test"})
	pathParam := regexp.MustCompile(`\{[^}]+\}`)
	ops := documentedOperations(c.doc)
	for _, key := range slices.Sorted(maps.Keys(ops)) {
		op := ops[key]
		method, path, _ := strings.Cut(key, " ")
		path = pathParam.ReplaceAllString(path, "1")
		if !assert.NotNil(t, op.Security, "%s: declare its security (an empty list for a public route)", key) {
			continue
		}
		schemes := map[string]bool{}
		anonymous := len(*op.Security) == 0
		for _, req := range *op.Security {
			if len(req) == 0 {
				anonymous = true
			}
			for name := range req {
				schemes[name] = true
			}
		}
		if anonymous {
			rec := c.serve(e, method, path, "", nil)
			assert.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, rec.Code, "%s is documented as public", key)
			continue
		}
		rec := c.serve(e, method, path, "", nil)
		assert.Equal(t, http.StatusUnauthorized, rec.Code, "%s without a token", key)
		switch {
		case schemes["agentBearer"]:
			rec = c.serve(e, method, path, "not-a-known-token", nil)
			assert.Equal(t, http.StatusUnauthorized, rec.Code, "%s is documented for agents: an unknown token is a 401", key)
		case len(schemes) == 1 && schemes["adminBearer"]:
			rec = c.serve(e, method, path, "not-a-known-token", nil)
			assert.Equal(t, http.StatusForbidden, rec.Code, "%s is documented admin-only: any other token is a 403", key)
		}
	}
}

// TestOpenAPIResponsesMatch validates real requests and responses of the
// configuration API against the document, so that a field added, renamed
// or retyped on either side fails here.
func TestOpenAPIResponsesMatch(t *testing.T) {
	c := newOpenAPIChecker(t)
	forEachCfgEngine(t, func(t *testing.T, env *cfgEnv) {
		c := *c
		c.t = t
		e := env.e

		// Accounts: create (full and minimal), list, get, patch, errors.
		rec := c.valid(e, http.MethodPost, "/api/whatsapp/accounts", adminToken, cfgFullAccount("full"))
		full := cfgDecode[api.AccountResponse](t, rec, http.StatusCreated)
		rec = c.valid(e, http.MethodPost, "/api/whatsapp/accounts", adminToken, cfgMinimalAccount("minimal"))
		cfgDecode[api.AccountResponse](t, rec, http.StatusCreated)
		rec = c.serve(e, http.MethodGet, "/api/whatsapp/accounts", adminToken, nil)
		assert.Len(t, cfgDecode[[]api.AccountResponse](t, rec, http.StatusOK), 2)
		accPath := fmt.Sprintf("/api/whatsapp/accounts/%d", full.ID)
		c.serve(e, http.MethodGet, accPath, adminToken, nil)
		rec = c.valid(e, http.MethodPatch, accPath, adminToken, map[string]any{"webhookSecret": "", "allowUnsignedWebhooks": true, "sendRatePerSecond": 5})
		unsigned := cfgDecode[api.AccountResponse](t, rec, http.StatusOK)
		assert.Contains(t, unsigned.Warnings, api.WarningNoWebhookSecret)
		assert.True(t, unsigned.AllowUnsignedWebhooks)
		// A generated secret is returned once, in the document's shape.
		rec = c.valid(e, http.MethodPatch, accPath, adminToken, map[string]any{"generateWebhookSecret": true, "allowUnsignedWebhooks": false})
		assert.Len(t, cfgDecode[api.AccountResponse](t, rec, http.StatusOK).WebhookSecret, 43)
		rec = c.serve(e, http.MethodPost, "/api/whatsapp/accounts", adminToken, without(cfgMinimalAccount("unsigned"), "webhookSecret"))
		assertFieldError(t, rec, "webhookSecret", "required")
		rec = c.serve(e, http.MethodPost, "/api/whatsapp/accounts", adminToken, with(cfgMinimalAccount("bad"), "region", "asia"))
		assertFieldError(t, rec, "region", "want one of")
		assert.Error(t, c.requestErr(http.MethodPost, "/api/whatsapp/accounts", with(cfgMinimalAccount("bad"), "region", "asia")),
			"the document refuses what the API refuses: a region outside the enum")
		rec = c.serve(e, http.MethodPost, "/api/whatsapp/accounts", adminToken, with(cfgMinimalAccount("bad"), "colour", "red"))
		assert.Equal(t, "unknown_field", errorBody(t, rec).Code)
		assert.Error(t, c.requestErr(http.MethodPost, "/api/whatsapp/accounts", with(cfgMinimalAccount("bad"), "colour", "red")),
			"the document refuses what the API refuses: an unknown field")
		rec = c.serve(e, http.MethodPost, "/api/whatsapp/accounts", adminToken, cfgMinimalAccount("minimal"))
		assert.Equal(t, http.StatusConflict, rec.Code)
		rec = c.serve(e, http.MethodGet, "/api/whatsapp/accounts/999999", adminToken, nil)
		assert.Equal(t, http.StatusNotFound, rec.Code)
		rec = c.serve(e, http.MethodGet, "/api/whatsapp/accounts/x", adminToken, nil)
		assert.Equal(t, "invalid_id", errorBody(t, rec).Code)

		// Queues and agents.
		rec = c.valid(e, http.MethodPost, "/api/queues", adminToken, map[string]any{"name": "Sales", "strategy": "ring_all", "timeoutSeconds": 60})
		q := cfgDecode[api.QueueResponse](t, rec, http.StatusCreated)
		c.valid(e, http.MethodPost, "/api/queues", adminToken, map[string]any{"name": "Overflow", "strategy": "least_busy", "overflowQueueId": q.ID})
		rec = c.valid(e, http.MethodPost, "/api/agents", adminToken, map[string]any{"name": "Bob", "capacity": 3})
		agent := cfgDecode[api.AgentCreatedResponse](t, rec, http.StatusCreated)
		c.serve(e, http.MethodPut, fmt.Sprintf("/api/queues/%d/accounts/%d", q.ID, full.ID), adminToken, nil)
		c.serve(e, http.MethodPut, fmt.Sprintf("/api/queues/%d/agents/%d", q.ID, agent.ID), adminToken, nil)
		rec = c.serve(e, http.MethodPut, fmt.Sprintf("/api/agents/%d/accounts/%d", agent.ID, full.ID), agent.Token, nil)
		assert.Equal(t, "account_not_permitted", errorBody(t, rec).Code)
		c.serve(e, http.MethodPut, fmt.Sprintf("/api/agents/%d/permissions/%d", agent.ID, full.ID), adminToken, nil)
		c.serve(e, http.MethodPut, fmt.Sprintf("/api/agents/%d/accounts/%d", agent.ID, full.ID), agent.Token, nil)
		rec = c.valid(e, http.MethodPatch, fmt.Sprintf("/api/agents/%d", agent.ID), adminToken, map[string]any{"capacity": 4})
		assert.Equal(t, 4, cfgDecode[api.AgentResponse](t, rec, http.StatusOK).Capacity)
		rec = c.valid(e, http.MethodPatch, fmt.Sprintf("/api/queues/%d", q.ID), adminToken, map[string]any{"timeoutSeconds": 90, "overflowQueueId": nil})
		assert.Equal(t, 90, cfgDecode[api.QueueResponse](t, rec, http.StatusOK).TimeoutSeconds)
		rec = c.serve(e, http.MethodGet, "/api/queues", adminToken, nil)
		assert.Len(t, cfgDecode[[]api.QueueResponse](t, rec, http.StatusOK), 2)
		c.serve(e, http.MethodGet, fmt.Sprintf("/api/queues/%d", q.ID), adminToken, nil)
		c.serve(e, http.MethodGet, "/api/agents", adminToken, nil)
		c.serve(e, http.MethodGet, fmt.Sprintf("/api/agents/%d", agent.ID), agent.Token, nil)
		rec = c.valid(e, http.MethodPut, fmt.Sprintf("/api/agents/%d/presence", agent.ID), agent.Token, map[string]any{"status": "available"})
		assert.Equal(t, "available", cfgDecode[api.AgentResponse](t, rec, http.StatusOK).Presence)

		// The settings document, full and empty, and the canned answers.
		settings := map[string]any{
			"dispositions":    []string{"Solved", "Call back"},
			"cannedAnswers":   []map[string]any{{"title": "Greeting", "text": "Hello {{contact.name}}, I am {{agent.name}}"}},
			"transferOptions": map[string]any{"queues": []uint64{q.ID}, "agents": nil, "returnToQueueAfterSeconds": 60},
			"routing":         map[string]any{"strategy": "round_robin", "agentNotifyTimeoutSeconds": 30, "inactivityTimeoutSeconds": 3600},
			"actionFlow":      []map[string]any{{"queue": q.ID, "seconds": 60}, {"reply": "All agents are busy"}, {"queue": q.ID}},
		}
		rec = c.valid(e, http.MethodPut, settingsPath(full.ID), adminToken, settings)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		c.serve(e, http.MethodGet, settingsPath(full.ID), adminToken, nil)
		c.serve(e, http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d/canned-answers", full.ID), agent.Token, nil)
		bad := map[string]any{"actionFlow": []map[string]any{{"reply": "hi", "seconds": 3}}}
		assertFieldError(t, c.serve(e, http.MethodPut, settingsPath(full.ID), adminToken, bad), "actionFlow[0].seconds", "only a queue step waits")
		assert.Error(t, c.requestErr(http.MethodPut, settingsPath(full.ID), bad), "the document refuses a reply step with seconds")
		rec = c.valid(e, http.MethodPut, settingsPath(full.ID), adminToken, map[string]any{})
		assert.JSONEq(t, emptySettings, rec.Body.String())

		// Interactions, messages and attachments.
		inter := env.seedAssigned(full.ID, agent.ID, "393331112222", "Maria")
		now := time.Now().UTC()
		in := models.Message{AccountID: full.ID, InteractionID: inter.ID, ContactID: inter.ContactID, Direction: models.DirectionInbound,
			Kind: "media", Status: models.StatusReceived, ProviderMessageID: ptrTo("01HIN"), ProviderTime: &now}
		require.NoError(t, env.db.Create(&in).Error)
		out := models.Message{AccountID: full.ID, InteractionID: inter.ID, ContactID: inter.ContactID, Direction: models.DirectionOutbound,
			Kind: "text", Text: "Hello", Status: models.StatusFailed, AgentID: &agent.ID, ReasonCode: "RECIPIENT_NOT_OPTED_IN",
			ErrorClass: models.ErrorClassPolicy, ErrorMessage: "Meta refused it", SendAttempt: 1, SentAt: &now}
		require.NoError(t, env.db.Create(&out).Error)
		att := models.Attachment{MessageID: in.ID, AccountID: full.ID, SourceURL: "https://media.example.com/a.jpg",
			Direction: models.DirectionInbound, Kind: "image", Status: models.AttachmentPending, Error: "timeout", Attempts: 1}
		require.NoError(t, env.db.Create(&att).Error)
		rec = c.serve(e, http.MethodGet, "/api/interactions?status=open&limit=1", agent.Token, nil)
		assert.Len(t, cfgDecode[api.InteractionList](t, rec, http.StatusOK).Items, 1)
		rec = c.serve(e, http.MethodGet, fmt.Sprintf("/api/interactions/%d", inter.ID), agent.Token, nil)
		assert.Len(t, cfgDecode[api.InteractionResponse](t, rec, http.StatusOK).Messages, 2)
		rec = c.serve(e, http.MethodGet, "/api/interactions?limit=0", agent.Token, nil)
		assert.Equal(t, "invalid_query", errorBody(t, rec).Code)
		rec = c.serve(e, http.MethodGet, fmt.Sprintf("/api/attachments/%d", att.ID), agent.Token, nil)
		assert.Equal(t, "attachment_pending", errorBody(t, rec).Code)
		rec = c.serve(e, http.MethodDelete, fmt.Sprintf("/api/attachments/%d", att.ID), adminToken, nil)
		assert.Equal(t, "deleted", cfgDecode[api.AttachmentView](t, rec, http.StatusOK).Status)
		rec = c.serve(e, http.MethodGet, fmt.Sprintf("/api/attachments/%d", att.ID), agent.Token, nil)
		assert.Equal(t, http.StatusGone, rec.Code)

		// Deletes answer 204.
		c.serve(e, http.MethodDelete, fmt.Sprintf("/api/queues/%d/agents/%d", q.ID, agent.ID), adminToken, nil)
		c.serve(e, http.MethodDelete, fmt.Sprintf("/api/agents/%d/accounts/%d", agent.ID, full.ID), agent.Token, nil)
		c.serve(e, http.MethodDelete, fmt.Sprintf("/api/agents/%d/permissions/%d", agent.ID, full.ID), adminToken, nil)
		rec = c.serve(e, http.MethodPost, fmt.Sprintf("/api/agents/%d/token", agent.ID), agent.Token, nil)
		rotated := cfgDecode[api.AgentCreatedResponse](t, rec, http.StatusOK)
		assert.NotEqual(t, agent.Token, rotated.Token)
		assert.Equal(t, http.StatusUnauthorized, c.serve(e, http.MethodGet, fmt.Sprintf("/api/agents/%d", agent.ID), agent.Token, nil).Code)
		c.serve(e, http.MethodDelete, fmt.Sprintf("/api/agents/%d", agent.ID), adminToken, nil)
		rec = c.serve(e, http.MethodDelete, accPath, adminToken, nil)
		assert.Equal(t, http.StatusNoContent, rec.Code)
	})
}

// TestOpenAPIMigrationResponsesMatch validates the migration API's real
// answers against the document.
func TestOpenAPIMigrationResponsesMatch(t *testing.T) {
	c := newOpenAPIChecker(t)
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			c := *c
			c.t = t
			env := newMigEnv(t, engine)
			body := map[string]any{"sourceAccountId": env.source.ID, "target": migTarget()}
			rec := c.valid(env.e, http.MethodPost, "/api/migrations", adminToken, body)
			mig := cfgDecode[api.MigrationResponse](t, rec, http.StatusAccepted)
			rec = c.serve(env.e, http.MethodPost, "/api/migrations", adminToken, body)
			assert.Equal(t, "migration_active", errorBody(t, rec).Code)
			rec = c.serve(env.e, http.MethodPost, "/api/migrations", adminToken, map[string]any{"sourceAccountId": env.source.ID, "target": without(migTarget(), "phone")})
			assertFieldError(t, rec, "target.phone", "required")
			c.serve(env.e, http.MethodGet, fmt.Sprintf("/api/migrations/%d", mig.ID), adminToken, nil)
			rec = c.serve(env.e, http.MethodGet, fmt.Sprintf("/api/migrations?sourceAccountId=%d&state=running", env.source.ID), adminToken, nil)
			assert.Len(t, cfgDecode[api.MigrationList](t, rec, http.StatusOK).Items, 1)
			rec = c.serve(env.e, http.MethodPost, fmt.Sprintf("/api/migrations/%d/confirm", mig.ID), adminToken, nil)
			assert.Equal(t, http.StatusAccepted, rec.Code)
			rec = c.serve(env.e, http.MethodPost, fmt.Sprintf("/api/migrations/%d/retry", mig.ID), adminToken, nil)
			assert.Equal(t, "nothing_to_retry", errorBody(t, rec).Code)
		})
	}
}

// TestOpenAPIOperationsResponsesMatch validates the webhook's and the
// health routes' real answers against the document.
func TestOpenAPIOperationsResponsesMatch(t *testing.T) {
	c := newOpenAPIChecker(t)
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			c := *c
			c.t = t
			w := newWebhookEnv(t, engine, "01HAPP", fixtureSecret)
			notify := fmt.Sprintf("/api/whatsapp/accounts/%d/notify", w.acc.ID)
			signed := func(body []byte, nonce string) *http.Request {
				req := c.request(http.MethodPost, notify, "", body)
				sinch.SetSignatureHeaders(req.Header, fixtureSecret, body, nonce, time.Now())
				return req
			}
			msg := waText("01HMSG", "393331234567", "CONVERSATION")
			rec := c.serveRequest(w.e, signed(msg, "n1"))
			assert.Equal(t, "accepted", cfgDecode[api.WebhookResponse](t, rec, http.StatusOK).Status)
			rec = c.serveRequest(w.e, signed(msg, "n1"))
			assert.Equal(t, "nonce_replayed", errorBody(t, rec).Code)
			rec = c.serve(w.e, http.MethodPost, notify, "", msg)
			assert.Equal(t, "signature_missing", errorBody(t, rec).Code)
			rec = c.serveRequest(w.e, signed([]byte(`{"app_id":"01HAPP","unknown_trigger":{}}`), "n2"))
			assert.Equal(t, "ignored", cfgDecode[api.WebhookResponse](t, rec, http.StatusOK).Status)
			w.tc.fail = serviceerror.NewUnavailable("down")
			rec = c.serveRequest(w.e, signed(waText("01HMSG2", "393331234567", "CONVERSATION"), "n3"))
			assert.Equal(t, http.StatusServiceUnavailable, rec.Code)

			down := serviceerror.NewUnavailable("down")
			e := api.New(api.Deps{DB: w.db, Temporal: &fakeTemporal{healthErr: down, startErr: down}, AdminToken: adminToken})
			rec = c.serve(e, http.MethodGet, "/readyz", "", nil)
			assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
			rec = c.serve(e, http.MethodGet, "/api/diagnostics", adminToken, nil)
			assert.Equal(t, "engine_unavailable", errorBody(t, rec).Code)
			c.serve(e, http.MethodGet, "/healthz", "", nil)
			c.serve(e, http.MethodGet, "/openapi.json", "", nil)
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

// openAPITemporal answers updates like settings_test's fake and describes
// every workflow as a completed reconciliation.
type openAPITemporal struct {
	updateTemporal
	reconcile workflows.ReconcileResult
}

func (f *openAPITemporal) DescribeWorkflowExecution(context.Context, string, string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{
		Status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED}}, nil
}

func (f *openAPITemporal) GetWorkflow(context.Context, string, string) client.WorkflowRun {
	return fakeRun{res: f.reconcile}
}

// fakeRun answers Get with res, as JSON round trips it.
type fakeRun struct {
	client.WorkflowRun
	res any
}

func (r fakeRun) Get(_ context.Context, out any) error {
	return fakeUpdateHandle{res: r.res}.Get(context.Background(), out)
}

// multipartBody is a multipart/form-data reply with a file and a text.
func multipartBody(t *testing.T, name string, data []byte, text string) ([]byte, string) {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	// A browser sends the file's own type; the API types it by its bytes.
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, name))
	h.Set("Content-Type", "image/png")
	fw, err := w.CreatePart(h)
	require.NoError(t, err)
	_, err = fw.Write(data)
	require.NoError(t, err)
	require.NoError(t, w.WriteField("text", text))
	require.NoError(t, w.Close())
	return body.Bytes(), w.FormDataContentType()
}

// TestOpenAPIInteractionResponsesMatch validates the agent routes' real
// answers against the document: replies (JSON and multipart, stored by the
// real CreateOutbound activity), attachment and signed media downloads,
// close, transfer, accept, a reconciliation, and the event stream, each of
// whose events must carry the data the document names for its type.
func TestOpenAPIInteractionResponsesMatch(t *testing.T) {
	c := newOpenAPIChecker(t)
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			c := *c
			c.t = t
			env := newCfgEnv(t, engine)
			store, err := media.NewFS(t.TempDir(), 0)
			require.NoError(t, err)
			signer := media.NewSigner(bytes.Repeat([]byte{3}, 32))
			tc := &openAPITemporal{reconcile: workflows.ReconcileResult{Pages: 1, Listed: 10, Missing: 2}}
			acts := &activities.Activities{DB: env.db}
			// The fake conversation stores replies with the real activity.
			tc.result = func(opts client.UpdateWorkflowOptions) any {
				if opts.UpdateName != workflows.ReplyUpdateName {
					return nil
				}
				req := opts.Args[0].(workflows.ReplyRequest)
				var it models.Interaction
				require.NoError(t, env.db.Take(&it, req.InteractionID).Error)
				res, err := acts.CreateOutbound(context.Background(), activities.CreateOutboundInput{
					AccountID: it.AccountID, InteractionID: it.ID, ContactID: it.ContactID, AgentID: req.AgentID, Text: req.Text,
					ClientRef: fmt.Sprintf("reply:%d:%d", it.ID, time.Now().UnixNano()), Attachment: req.Attachment})
				require.NoError(t, err)
				return workflows.ReplyResult{MessageID: res.MessageID, Status: res.Status, TextMessageID: res.TextMessageID}
			}
			e := api.New(api.Deps{DB: env.db, Temporal: tc, Secrets: env.box, AdminToken: adminToken, TaskQueue: "q",
				PublicURL: "https://motion.example.com", Media: store, MediaSigner: signer})
			acc := env.createAccount("replies")
			agent := env.createAgent("Bob")
			q := env.createQueue("Support")
			c.serve(e, http.MethodPut, fmt.Sprintf("/api/agents/%d/accounts/%d", agent.ID, acc.ID), adminToken, nil)
			inter := env.seedAssigned(acc.ID, agent.ID, "393331113333", "Maria")
			msgs := fmt.Sprintf("/api/interactions/%d/messages", inter.ID)

			// A text reply, a template (refused) and a file with its text.
			rec := c.valid(e, http.MethodPost, msgs, agent.Token, map[string]any{"text": "Hello Maria"})
			assert.Equal(t, "pending", cfgDecode[api.ReplyResponse](t, rec, http.StatusAccepted).Status)
			rec = c.valid(e, http.MethodPost, msgs, agent.Token, map[string]any{"template": map[string]any{"name": "welcome"}})
			assert.Equal(t, "templates_not_supported", errorBody(t, rec).Code)
			png := sample(t, "sample.png")
			body, ct := multipartBody(t, "photo.png", png, "Here it is")
			req := c.request(http.MethodPost, msgs, agent.Token, body)
			req.Header.Set(echo.HeaderContentType, ct)
			vreq := c.request(http.MethodPost, msgs, "", body)
			vreq.Header.Set(echo.HeaderContentType, ct)
			route, params := c.route(vreq)
			require.NoError(t, openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
				Request: vreq, PathParams: params, Route: route,
				Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
			}), "the document refuses the multipart reply")
			rec = c.serveRequest(e, req)
			reply := cfgDecode[api.ReplyResponse](t, rec, http.StatusAccepted)
			require.Len(t, reply.Attachments, 1)
			require.NotNil(t, reply.FollowUp, "the text follows the file")
			att := reply.Attachments[0]

			// Downloads: the agent's, a byte range, HEAD, and Sinch's signed link.
			attPath := fmt.Sprintf("/api/attachments/%d", att.ID)
			rec = c.serve(e, http.MethodGet, attPath, agent.Token, nil)
			require.Equal(t, http.StatusOK, rec.Code)
			assert.Equal(t, "image/png", rec.Header().Get(echo.HeaderContentType))
			assert.Equal(t, png, rec.Body.Bytes())
			req = c.request(http.MethodGet, attPath, agent.Token, nil)
			req.Header.Set("Range", "bytes=0-9")
			assert.Equal(t, http.StatusPartialContent, c.serveRequest(e, req).Code)
			assert.Equal(t, http.StatusOK, c.serve(e, http.MethodHead, attPath, agent.Token, nil).Code)
			token := signer.Mint(att.ID, time.Now().Add(time.Hour))
			rec = c.serve(e, http.MethodGet, "/api/media/"+token+".png", "", nil)
			require.Equal(t, http.StatusOK, rec.Code)
			assert.Equal(t, png, rec.Body.Bytes())
			assert.Equal(t, http.StatusOK, c.serve(e, http.MethodHead, "/api/media/"+token+".png", "", nil).Code)
			assert.Equal(t, http.StatusNotFound, c.serve(e, http.MethodGet, "/api/media/"+token[:len(token)-2]+"xx.png", "", nil).Code)
			rec = c.serve(e, http.MethodPost, attPath+"/retry", agent.Token, nil)
			assert.Equal(t, "not_retryable", errorBody(t, rec).Code)

			// The event stream: the replies' real message.status events.
			ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
			defer cancel()
			req = c.request(http.MethodGet, fmt.Sprintf("/api/agents/%d/events?lastEventId=0", agent.ID), agent.Token, nil).WithContext(ctx)
			rec = c.serveRequest(e, req)
			require.Equal(t, http.StatusOK, rec.Code)
			events := parseSSE(t, rec.Body.String())
			require.Len(t, events, 3, "one pending status per stored reply message: %s", rec.Body.String())
			for _, ev := range events {
				c.checkEvent(ev)
			}

			// A reconciliation.
			reconcile := fmt.Sprintf("/api/whatsapp/accounts/%d/reconcile", acc.ID)
			rec = c.valid(e, http.MethodPost, reconcile, adminToken, map[string]any{"from": time.Now().Add(-time.Hour).Format(time.RFC3339)})
			rid := cfgDecode[api.ReconcileResponse](t, rec, http.StatusAccepted).ID
			rec = c.serve(e, http.MethodGet, reconcile+"/"+rid, adminToken, nil)
			assert.Equal(t, 10, cfgDecode[api.ReconcileResponse](t, rec, http.StatusOK).Result.Listed)
			rec = c.serve(e, http.MethodPost, reconcile, adminToken, map[string]any{"from": time.Now().Add(time.Hour).Format(time.RFC3339)})
			assert.Equal(t, "invalid_range", errorBody(t, rec).Code)

			// Transfer, accept and close run as updates, then answer the interaction.
			base := fmt.Sprintf("/api/interactions/%d", inter.ID)
			rec = c.valid(e, http.MethodPost, base+"/transfer", agent.Token, map[string]any{"queueId": q.ID})
			assert.Len(t, cfgDecode[api.InteractionResponse](t, rec, http.StatusOK).Messages, 3)
			rec = c.serve(e, http.MethodPost, base+"/accept", adminToken, nil)
			assert.Equal(t, http.StatusForbidden, rec.Code, "the admin cannot accept")
			c.serve(e, http.MethodPost, base+"/accept", agent.Token, nil)
			rec = c.valid(e, http.MethodPost, base+"/close", agent.Token, map[string]any{"disposition": "Solved"})
			require.Equal(t, http.StatusOK, rec.Code)
			require.NoError(t, env.db.Model(&models.Interaction{}).Where("id = ?", inter.ID).Update("status", models.InteractionClosed).Error)
			rec = c.valid(e, http.MethodPost, base+"/close", agent.Token, map[string]any{})
			assert.Equal(t, "interaction_closed", errorBody(t, rec).Code)
		})
	}
}

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	id, event, data string
}

// parseSSE splits a stream into its events, skipping comments and retry.
func parseSSE(t *testing.T, stream string) []sseEvent {
	t.Helper()
	var out []sseEvent
	for _, block := range strings.Split(stream, "\n\n") {
		var ev sseEvent
		for _, line := range strings.Split(block, "\n") {
			field, value, _ := strings.Cut(line, ": ")
			switch field {
			case "id":
				ev.id = value
			case "event":
				ev.event = value
			case "data":
				ev.data = value
			}
		}
		if ev.event != "" {
			out = append(out, ev)
		}
	}
	return out
}

// checkEvent validates an event's data against the schema the agent
// event stream's x-sse-events names for its type.
func (c *openAPIChecker) checkEvent(ev sseEvent) {
	c.t.Helper()
	op := c.doc.Paths.Find("/api/agents/{id}/events").Get
	events, ok := op.Extensions["x-sse-events"].(map[string]any)
	require.True(c.t, ok, "the event stream documents its events in x-sse-events")
	entry, ok := events[ev.event].(map[string]any)
	require.True(c.t, ok, "event %s is not documented in x-sse-events", ev.event)
	name := strings.TrimPrefix(entry["$ref"].(string), "#/components/schemas/")
	schema := c.doc.Components.Schemas[name]
	require.NotNil(c.t, schema, "x-sse-events names %s, which is not a schema", name)
	var data any
	require.NoError(c.t, json.Unmarshal([]byte(ev.data), &data))
	assert.NoError(c.t, schema.Value.VisitJSON(data), "the data of event %s %s does not match %s", ev.event, ev.data, name)
}

func sample(t *testing.T, name string) []byte {
	t.Helper()
	_, data, ok := emulator.Sample(name)
	require.True(t, ok, name)
	return data
}

// newTestMetrics is a metrics registry, so that GET /metrics is registered.
func newTestMetrics(t *testing.T) *metrics.Metrics {
	t.Helper()
	m, err := metrics.New()
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	return m
}
