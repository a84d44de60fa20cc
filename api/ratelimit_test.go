package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/internal/metrics"
	"github.com/xcally-connector/connector/internal/secretbox"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/sinch"
)

// fakeClock is the injected clock of the auth-failure limit.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// from sends a request from the client at peer (host:port) with token
// ("" for none).
func from(e *echo.Echo, peer, method, path, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	req.RemoteAddr = peer
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

// AUTH_FAILURE_LIMIT 20/1m: the 21st failure of a client (401 without or
// with an unknown token, 403 of a wrong token on an admin route) is a 429
// with Retry-After, and so is any further request of it that needs
// authentication, until the bucket refills. Other clients, successes and
// public routes are not limited.
func TestAuthFailureLimit(t *testing.T) {
	clock := newFakeClock()
	db := testdb.Open(t, models.SQLite)
	e := api.New(api.Deps{DB: db, Temporal: &fakeTemporal{}, AdminToken: adminToken, TaskQueue: "q",
		AuthFailureBurst: 20, AuthFailureEvery: time.Minute, Now: clock.Now})
	const a, b = "203.0.113.1:5000", "203.0.113.2:5000"

	for i := range 20 {
		token := ""
		if i%2 == 1 {
			token = "guess"
		}
		rec := from(e, a, http.MethodGet, "/api/queues", token)
		require.Contains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, rec.Code, "failure %d: %s", i+1, rec.Body.String())
	}
	rec := from(e, a, http.MethodGet, "/api/queues", "guess")
	require.Equal(t, http.StatusTooManyRequests, rec.Code, "the 21st failure")
	assert.Equal(t, "3", rec.Header().Get("Retry-After"), "a token is back after 1m/20")
	d := errorBody(t, rec)
	assert.Equal(t, "too_many_auth_failures", d.Code)
	assert.NotEmpty(t, d.RequestID)

	assert.Equal(t, http.StatusTooManyRequests, from(e, a, http.MethodGet, "/api/queues", adminToken).Code,
		"the right token is not even checked while the client is refused")
	assert.Equal(t, http.StatusTooManyRequests, from(e, a, http.MethodGet, "/api/interactions", "agent-guess").Code)
	assert.Equal(t, http.StatusOK, from(e, a, http.MethodGet, "/healthz", "").Code, "public routes answer")
	assert.Equal(t, http.StatusOK, from(e, a, http.MethodGet, "/openapi.json", "").Code)
	assert.Equal(t, http.StatusNotFound, from(e, a, http.MethodGet, "/nope", "").Code)

	assert.Equal(t, http.StatusForbidden, from(e, b, http.MethodGet, "/api/queues", "guess").Code, "another client is not limited")
	assert.Equal(t, http.StatusOK, from(e, b, http.MethodGet, "/api/queues", adminToken).Code)

	clock.advance(3 * time.Second)
	assert.Equal(t, http.StatusForbidden, from(e, a, http.MethodGet, "/api/queues", "guess").Code, "one token back after 3 s")
	rec = from(e, a, http.MethodGet, "/api/queues", "guess")
	assert.Equal(t, http.StatusTooManyRequests, rec.Code)
	assert.Equal(t, "3", rec.Header().Get("Retry-After"))
	clock.advance(time.Second)
	assert.Equal(t, "2", from(e, a, http.MethodGet, "/api/queues", "guess").Header().Get("Retry-After"))

	clock.advance(time.Minute)
	for i := range 20 {
		require.Equal(t, http.StatusForbidden, from(e, a, http.MethodGet, "/api/queues", "guess").Code, "refilled: failure %d", i+1)
	}
	assert.Equal(t, http.StatusOK, from(e, b, http.MethodGet, "/api/queues", adminToken).Code)
	assert.Equal(t, http.StatusTooManyRequests, from(e, a, http.MethodGet, "/api/queues", "guess").Code)
}

// Successes take nothing from the bucket; an agent acting on another agent
// (a 403 of a valid token) is not an authentication failure.
func TestAuthFailureLimitCountsOnlyFailures(t *testing.T) {
	db := testdb.Open(t, models.SQLite)
	e := api.New(api.Deps{DB: db, Temporal: &fakeTemporal{}, AdminToken: adminToken, TaskQueue: "q",
		AuthFailureBurst: 3, AuthFailureEvery: time.Minute})
	sum := sha256.Sum256([]byte("ann-token"))
	ann := models.Agent{Name: "ann", TokenHash: hex.EncodeToString(sum[:])}
	require.NoError(t, db.Create(&ann).Error)
	bob := createAgent(t, db, "bob")
	const c = "198.51.100.3:4000"

	for range 50 {
		require.Equal(t, http.StatusOK, from(e, c, http.MethodGet, "/api/queues", adminToken).Code)
		require.Equal(t, http.StatusOK, from(e, c, http.MethodGet, fmt.Sprintf("/api/agents/%d", ann.ID), "ann-token").Code)
		require.Equal(t, http.StatusForbidden, from(e, c, http.MethodGet, fmt.Sprintf("/api/agents/%d", bob), "ann-token").Code)
	}
	for i := range 3 {
		require.Equal(t, http.StatusUnauthorized, from(e, c, http.MethodGet, "/api/interactions", "unknown").Code, "failure %d", i+1)
	}
	assert.Equal(t, http.StatusTooManyRequests, from(e, c, http.MethodGet, "/api/interactions", "unknown").Code)
	assert.Equal(t, http.StatusTooManyRequests, from(e, c, http.MethodGet, fmt.Sprintf("/api/agents/%d", ann.ID), "ann-token").Code)
}

// IPv6 clients count by /64; an answer a handler writes itself (/metrics'
// 401) counts too.
func TestAuthFailureLimitIPv6AndMetrics(t *testing.T) {
	m, err := metrics.New()
	require.NoError(t, err)
	e := api.New(api.Deps{DB: testdb.Open(t, models.SQLite), Temporal: &fakeTemporal{}, AdminToken: adminToken,
		Metrics: m, MetricsToken: "metrics-token-0123456789", AuthFailureBurst: 2, AuthFailureEvery: time.Minute})

	for range 2 {
		require.Equal(t, http.StatusUnauthorized, from(e, "[2001:db8:0:1::1]:4000", http.MethodGet, "/metrics", "guess").Code)
	}
	assert.Equal(t, http.StatusTooManyRequests, from(e, "[2001:db8:0:1::1]:4000", http.MethodGet, "/metrics", "metrics-token-0123456789").Code)
	assert.Equal(t, http.StatusTooManyRequests, from(e, "[2001:db8:0:1:ffff::9]:4000", http.MethodGet, "/api/queues", adminToken).Code, "same /64")
	assert.Equal(t, http.StatusOK, from(e, "[2001:db8:0:2::1]:4000", http.MethodGet, "/metrics", "metrics-token-0123456789").Code, "another /64")
}

// countStatements counts every statement gorm runs on db.
func countStatements(t *testing.T, db *gorm.DB) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	count := func(*gorm.DB) { n.Add(1) }
	cb := db.Callback()
	require.NoError(t, cb.Query().Before("gorm:query").Register("test:count", count))
	require.NoError(t, cb.Create().Before("gorm:create").Register("test:count", count))
	require.NoError(t, cb.Update().Before("gorm:update").Register("test:count", count))
	require.NoError(t, cb.Delete().Before("gorm:delete").Register("test:count", count))
	require.NoError(t, cb.Row().Before("gorm:row").Register("test:count", count))
	require.NoError(t, cb.Raw().Before("gorm:raw").Register("test:count", count))
	return &n
}

// The webhook's bad signatures count per client and account. A refused
// callback runs no statement at all: no account read, no webhook health
// write, no nonce row, even when it is correctly signed.
func TestAuthFailureLimitRefusesBeforeTheDatabase(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			const secret = "whsec-ratelimit-0123456789"
			db := testdb.Open(t, engine)
			box, err := secretbox.New(bytes.Repeat([]byte{7}, 32))
			require.NoError(t, err)
			accs := make([]models.Account, 2)
			for i := range accs {
				accs[i] = models.Account{Name: fmt.Sprint("Acme ", i), Key: fmt.Sprint("acme-", i), PublicURL: "https://motion.example.com", Type: models.AccountTypeSinchV2,
					Region: models.RegionEU, ProjectID: "p", AppID: "01HAPP", KeyID: "k", Phone: "+390212345678", Channels: "WHATSAPP"}
				require.NoError(t, db.Create(&accs[i]).Error)
				accs[i].WebhookSecretEnc, err = box.Seal(secret, secretbox.AccountAAD(accs[i].ID, "webhook_secret"))
				require.NoError(t, err)
				require.NoError(t, db.Save(&accs[i]).Error)
			}
			e := api.New(api.Deps{DB: db, Temporal: &fakeTemporal{}, Secrets: box, AdminToken: adminToken, TaskQueue: "q",
				AuthFailureBurst: 3, AuthFailureEvery: time.Minute})
			body := []byte(`{"app_id":"01HAPP","message":{}}`)
			post := func(peer string, acc models.Account, key, nonce string) *httptest.ResponseRecorder {
				req := httptest.NewRequest(http.MethodPost, fmt.Sprintf("/api/whatsapp/accounts/%d/notify", acc.ID), bytes.NewReader(body))
				req.RemoteAddr = peer
				req.Header.Set("Content-Type", "application/json")
				sinch.SetSignatureHeaders(req.Header, key, body, nonce, time.Now())
				rec := httptest.NewRecorder()
				e.ServeHTTP(rec, req)
				return rec
			}
			failures := func(acc models.Account) int64 {
				var h models.WebhookHealth
				require.NoError(t, db.Where("account_id = ?", acc.ID).Take(&h).Error)
				return h.SignatureFailures
			}
			const sinchIP = "192.0.2.10:443"
			for i := range 3 {
				rec := post(sinchIP, accs[0], "wrong-secret", fmt.Sprint("bad-", i))
				require.Equal(t, http.StatusUnauthorized, rec.Code, rec.Body.String())
			}
			require.Equal(t, int64(3), failures(accs[0]))

			statements := countStatements(t, db)
			for i := range 5 {
				rec := post(sinchIP, accs[0], "wrong-secret", fmt.Sprint("more-", i))
				require.Equal(t, http.StatusTooManyRequests, rec.Code)
				assert.Equal(t, "20", rec.Header().Get("Retry-After"))
			}
			rec := post(sinchIP, accs[0], secret, "fresh-nonce")
			assert.Equal(t, http.StatusTooManyRequests, rec.Code, "refused before the signature is checked")
			assert.Zero(t, statements.Load(), "a refused request touches no table")

			assert.Equal(t, int64(3), failures(accs[0]), "refused callbacks are not recorded as signature failures")
			var nonces int64
			require.NoError(t, db.Model(&models.WebhookNonce{}).Where("nonce = ?", "fresh-nonce").Count(&nonces).Error)
			assert.Zero(t, nonces)

			assert.Equal(t, http.StatusUnauthorized, post(sinchIP, accs[1], "wrong-secret", "other-account").Code,
				"another account's callbacks from the same Sinch address are not refused")
			assert.Equal(t, http.StatusUnauthorized, post("192.0.2.11:443", accs[0], "wrong-secret", "other-client").Code)
		})
	}
}
