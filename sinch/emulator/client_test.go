package emulator_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/sinch/emulator"
)

// countingTransport counts token requests made through it.
type countingTransport struct {
	tokens atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/oauth2/token") {
		c.tokens.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// clock is a settable clock for the client's token cache.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type clientEnv struct {
	em      *emulator.Server
	url     string
	tr      *countingTransport
	tokens  *sinch.TokenCache
	http    *http.Client
	clock   *clock
	rcv     *receiver
	appCfg  sinch.ClientConfig
	contact string
}

// newClientEnv runs an emulator with one EU app (DISPATCH, so recipients are
// identities) and a real sinch.Client configured for it.
func newClientEnv(t *testing.T, tokenTTL time.Duration) *clientEnv {
	t.Helper()
	em := emulator.New(emulator.Options{TokenTTL: tokenTTL, RetrySchedule: []time.Duration{}})
	url, err := em.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = em.Close() })
	rc := newReceiver(t, testSecret)
	require.NoError(t, em.CreateApp(emulator.App{AppID: "01APPEU", ProjectID: testProject, Region: "eu", ProcessingMode: "DISPATCH",
		WebhookURL: rc.srv.URL, WebhookSecret: testSecret, KeyID: "key-1", KeySecret: "secret-1"}))
	tr := &countingTransport{}
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	clk := &clock{t: time.Now()}
	env := &clientEnv{em: em, url: url, tr: tr, http: hc, clock: clk, rcv: rc, tokens: sinch.NewTokenCache(hc, clk.now)}
	env.appCfg = sinch.ClientConfig{Region: "eu", BaseURL: url, AuthURL: url + "/oauth2/token",
		ProjectID: testProject, AppID: "01APPEU", KeyID: "key-1", KeySecret: "secret-1"}
	env.contact = "393331234567"
	return env
}

func (e *clientEnv) client(t *testing.T, mutate func(*sinch.ClientConfig)) *sinch.Client {
	t.Helper()
	cfg := e.appCfg
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := sinch.NewClient(cfg, e.tokens, e.http)
	require.NoError(t, err)
	return c
}

func (e *clientEnv) send(c *sinch.Client, text string) (sinch.SendMessageResponse, error) {
	return c.SendMessage(context.Background(), sinch.TextRequest(sinch.IdentityRecipient("WHATSAPP", e.contact), text))
}

func TestClientAgainstEmulatorCachesAndRefreshesTokens(t *testing.T) {
	env := newClientEnv(t, time.Hour)
	c := env.client(t, nil)
	for i := 0; i < 3; i++ {
		res, err := env.send(c, "hello")
		require.NoError(t, err)
		assert.Len(t, res.MessageID, 26)
		assert.False(t, res.AcceptedTime.IsZero())
	}
	assert.EqualValues(t, 1, env.tr.tokens.Load(), "one token for three sends")

	// Close to expiry (by the client's clock) the token is refreshed first.
	env.clock.add(59*time.Minute + 30*time.Second)
	_, err := env.send(c, "hello again")
	require.NoError(t, err)
	assert.EqualValues(t, 2, env.tr.tokens.Load(), "refreshed before expiry")

	items, err := env.em.Outbox("01APPEU", env.contact)
	require.NoError(t, err)
	assert.Len(t, items, 4, "every send reached the emulator")
}

func TestClientAgainstEmulatorRetriesOnceOnExpiredToken(t *testing.T) {
	// The emulator's tokens live 1 s; the client's clock stands still, so it
	// still trusts its token when the emulator says it expired.
	env := newClientEnv(t, time.Second)
	c := env.client(t, nil)
	_, err := env.send(c, "first")
	require.NoError(t, err)
	time.Sleep(1100 * time.Millisecond)
	_, err = env.send(c, "second")
	require.NoError(t, err, "401 expired → one refresh and one retry")
	assert.EqualValues(t, 2, env.tr.tokens.Load())
}

func TestClientAgainstEmulatorErrorClasses(t *testing.T) {
	env := newClientEnv(t, time.Hour)
	c := env.client(t, nil)

	t.Run("wrong region is 404 and permanent", func(t *testing.T) {
		us := env.client(t, func(cfg *sinch.ClientConfig) { cfg.BaseURL = env.url + "/us" })
		_, err := env.send(us, "hi")
		apiErr, ok := sinch.AsAPIError(err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, http.StatusNotFound, apiErr.HTTPStatus)
		assert.Equal(t, "NOT_FOUND", apiErr.Status)
		assert.Equal(t, sinch.ErrorClassPermanent, apiErr.Class)
		assert.False(t, apiErr.Retryable())
	})

	t.Run("bad credentials are permanent", func(t *testing.T) {
		bad := env.client(t, func(cfg *sinch.ClientConfig) { cfg.KeySecret = "s3cr3t-typo-xyz" })
		_, err := env.send(bad, "hi")
		apiErr, ok := sinch.AsAPIError(err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, http.StatusUnauthorized, apiErr.HTTPStatus)
		assert.Equal(t, sinch.OpToken, apiErr.Op)
		assert.False(t, apiErr.Retryable())
		assert.NotContains(t, err.Error(), "s3cr3t-typo-xyz", "the secret never appears in errors")
	})

	t.Run("another project's app is 404", func(t *testing.T) {
		other := env.client(t, func(cfg *sinch.ClientConfig) { cfg.AppID = "01NOSUCHAPP" })
		_, err := env.send(other, "hi")
		apiErr, ok := sinch.AsAPIError(err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, http.StatusNotFound, apiErr.HTTPStatus)
	})

	for _, tc := range []struct {
		name       string
		fault      emulator.Fault
		status     int
		class      sinch.ErrorClass
		retryAfter time.Duration
	}{
		{"429 honours Retry-After", emulator.Fault{HTTPStatus: 429, RetryAfterSeconds: 7}, 429, sinch.ErrorClassRateLimited, 7 * time.Second},
		{"500 is retryable", emulator.Fault{HTTPStatus: 500}, 500, sinch.ErrorClassRetryable, 0},
		{"503 is retryable", emulator.Fault{HTTPStatus: 503}, 503, sinch.ErrorClassRetryable, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fault.To, tc.fault.Times = env.contact, 1
			require.NoError(t, env.em.AddFault("01APPEU", tc.fault))
			_, err := env.send(c, "hi")
			apiErr, ok := sinch.AsAPIError(err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, tc.status, apiErr.HTTPStatus)
			assert.Equal(t, tc.class, apiErr.Class)
			assert.True(t, apiErr.Retryable())
			assert.Equal(t, tc.retryAfter, apiErr.RetryAfter)
			_, err = env.send(c, "hi")
			assert.NoError(t, err, "the fault is consumed: the next send goes through")
		})
	}

	t.Run("text over 4096 characters", func(t *testing.T) {
		_, err := env.send(c, strings.Repeat("é", 4097))
		apiErr, ok := sinch.AsAPIError(err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, sinch.ErrorClassPermanent, apiErr.Class)
	})

	t.Run("DISPATCH app refuses a contact_id recipient with 400", func(t *testing.T) {
		_, err := c.SendMessage(context.Background(), sinch.TextRequest(sinch.ContactRecipient("01HCONTACT"), "hi"))
		apiErr, ok := sinch.AsAPIError(err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, http.StatusBadRequest, apiErr.HTTPStatus)
		assert.Equal(t, "INVALID_ARGUMENT", apiErr.Status)
		assert.Equal(t, sinch.ErrorClassPermanent, apiErr.Class)
	})

	t.Run("network error is retryable", func(t *testing.T) {
		down := env.client(t, func(cfg *sinch.ClientConfig) { cfg.BaseURL = "http://127.0.0.1:1" })
		_, err := env.send(down, "hi")
		apiErr, ok := sinch.AsAPIError(err)
		require.True(t, ok, "%v", err)
		assert.Zero(t, apiErr.HTTPStatus)
		assert.True(t, apiErr.Retryable())
	})
}
