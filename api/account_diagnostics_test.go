package api_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/internal/media"
	"github.com/xcally-connector/connector/internal/secretbox"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/sinch/emulator"
)

const (
	diagKeySecret     = "ks-diag-secret-0001"
	diagWebhookSecret = "wh-diag-secret-0001"
)

// diagEnv is a connector served over https by httptest (its own CA), on
// one database engine, with the Sinch emulator for OAuth2.
type diagEnv struct {
	t      *testing.T
	db     *gorm.DB
	box    *secretbox.Box
	signer *media.Signer
	store  *media.FS
	// e serves srv; diag runs the diagnostics (its deps vary per case).
	e       *echo.Echo
	srv     *httptest.Server
	emuURL  string
	em      *emulator.Server
	pool    *x509.CertPool
	account uint64
}

func newDiagEnv(t *testing.T, engine models.Engine) *diagEnv {
	t.Helper()
	box, err := secretbox.New(bytes.Repeat([]byte{7}, 32))
	require.NoError(t, err)
	store, err := media.NewFS(t.TempDir(), 1)
	require.NoError(t, err)
	env := &diagEnv{t: t, db: testdb.Open(t, engine), box: box, signer: media.NewSigner(bytes.Repeat([]byte{7}, 32)), store: store}

	env.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { env.e.ServeHTTP(w, r) }))
	// The untrusting client's refused handshakes are expected.
	env.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	env.srv.StartTLS()
	t.Cleanup(env.srv.Close)
	env.pool = x509.NewCertPool()
	env.pool.AddCert(env.srv.Certificate())
	env.e = env.server(nil)

	em := emulator.New(emulator.Options{})
	env.em = em
	emu := httptest.NewServer(em.Handler())
	t.Cleanup(emu.Close)
	env.emuURL = emu.URL
	require.NoError(t, em.CreateApp(emulator.App{AppID: "app-diag", ProjectID: "proj-diag", Region: "eu", KeyID: "key-diag", KeySecret: diagKeySecret, WebhookURL: "https://motion.example.com/notify"}))

	rec := do(env.e, http.MethodPost, "/api/whatsapp/accounts", mustJSON(t, map[string]any{
		"name": "Diag", "key": "diag", "publicUrl": env.srv.URL, "region": "eu",
		"baseUrl": emu.URL + "/eu", "authUrl": emu.URL + "/oauth2/token",
		"projectId": "proj-diag", "appId": "app-diag", "keyId": "key-diag", "keySecret": diagKeySecret,
		"webhookSecret": diagWebhookSecret, "phone": "+390212345678",
	}), map[string]string{"Authorization": "Bearer " + adminToken})
	acc := cfgDecode[api.AccountResponse](t, rec, http.StatusCreated)
	env.account = acc.ID
	// The app's webhook to the account, as POST …/sinch/setup makes it.
	_, err = em.CreateWebhook(emulator.Webhook{AppID: "app-diag", Target: activities.ReceiveURL(env.srv.URL, acc.ID),
		Secret: diagWebhookSecret, Triggers: sinch.ConnectorTriggers})
	require.NoError(t, err)
	return env
}

// server builds an API on the env's database; tweak adjusts its deps.
// The account's baseUrl and authUrl are the emulator's (loopback), so
// custom Sinch URLs are allowed.
func (env *diagEnv) server(tweak func(*api.Deps)) *echo.Echo {
	d := api.Deps{DB: env.db, Temporal: &fakeTemporal{}, Secrets: env.box, AdminToken: adminToken, TaskQueue: "q",
		PublicURL: env.srv.URL, Media: env.store, MediaSigner: env.signer, SinchAllowCustomURLs: true,
		Diagnostics: api.DiagnosticsDeps{TLSConfig: &tls.Config{RootCAs: env.pool, MinVersion: tls.VersionTLS12}, CheckTimeout: 5 * time.Second},
		SinchSide:   &activities.Activities{DB: env.db, Secrets: env.box, Tokens: sinch.NewTokenCache(nil, nil), AllowCustomURLs: true}}
	if tweak != nil {
		tweak(&d)
	}
	return api.New(d)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// diagnose runs the diagnostics on e (env.e when nil).
func (env *diagEnv) diagnose(e *echo.Echo) (api.AccountDiagnosticsResponse, map[string]api.DiagnosticCheck) {
	env.t.Helper()
	if e == nil {
		e = env.e
	}
	rec := do(e, http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d/diagnostics", env.account), "", map[string]string{"Authorization": "Bearer " + adminToken})
	res := cfgDecode[api.AccountDiagnosticsResponse](env.t, rec, http.StatusOK)
	byName := map[string]api.DiagnosticCheck{}
	for _, c := range res.Checks {
		byName[c.Name] = c
		if c.Status != api.CheckPass {
			assert.NotEmpty(env.t, c.Fix, "check %s (%s) has no fix: %s", c.Name, c.Status, c.Message)
		}
	}
	return res, byName
}

func (env *diagEnv) update(cols map[string]any) {
	env.t.Helper()
	require.NoError(env.t, env.db.Model(&models.Account{}).Where("id = ?", env.account).Updates(cols).Error)
}

func (env *diagEnv) patch(body map[string]any) {
	env.t.Helper()
	rec := do(env.e, http.MethodPatch, fmt.Sprintf("/api/whatsapp/accounts/%d", env.account), mustJSON(env.t, body), map[string]string{"Authorization": "Bearer " + adminToken})
	require.Equal(env.t, http.StatusOK, rec.Code, rec.Body.String())
}

// postCallback posts a CHANNEL_EVENT callback (it needs no workflow)
// signed with secret ("" sends it unsigned).
func (env *diagEnv) postCallback(secret, rating string) *httptest.ResponseRecorder {
	env.t.Helper()
	return env.postCallbackOf("app-diag", secret, rating)
}

// postCallbackOf is postCallback from the Sinch app appID.
func (env *diagEnv) postCallbackOf(appID, secret, rating string) *httptest.ResponseRecorder {
	env.t.Helper()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	body := []byte(mustJSON(env.t, map[string]any{
		"app_id": appID, "project_id": "proj-diag", "accepted_time": now, "event_time": now,
		"channel_event_notification": map[string]any{"channel_event": map[string]any{
			"channel": "WHATSAPP", "event_type": "WHATS_APP_QUALITY_RATING_CHANGED", "additional_data": map[string]any{"quality_rating": rating}}},
	}))
	req := httptest.NewRequest(http.MethodPost, fmt.Sprintf("/api/whatsapp/accounts/%d/notify", env.account), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		sinch.SetSignatureHeaders(req.Header, secret, body, fmt.Sprintf("nonce-%d", time.Now().UnixNano()), time.Now())
	}
	rec := httptest.NewRecorder()
	env.e.ServeHTTP(rec, req)
	return rec
}

// seedFailed stores a failed outbound message of class and code.
func (env *diagEnv) seedFailed(class models.ErrorClass, code, msg string, at time.Time) {
	env.t.Helper()
	var c models.Contact
	require.NoError(env.t, env.db.Where(models.Contact{AccountID: env.account, Channel: models.ChannelWhatsApp, Identity: "393330000009"}).FirstOrCreate(&c).Error)
	var in models.Interaction
	require.NoError(env.t, env.db.Where(models.Interaction{Key: "wf-diag#1"}).Attrs(models.Interaction{WorkflowID: "wf-diag", AccountID: env.account, ContactID: c.ID,
		Channel: models.ChannelWhatsApp, Status: models.InteractionQueued, OpenedAt: at}).FirstOrCreate(&in).Error)
	m := models.Message{AccountID: env.account, InteractionID: in.ID, ContactID: c.ID, Direction: models.DirectionOutbound, Kind: "text",
		Status: models.StatusFailed, ErrorClass: class, ReasonCode: code, ErrorMessage: msg, FailedAt: &at}
	require.NoError(env.t, env.db.Create(&m).Error)
}

func TestAccountDiagnostics(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			env := newDiagEnv(t, engine)
			t.Run("fresh account", func(t *testing.T) { testDiagFresh(t, env) })
			t.Run("all pass", func(t *testing.T) { testDiagAllPass(t, env) })
			t.Run("certificate", func(t *testing.T) { testDiagCertificate(t, env) })
			t.Run("probes", func(t *testing.T) { testDiagProbes(t, env) })
			t.Run("webhook", func(t *testing.T) { testDiagWebhook(t, env) })
			t.Run("credentials", func(t *testing.T) { testDiagCredentials(t, env) })
			t.Run("base url", func(t *testing.T) { testDiagBaseURL(t, env) })
			t.Run("account state", func(t *testing.T) { testDiagAccountState(t, env) })
			t.Run("disk", func(t *testing.T) { testDiagDisk(t, env) })
			t.Run("send failures", func(t *testing.T) { testDiagSendFailures(t, env) })
			t.Run("timeout", func(t *testing.T) { testDiagTimeout(t, env) })
			t.Run("sinch app", func(t *testing.T) { testDiagSinchApp(t, env) })
			t.Run("errors", func(t *testing.T) { testDiagErrors(t, env) })
		})
	}
}

// testDiagFresh: nothing was received yet, so the callback-based checks
// warn or skip; the rest pass.
func testDiagFresh(t *testing.T, env *diagEnv) {
	res, c := env.diagnose(nil)
	assert.Equal(t, env.account, res.AccountID)
	assert.WithinDuration(t, time.Now(), res.CheckedAt, time.Minute)
	assert.Len(t, res.Checks, 15)
	assert.Equal(t, api.CheckWarn, res.Status)
	assert.Equal(t, api.CheckWarn, c[api.CheckLastCallback].Status)
	assert.Contains(t, c[api.CheckLastCallback].Message, "no verified callback was ever received")
	assert.Contains(t, c[api.CheckLastCallback].Fix, activities.ReceiveURL(env.srv.URL, env.account))
	assert.Equal(t, api.CheckSkip, c[api.CheckProcessingMode].Status)
	assert.Equal(t, api.CheckSkip, c[api.CheckQualityRating].Status)
	for _, name := range []string{api.CheckPublicURLTLS, api.CheckReceiveURL, api.CheckWebhookSecret, api.CheckSignatureFailure,
		api.CheckCredentials, api.CheckBaseURLRegion, api.CheckDiskSpace, api.CheckMediaProxy, api.CheckSendFailures,
		api.CheckPolicyStreak, api.CheckAccountStatus, api.CheckSinchApp} {
		assert.Equal(t, api.CheckPass, c[name].Status, "%s: %s", name, c[name].Message)
	}
}

// testDiagSinchApp: the sinch_app check reads the app live, so a DISPATCH
// app or a webhook missing triggers fails before any callback; an API
// that cannot reach Sinch skips it.
func testDiagSinchApp(t *testing.T, env *diagEnv) {
	hooks, err := env.em.Webhooks("app-diag")
	require.NoError(t, err)
	var mine emulator.Webhook
	for _, h := range hooks {
		if h.Target == activities.ReceiveURL(env.srv.URL, env.account) {
			mine = h
		}
	}
	require.NotEmpty(t, mine.ID)
	_, err = env.em.UpdateWebhook(mine.ID, emulator.Webhook{Triggers: []string{sinch.WebhookTriggerMessageInbound}}, []string{"triggers"})
	require.NoError(t, err)
	require.NoError(t, env.em.SetProcessingMode("app-diag", sinch.ProcessingModeDispatch))
	t.Cleanup(func() {
		_, _ = env.em.UpdateWebhook(mine.ID, emulator.Webhook{Triggers: sinch.ConnectorTriggers}, []string{"triggers"})
		_ = env.em.SetProcessingMode("app-diag", sinch.ProcessingModeConversation)
	})
	_, c := env.diagnose(nil)
	ch := c[api.CheckSinchApp]
	assert.Equal(t, api.CheckFail, ch.Status, ch.Message)
	assert.Contains(t, ch.Message, "DISPATCH mode")
	assert.Contains(t, ch.Message, "lacks the triggers MESSAGE_DELIVERY")
	assert.Contains(t, ch.Fix, fmt.Sprintf("/api/whatsapp/accounts/%d/sinch/setup", env.account))
	assert.Contains(t, ch.Fix, "16 April 2025")

	_, c = env.diagnose(env.server(func(d *api.Deps) { d.SinchSide = nil }))
	assert.Equal(t, api.CheckSkip, c[api.CheckSinchApp].Status)
}

func testDiagAllPass(t *testing.T, env *diagEnv) {
	require.Equal(t, http.StatusOK, env.postCallback(diagWebhookSecret, "GREEN").Code)
	env.update(map[string]any{"last_processing_mode": "CONVERSATION"})
	res, c := env.diagnose(nil)
	for _, ch := range res.Checks {
		assert.Equal(t, api.CheckPass, ch.Status, "%s: %s (fix: %s)", ch.Name, ch.Message, ch.Fix)
	}
	assert.Equal(t, api.CheckPass, res.Status)
	assert.Contains(t, c[api.CheckPublicURLTLS].Message, "verified certificate chain for 127.0.0.1")
	assert.Contains(t, c[api.CheckReceiveURL].Message, "reaches this connector and account")
	assert.Contains(t, c[api.CheckCredentials].Message, "Sinch issued an OAuth2 token for key key-diag")
	assert.Contains(t, c[api.CheckQualityRating].Message, "GREEN")
	assert.Contains(t, c[api.CheckLastCallback].Message, "the last verified callback was received at")
}

// testDiagCertificate: a server certificate of an unknown CA fails; over
// http on loopback (dev) the check is skipped and the probes still run.
func testDiagCertificate(t *testing.T, env *diagEnv) {
	untrusting := env.server(func(d *api.Deps) {
		d.Diagnostics.TLSConfig = &tls.Config{RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS12}
	})
	res, c := env.diagnose(untrusting)
	assert.Equal(t, api.CheckFail, res.Status)
	assert.Equal(t, api.CheckFail, c[api.CheckPublicURLTLS].Status)
	assert.Contains(t, c[api.CheckPublicURLTLS].Message, "unknown authority")
	assert.Contains(t, c[api.CheckPublicURLTLS].Fix, "full chain")

	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { env.e.ServeHTTP(w, r) }))
	defer plain.Close()
	env.update(map[string]any{"public_url": plain.URL})
	defer env.update(map[string]any{"public_url": env.srv.URL})
	_, c = env.diagnose(nil)
	assert.Equal(t, api.CheckSkip, c[api.CheckPublicURLTLS].Status)
	assert.Contains(t, c[api.CheckPublicURLTLS].Message, "loopback host (dev)")
	assert.Equal(t, api.CheckPass, c[api.CheckReceiveURL].Status, c[api.CheckReceiveURL].Message)
	assert.Equal(t, api.CheckPass, c[api.CheckMediaProxy].Status, c[api.CheckMediaProxy].Message)
}

// testDiagProbes: the public URL leading to another deployment (another
// SECRET_KEY), or to something that is not the connector, fails both
// probes; and the probe route refuses requests without its token.
func testDiagProbes(t *testing.T, env *diagEnv) {
	other := api.New(api.Deps{DB: env.db, Temporal: &fakeTemporal{}, Secrets: env.box, AdminToken: adminToken,
		MediaSigner: media.NewSigner(bytes.Repeat([]byte{9}, 32))})
	otherSrv := httptest.NewTLSServer(other)
	defer otherSrv.Close()
	env.update(map[string]any{"public_url": otherSrv.URL})
	_, c := env.diagnose(nil)
	assert.Equal(t, api.CheckPass, c[api.CheckPublicURLTLS].Status, "httptest servers share one certificate")
	assert.Equal(t, api.CheckFail, c[api.CheckReceiveURL].Status)
	assert.Contains(t, c[api.CheckReceiveURL].Message, "cannot verify this connector's probe token")
	assert.Equal(t, api.CheckFail, c[api.CheckMediaProxy].Status)
	assert.Contains(t, c[api.CheckMediaProxy].Message, "refuses this connector's token")

	// A proxy answering 200 to everything is not the connector.
	yes := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"probe":"media"}`)) }))
	defer yes.Close()
	env.update(map[string]any{"public_url": yes.URL})
	_, c = env.diagnose(nil)
	assert.Equal(t, api.CheckFail, c[api.CheckReceiveURL].Status)
	assert.Equal(t, api.CheckFail, c[api.CheckMediaProxy].Status)
	assert.Contains(t, c[api.CheckMediaProxy].Message, "altered token")

	// A redirect is not followed (Sinch does not follow it either).
	redir := httptest.NewTLSServer(http.RedirectHandler(env.srv.URL+"/", http.StatusMovedPermanently))
	defer redir.Close()
	env.update(map[string]any{"public_url": redir.URL})
	_, c = env.diagnose(nil)
	assert.Equal(t, api.CheckFail, c[api.CheckReceiveURL].Status)
	assert.Contains(t, c[api.CheckReceiveURL].Message, "redirect")
	env.update(map[string]any{"public_url": env.srv.URL})

	path := fmt.Sprintf("/api/whatsapp/accounts/%d/notify", env.account)
	rec := do(env.e, http.MethodGet, path, "", nil)
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Equal(t, "probe_token_invalid", errorBody(t, rec).Code)
	media := env.signer.Mint(1, time.Now().Add(time.Minute)) // a media token is no probe token
	rec = do(env.e, http.MethodGet, path, "", map[string]string{api.ProbeHeader: media})
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
}

// testDiagWebhook: webhook secret, last callback and signature failures.
func testDiagWebhook(t *testing.T, env *diagEnv) {
	rec := env.postCallback("wrong-secret", "GREEN")
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	_, c := env.diagnose(nil)
	assert.Equal(t, api.CheckFail, c[api.CheckSignatureFailure].Status)
	assert.Contains(t, c[api.CheckSignatureFailure].Message, "signature_invalid")
	assert.Contains(t, c[api.CheckSignatureFailure].Message, "no callback was verified since")
	assert.Contains(t, c[api.CheckSignatureFailure].Fix, "webhook secret differs")

	require.Equal(t, http.StatusUnauthorized, env.postCallback("", "GREEN").Code)
	var h models.WebhookHealth
	require.NoError(t, env.db.Take(&h, "account_id = ?", env.account).Error)
	assert.Equal(t, int64(2), h.SignatureFailures)
	assert.Equal(t, "signature_missing", h.LastSignatureFailureCode)

	// A verified callback right after a failure is recorded at once; the
	// next ones within webhookHealthEvery (5s) are not written.
	require.Equal(t, http.StatusOK, env.postCallback(diagWebhookSecret, "GREEN").Code)
	require.NoError(t, env.db.Take(&h, "account_id = ?", env.account).Error)
	require.NotNil(t, h.LastCallbackAt)
	first := *h.LastCallbackAt
	time.Sleep(20 * time.Millisecond)
	require.Equal(t, http.StatusOK, env.postCallback(diagWebhookSecret, "GREEN").Code)
	require.NoError(t, env.db.Take(&h, "account_id = ?", env.account).Error)
	assert.True(t, first.Equal(*h.LastCallbackAt), "throttled: %s then %s", first, h.LastCallbackAt)
	_, c = env.diagnose(nil)
	assert.Equal(t, api.CheckWarn, c[api.CheckSignatureFailure].Status, c[api.CheckSignatureFailure].Message)
	assert.Contains(t, c[api.CheckSignatureFailure].Message, "callbacks were verified since")
	assert.Equal(t, api.CheckPass, c[api.CheckLastCallback].Status)

	old := time.Now().Add(-72 * time.Hour)
	require.NoError(t, env.db.Model(&models.WebhookHealth{}).Where("account_id = ?", env.account).
		Updates(map[string]any{"last_callback_at": old, "last_signature_failure_at": old.Add(-time.Hour)}).Error)
	_, c = env.diagnose(nil)
	assert.Equal(t, api.CheckWarn, c[api.CheckLastCallback].Status)
	assert.Contains(t, c[api.CheckLastCallback].Message, "more than DIAGNOSTICS_CALLBACK_MAX_AGE")
	assert.Equal(t, api.CheckPass, c[api.CheckSignatureFailure].Status)

	// Unsigned callbacks, the admin's explicit choice, fail the check.
	env.patch(map[string]any{"webhookSecret": "", "allowUnsignedWebhooks": true})
	_, c = env.diagnose(nil)
	assert.Equal(t, api.CheckFail, c[api.CheckWebhookSecret].Status)
	assert.Contains(t, c[api.CheckWebhookSecret].Message, "allowUnsignedWebhooks")
	assert.Contains(t, c[api.CheckWebhookSecret].Fix, "Webhooks")
	assert.Contains(t, c[api.CheckWebhookSecret].Fix, "generateWebhookSecret")
	env.update(map[string]any{"webhook_secret_enc": []byte("not a ciphertext")})
	_, c = env.diagnose(nil)
	assert.Equal(t, api.CheckFail, c[api.CheckWebhookSecret].Status)
	assert.Contains(t, c[api.CheckWebhookSecret].Message, "cannot be decrypted")
	env.patch(map[string]any{"webhookSecret": diagWebhookSecret, "allowUnsignedWebhooks": false})
	_, c = env.diagnose(nil)
	assert.Equal(t, api.CheckPass, c[api.CheckWebhookSecret].Status)
}

// testDiagCredentials: the emulator's OAuth2 refuses a wrong secret and
// the check shows Sinch's error.
func testDiagCredentials(t *testing.T, env *diagEnv) {
	env.patch(map[string]any{"keySecret": "ks-wrong"})
	_, c := env.diagnose(nil)
	assert.Equal(t, api.CheckFail, c[api.CheckCredentials].Status)
	assert.Contains(t, c[api.CheckCredentials].Message, "Sinch refused key key-diag")
	assert.Contains(t, c[api.CheckCredentials].Message, "401 UNAUTHENTICATED")
	assert.Contains(t, c[api.CheckCredentials].Message, "the key id or key secret is wrong")
	assert.Contains(t, c[api.CheckCredentials].Fix, "Access Keys")
	assert.NotContains(t, c[api.CheckCredentials].Message, "ks-wrong")

	env.patch(map[string]any{"keySecret": diagKeySecret})
	_, c = env.diagnose(nil)
	assert.Equal(t, api.CheckPass, c[api.CheckCredentials].Status, c[api.CheckCredentials].Message)

	// Nothing listens there: a network failure, not a refused key.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	env.update(map[string]any{"auth_url": "http://" + addr + "/oauth2/token"})
	_, c = env.diagnose(nil)
	assert.Equal(t, api.CheckFail, c[api.CheckCredentials].Status)
	assert.Contains(t, c[api.CheckCredentials].Message, "cannot get a token")
	env.update(map[string]any{"auth_url": env.emuURL + "/oauth2/token"})
}

func testDiagBaseURL(t *testing.T, env *diagEnv) {
	defer env.update(map[string]any{"base_url": env.emuURL + "/eu", "region": "eu"})
	for _, tc := range []struct {
		baseURL, region, want, msg string
	}{
		{"", "eu", api.CheckPass, "https://eu.conversation.api.sinch.com"},
		{"https://eu.conversation.api.sinch.com", "eu", api.CheckPass, "matches region eu"},
		{"https://us.conversation.api.sinch.com", "eu", api.CheckFail, "is the us Conversation API but the account's region is eu"},
		{"https://br.conversation.api.sinch.com", "br", api.CheckPass, "matches region br"},
		{env.emuURL + "/us", "eu", api.CheckFail, "emulator's us region"},
		{env.emuURL + "/eu", "eu", api.CheckPass, "loopback address (the Sinch emulator"},
		{"https://api.example.com", "eu", api.CheckWarn, "not a Sinch Conversation API host"},
	} {
		env.update(map[string]any{"base_url": tc.baseURL, "region": tc.region})
		_, c := env.diagnose(nil)
		got := c[api.CheckBaseURLRegion]
		assert.Equal(t, tc.want, got.Status, "%s: %s", tc.baseURL, got.Message)
		assert.Contains(t, got.Message, tc.msg)
	}
}

// testDiagAccountState: processing mode, quality rating, policy streak and
// status, all from the account row and its events.
func testDiagAccountState(t *testing.T, env *diagEnv) {
	defer env.update(map[string]any{"last_processing_mode": "CONVERSATION", "quality_rating": "GREEN",
		"policy_failure_streak": 0, "status": models.AccountActive, "status_reason": ""})

	env.update(map[string]any{"last_processing_mode": "DISPATCH"})
	_, c := env.diagnose(nil)
	assert.Equal(t, api.CheckWarn, c[api.CheckProcessingMode].Status)
	assert.Equal(t, api.WarningDispatchMode, c[api.CheckProcessingMode].Message)
	assert.Contains(t, c[api.CheckProcessingMode].Fix, "CONVERSATION")

	for rating, want := range map[string]string{"YELLOW": api.CheckWarn, "MEDIUM": api.CheckWarn, "RED": api.CheckFail,
		"LOW": api.CheckFail, "FLAGGED": api.CheckFail, "GREEN": api.CheckPass} {
		require.Equal(t, http.StatusOK, env.postCallback(diagWebhookSecret, rating).Code)
		_, c = env.diagnose(nil)
		assert.Equal(t, want, c[api.CheckQualityRating].Status, rating)
		assert.Contains(t, c[api.CheckQualityRating].Message, rating)
	}

	env.update(map[string]any{"policy_failure_streak": 2, "policy_failure_last_code": "OUTSIDE_ALLOWED_SENDING_WINDOW"})
	_, c = env.diagnose(nil)
	assert.Equal(t, api.CheckPass, c[api.CheckPolicyStreak].Status)
	env.update(map[string]any{"policy_failure_streak": 3})
	res, c := env.diagnose(nil)
	assert.Equal(t, api.CheckFail, res.Status)
	assert.Equal(t, api.CheckFail, c[api.CheckPolicyStreak].Status)
	assert.Contains(t, c[api.CheckPolicyStreak].Message, "account may be blocked by Meta")
	assert.Contains(t, c[api.CheckPolicyStreak].Message, "OUTSIDE_ALLOWED_SENDING_WINDOW")

	env.update(map[string]any{"status": models.AccountMigrated, "status_reason": "migrated to account 9 by migration 3"})
	_, c = env.diagnose(nil)
	assert.Equal(t, api.CheckWarn, c[api.CheckAccountStatus].Status)
	assert.Contains(t, c[api.CheckAccountStatus].Message, "migrated to account 9")
	held := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	for i := range 2 {
		require.NoError(t, env.db.Create(&models.AccountEvent{AccountID: env.account, Kind: activities.HeldMessageKind,
			Type: fmt.Sprintf("msg-%d", i), OccurredAt: held.Add(time.Duration(i) * time.Minute)}).Error)
	}
	_, c = env.diagnose(nil)
	assert.Contains(t, c[api.CheckAccountStatus].Message, "2 contact messages were held as MESSAGE_NOT_OPENED")
	assert.Contains(t, c[api.CheckAccountStatus].Message, held.Add(time.Minute).Format(time.RFC3339))
	env.update(map[string]any{"status": models.AccountActive, "status_reason": ""})
	_, c = env.diagnose(nil)
	assert.Equal(t, api.CheckWarn, c[api.CheckAccountStatus].Status, "held messages warn on an active account too")
	require.NoError(t, env.db.Where("account_id = ? AND kind = ?", env.account, activities.HeldMessageKind).Delete(&models.AccountEvent{}).Error)
	_, c = env.diagnose(nil)
	assert.Equal(t, api.CheckPass, c[api.CheckAccountStatus].Status)
}

func testDiagDisk(t *testing.T, env *diagEnv) {
	defer env.store.SetMinFree(1)
	free, _, err := env.store.Free()
	require.NoError(t, err)
	for _, tc := range []struct {
		min  uint64
		want string
		msg  string
	}{
		{0, api.CheckPass, "the guard is off"},
		{1, api.CheckPass, "free in MEDIA_DIR (MEDIA_MIN_FREE_BYTES is"},
		{free * 2 / 3, api.CheckWarn, "less than twice MEDIA_MIN_FREE_BYTES"},
		{free * 10, api.CheckFail, "below MEDIA_MIN_FREE_BYTES"},
	} {
		env.store.SetMinFree(tc.min)
		_, c := env.diagnose(nil)
		assert.Equal(t, tc.want, c[api.CheckDiskSpace].Status, c[api.CheckDiskSpace].Message)
		assert.Contains(t, c[api.CheckDiskSpace].Message, tc.msg)
	}
	noStore := env.server(func(d *api.Deps) { d.Media = nil })
	_, c := env.diagnose(noStore)
	assert.Equal(t, api.CheckSkip, c[api.CheckDiskSpace].Status)
}

func testDiagSendFailures(t *testing.T, env *diagEnv) {
	now := time.Now().UTC()
	env.seedFailed(models.ErrorClassPolicy, "OUTSIDE_ALLOWED_SENDING_WINDOW", "outside the 24 h window", now.Add(-3*time.Hour))
	env.seedFailed(models.ErrorClassPolicy, "OUTSIDE_ALLOWED_SENDING_WINDOW", "outside the 24 h window, latest", now.Add(-time.Hour))
	env.seedFailed(models.ErrorClassMedia, "MEDIA_TYPE_UNSUPPORTED", "GIF not supported", now.Add(-2*time.Hour))
	env.seedFailed(models.ErrorClassConfig, "CHANNEL_BAD_CONFIGURATION", "old", now.Add(-48*time.Hour))
	_, c := env.diagnose(nil)
	got := c[api.CheckSendFailures]
	assert.Equal(t, api.CheckWarn, got.Status, got.Message)
	assert.Contains(t, got.Message, "3 outbound messages failed in the last 24 h")
	assert.Contains(t, got.Message, "policy/OUTSIDE_ALLOWED_SENDING_WINDOW ×2")
	assert.Contains(t, got.Message, "outside the 24 h window, latest")
	assert.Contains(t, got.Message, "media/MEDIA_TYPE_UNSUPPORTED ×1")
	assert.NotContains(t, got.Message, "CHANNEL_BAD_CONFIGURATION", "older than the window")
	assert.Less(t, strings.Index(got.Message, "policy/"), strings.Index(got.Message, "media/"), "the largest group first")
	assert.Contains(t, got.Fix, "Sinch Analytics")

	env.seedFailed(models.ErrorClassConfig, "CHANNEL_BAD_CONFIGURATION", "bad channel", now.Add(-time.Minute))
	_, c = env.diagnose(nil)
	assert.Equal(t, api.CheckFail, c[api.CheckSendFailures].Status)
	assert.Contains(t, c[api.CheckSendFailures].Fix, "appId, projectId and region")

	require.NoError(t, env.db.Where("account_id = ?", env.account).Delete(&models.Message{}).Error)
	_, c = env.diagnose(nil)
	assert.Equal(t, api.CheckPass, c[api.CheckSendFailures].Status)
}

// testDiagTimeout: a public URL that accepts connections and never answers
// fails its checks with "timed out" within the limit; they run
// concurrently, so the whole run takes about one limit.
func testDiagTimeout(t *testing.T, env *diagEnv) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
		}
	}()
	env.update(map[string]any{"public_url": "https://" + l.Addr().String()})
	defer env.update(map[string]any{"public_url": env.srv.URL})
	const limit = 300 * time.Millisecond
	short := env.server(func(d *api.Deps) { d.Diagnostics.CheckTimeout = limit })
	start := time.Now()
	_, c := env.diagnose(short)
	took := time.Since(start)
	for _, name := range []string{api.CheckPublicURLTLS, api.CheckReceiveURL, api.CheckMediaProxy} {
		assert.Equal(t, api.CheckFail, c[name].Status, name)
		assert.Contains(t, c[name].Message, "timed out after 300ms", name)
		assert.Contains(t, c[name].Fix, "DIAGNOSTICS_CHECK_TIMEOUT", name)
	}
	assert.Less(t, took, 3*limit, "three checks of %s each ran concurrently", limit)
}

func testDiagErrors(t *testing.T, env *diagEnv) {
	rec := do(env.e, http.MethodGet, "/api/whatsapp/accounts/999999/diagnostics", "", map[string]string{"Authorization": "Bearer " + adminToken})
	assert.Equal(t, http.StatusNotFound, rec.Code)
	assert.Contains(t, errorBody(t, rec).Message, "999999")
	path := fmt.Sprintf("/api/whatsapp/accounts/%d/diagnostics", env.account)
	assert.Equal(t, http.StatusUnauthorized, do(env.e, http.MethodGet, path, "", nil).Code)
	assert.Equal(t, http.StatusForbidden, do(env.e, http.MethodGet, path, "", map[string]string{"Authorization": "Bearer agent-token-xyz"}).Code)
	assert.Equal(t, http.StatusBadRequest, do(env.e, http.MethodGet, "/api/whatsapp/accounts/x/diagnostics", "", map[string]string{"Authorization": "Bearer " + adminToken}).Code)
}
