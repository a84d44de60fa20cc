package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/internal/fixtures"
	"github.com/xcally-connector/connector/internal/secretbox"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/workflows"
)

// recordingTemporal records the signals the webhook sends.
type recordingTemporal struct {
	client.Client
	mu      sync.Mutex
	started []signal // SignalWithStartWorkflow
	signals []signal // SignalWorkflow
	fail    error
	missing bool // SignalWorkflow answers NotFound
}

type signal struct {
	workflowID string
	name       string
	arg        any
	input      any
}

func (r *recordingTemporal) SignalWithStartWorkflow(_ context.Context, id, name string, arg any, opts client.StartWorkflowOptions, _ any, args ...any) (client.WorkflowRun, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return nil, r.fail
	}
	if opts.ID != id {
		return nil, fmt.Errorf("start options id %q differs from %q", opts.ID, id)
	}
	r.started = append(r.started, signal{workflowID: id, name: name, arg: arg, input: args[0]})
	return nil, nil
}

func (r *recordingTemporal) SignalWorkflow(_ context.Context, id, _ string, name string, arg any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	if r.missing {
		return serviceerror.NewNotFound("workflow not found")
	}
	r.signals = append(r.signals, signal{workflowID: id, name: name, arg: arg})
	return nil
}

type webhookEnv struct {
	e    *echo.Echo
	db   *gorm.DB
	tc   *recordingTemporal
	acc  models.Account
	box  *secretbox.Box
	sign bool
}

// fixtureSecret is the webhook secret of the test accounts (at least 16
// characters, as the API requires).
const fixtureSecret = "whsec-fixture-0123456789"

func newWebhookEnv(t *testing.T, engine models.Engine, appID, secret string) *webhookEnv {
	t.Helper()
	db := testdb.Open(t, engine)
	box, err := secretbox.New(bytes.Repeat([]byte{7}, 32))
	require.NoError(t, err)
	acc := models.Account{Name: "Acme", Key: "acme-" + appID[:3], PublicURL: "https://motion.example.com", Type: models.AccountTypeSinchV2,
		Region: models.RegionEU, ProjectID: "p", AppID: appID, KeyID: "k", Phone: "+390212345678", Channels: "WHATSAPP,INSTAGRAM"}
	require.NoError(t, db.Create(&acc).Error)
	if secret != "" {
		acc.WebhookSecretEnc, err = box.Seal(secret, secretbox.AccountAAD(acc.ID, "webhook_secret"))
		require.NoError(t, err)
		require.NoError(t, db.Save(&acc).Error)
	}
	tc := &recordingTemporal{}
	e := api.New(api.Deps{DB: db, Temporal: tc, Secrets: box, AdminToken: adminToken, TaskQueue: "q", BodyLimit: 1 << 20,
		Conversations: workflows.ConversationSettings{InactivityTimeout: time.Hour, RoutingRecheck: time.Second}})
	return &webhookEnv{e: e, db: db, tc: tc, acc: acc, box: box, sign: secret != ""}
}

func (w *webhookEnv) post(t *testing.T, body []byte, nonce string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, fmt.Sprintf("/api/whatsapp/accounts/%d/notify", w.acc.ID), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if w.sign {
		sinch.SetSignatureHeaders(req.Header, fixtureSecret, body, nonce, time.Now())
	}
	rec := httptest.NewRecorder()
	w.e.ServeHTTP(rec, req)
	return rec
}

// TestEveryFixtureIsAnswered posts every Sinch callback fixture, signed, and
// checks what the connector did with it.
func TestEveryFixtureIsAnswered(t *testing.T) {
	dir := fixtures.Dir(t)
	want := map[string]struct{ status, trigger string }{
		"MessageInboundEventDto.json":                           {"ignored", "MESSAGE_INBOUND"}, // MESSENGER is not served
		"MessageDeliveryReceiptEventDto.json":                   {"accepted", "MESSAGE_DELIVERY"},
		"EventDeliveryReceiptEventDto.json":                     {"ignored", "EVENT_DELIVERY"},
		"InboundContactEventDto.json":                           {"accepted", "EVENT_INBOUND"},
		"InboundContactMessageEventDto.json":                    {"accepted", "EVENT_INBOUND"},
		"ChannelEventDto.json":                                  {"accepted", "CHANNEL_EVENT"},
		"CapabilityEventDto.json":                               {"accepted", "CAPABILITY"},
		"OptInEventDto.json":                                    {"accepted", "OPT_IN"},
		"OptOutEventDto.json":                                   {"accepted", "OPT_OUT"},
		"UnsupportedCallbackEventDto.json":                      {"accepted", "UNSUPPORTED"},
		"ContactIdentitiesDuplicationEventDto.json":             {"accepted", "CONTACT_IDENTITIES_DUPLICATION"},
		"ContactCreateEventDto.json":                            {"accepted", "CONTACT_CREATE"},
		"ContactDeleteEventDto.json":                            {"ignored", "CONTACT_DELETE"},
		"ContactMergeEventDto.json":                             {"ignored", "CONTACT_MERGE"},
		"ContactUpdateEventDto.json":                            {"accepted", "CONTACT_UPDATE"},
		"ConversationStartEventDto.json":                        {"ignored", "CONVERSATION_START"},
		"ConversationStopEventDto.json":                         {"ignored", "CONVERSATION_STOP"},
		"ConversationDeleteEventDto.json":                       {"ignored", "CONVERSATION_DELETE"},
		"MessageSubmitEventDto.json":                            {"ignored", "MESSAGE_SUBMIT"},
		"SmartConversationsEventDto.json":                       {"ignored", "SMART_CONVERSATIONS"},
		"MessageInboundSmartConversationRedactionEventDto.json": {"ignored", "MESSAGE_INBOUND_SMART_CONVERSATION_REDACTION"},
		"RecordNotificationEventDto.json":                       {"ignored", "RECORD_NOTIFICATION"},
	}
	w := newWebhookEnv(t, models.SQLite, "app id value", fixtureSecret)
	// The contact the CONTACT_* fixtures name, as an earlier message stored it.
	require.NoError(t, w.db.Create(&models.Contact{AccountID: w.acc.ID, Channel: "MESSENGER", Identity: "33987654321", SinchContactID: "my created contact ID"}).Error)
	n := 0
	require.NoError(t, filepath.WalkDir(filepath.Join(dir, "sinchevents"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		exp, ok := want[d.Name()]
		require.True(t, ok, "no expectation for fixture %s", d.Name())
		body := fixtures.Read(t, filepath.Join("sinchevents", filepath.Base(filepath.Dir(p)), d.Name()))
		rec := w.post(t, body, "nonce-"+d.Name())
		require.Equal(t, http.StatusOK, rec.Code, "%s: %s", d.Name(), rec.Body.String())
		var resp api.WebhookResponse
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
		assert.Equal(t, exp.status, resp.Status, d.Name())
		assert.Equal(t, exp.trigger, resp.Trigger, d.Name())
		return nil
	}))
	assert.Equal(t, len(want), n)

	// Delivery report: to the recipient's conversation; events likewise.
	require.Len(t, w.tc.signals, 3)
	assert.Equal(t, workflows.ConversationWorkflowID(w.acc.ID, "MESSENGER", "an identity"), w.tc.signals[0].workflowID)
	var kinds []string
	for _, s := range w.tc.signals {
		kinds = append(kinds, s.name)
	}
	assert.ElementsMatch(t, []string{workflows.DeliverySignalName, workflows.EventSignalName, workflows.EventSignalName}, kinds)
	for _, s := range w.tc.signals {
		if d, ok := s.arg.(workflows.DeliverySignal); ok {
			assert.Equal(t, "message id", d.MessageID)
			assert.Equal(t, "DELIVERED", d.Status)
			assert.Equal(t, "RECIPIENT_NOT_OPTED_IN", d.ReasonCode)
		}
	}
	assert.Empty(t, w.tc.started, "no conversation for a channel the account does not serve")

	// Account-level notifications are stored; the quality rating is kept.
	var evs []models.AccountEvent
	require.NoError(t, w.db.Order("id").Find(&evs).Error)
	require.Len(t, evs, 6)
	var acc models.Account
	require.NoError(t, w.db.First(&acc, w.acc.ID).Error)
	assert.Equal(t, "quality rating value", acc.QualityRating)
	assert.Equal(t, models.ProcessingDispatch, acc.LastProcessingMode, "DISPATCH seen on the callbacks is recorded")
	var c models.Contact
	require.NoError(t, w.db.Where("sinch_contact_id = ?", "my created contact ID").First(&c).Error)
	assert.Equal(t, "created from Java SDK", c.DisplayName, "CONTACT_CREATE/UPDATE keep the display name")
}

func waText(id, identity, mode string) []byte {
	contactID, convID := "01HCONT", "01HCONV"
	if mode == "DISPATCH" {
		contactID, convID = "", ""
	}
	return []byte(fmt.Sprintf(`{"app_id":"01HAPP","project_id":"p","accepted_time":"2026-11-21T09:00:01.123456789Z","event_time":"2026-11-21T09:00:00Z",
"message":{"id":%q,"direction":"TO_APP","contact_message":{"text_message":{"text":"Hi, I need help"},"reply_to":{"message_id":"01HPREV"}},
"channel_identity":{"channel":"WHATSAPP","identity":%q,"app_id":""},"conversation_id":%q,"contact_id":%q,"metadata":"",
"accept_time":"2026-11-21T09:00:01.1Z","sender_id":"390212345678","processing_mode":%q,"injected":false}}`, id, identity, convID, contactID, mode))
}

func TestInboundMessageStartsTheConversation(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			w := newWebhookEnv(t, engine, "01HAPP", fixtureSecret)
			rec := w.post(t, waText("01HMSG", "393331234567", "DISPATCH"), "n1")
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			require.Len(t, w.tc.started, 1)
			s := w.tc.started[0]
			assert.Equal(t, fmt.Sprintf("conversation/%d/WHATSAPP/393331234567", w.acc.ID), s.workflowID)
			assert.Equal(t, workflows.InboundSignalName, s.name)
			sig := s.arg.(workflows.InboundSignal)
			assert.Equal(t, "01HMSG", sig.MessageID)
			assert.Equal(t, "text", sig.Kind)
			assert.Equal(t, "Hi, I need help", sig.Text)
			assert.Equal(t, "01HPREV", sig.ReplyTo)
			assert.Equal(t, "DISPATCH", sig.ProcessingMode)
			assert.Empty(t, sig.SinchContactID, "DISPATCH mode: no contact_id, keyed by identity")
			assert.Equal(t, time.Date(2026, 11, 21, 9, 0, 1, 100000000, time.UTC), sig.AcceptTime.UTC())
			assert.JSONEq(t, `{"text_message":{"text":"Hi, I need help"},"reply_to":{"message_id":"01HPREV"}}`, sig.Payload)
			in := s.input.(workflows.ConversationInput)
			assert.Equal(t, w.acc.ID, in.AccountID)
			assert.Equal(t, time.Hour, in.InactivityTimeout)

			var acc models.Account
			require.NoError(t, w.db.First(&acc, w.acc.ID).Error)
			assert.Equal(t, models.ProcessingDispatch, acc.LastProcessingMode, "the account warns about DISPATCH mode")
		})
	}
}

// TestInboundIntoAnOpenInteractionIsStoredFirst: with an open interaction,
// the webhook stores the message there before it signals, and the signal
// says so; engine down, the message stays stored, the answer is 503, and
// Sinch's retry signals again without storing twice.
func TestInboundIntoAnOpenInteractionIsStoredFirst(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			w := newWebhookEnv(t, engine, "01HAPP", fixtureSecret)
			contact := models.Contact{AccountID: w.acc.ID, Channel: models.ChannelWhatsApp, Identity: "393331234567", Mobile: "+393331234567"}
			require.NoError(t, w.db.Create(&contact).Error)
			wfID := fmt.Sprintf("conversation/%d/WHATSAPP/393331234567", w.acc.ID)
			inter := models.Interaction{Key: wfID + "#first", WorkflowID: wfID, AccountID: w.acc.ID, ContactID: contact.ID,
				Channel: models.ChannelWhatsApp, Status: models.InteractionQueued, OpenedAt: time.Now().UTC()}
			require.NoError(t, w.db.Create(&inter).Error)

			w.tc.fail = serviceerror.NewUnavailable("connection refused")
			body := waText("01HMSG", "393331234567", "CONVERSATION")
			rec := w.post(t, body, "n1")
			require.Equal(t, http.StatusServiceUnavailable, rec.Code)
			assert.Equal(t, "engine_unavailable", errorBody(t, rec).Code)
			var rows []models.Message
			require.NoError(t, w.db.Where("provider_message_id = ?", "01HMSG").Find(&rows).Error)
			require.Len(t, rows, 1, "stored before the engine was asked")
			assert.Equal(t, inter.ID, rows[0].InteractionID)
			assert.Equal(t, "Hi, I need help", rows[0].Text)

			w.tc.fail = nil
			rec = w.post(t, body, "n1")
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			require.Len(t, w.tc.started, 1)
			sig := w.tc.started[0].arg.(workflows.InboundSignal)
			assert.Equal(t, inter.ID, sig.StoredIn, "the workflow only takes note")
			assert.Equal(t, "01HMSG", sig.MessageID)
			var n int64
			require.NoError(t, w.db.Model(&models.Message{}).Where("provider_message_id = ?", "01HMSG").Count(&n).Error)
			assert.EqualValues(t, 1, n, "the retry stores nothing twice")

			// No open interaction: the workflow stores it.
			require.NoError(t, w.db.Model(&inter).Update("status", models.InteractionClosed).Error)
			rec = w.post(t, waText("01HMSG2", "393331234567", "CONVERSATION"), "n2")
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			require.Len(t, w.tc.started, 2)
			assert.Zero(t, w.tc.started[1].arg.(workflows.InboundSignal).StoredIn)
			require.NoError(t, w.db.Model(&models.Message{}).Where("provider_message_id = ?", "01HMSG2").Count(&n).Error)
			assert.Zero(t, n)
		})
	}
}

func TestWebhookRejections(t *testing.T) {
	w := newWebhookEnv(t, models.SQLite, "01HAPP", fixtureSecret)
	body := waText("01HMSG", "393331234567", "CONVERSATION")
	post := func(mutate func(r *http.Request)) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, fmt.Sprintf("/api/whatsapp/accounts/%d/notify", w.acc.ID), bytes.NewReader(body))
		sinch.SetSignatureHeaders(req.Header, fixtureSecret, body, "n-"+fmt.Sprint(time.Now().UnixNano()), time.Now())
		mutate(req)
		rec := httptest.NewRecorder()
		w.e.ServeHTTP(rec, req)
		return rec
	}
	code := func(rec *httptest.ResponseRecorder) string { return errorBody(t, rec).Code }

	rec := post(func(r *http.Request) { r.Header.Del(sinch.HeaderSignature) })
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Equal(t, "signature_missing", code(rec))

	rec = post(func(r *http.Request) { r.Header.Set(sinch.HeaderNonce, "other") })
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Equal(t, "signature_invalid", code(rec))

	rec = post(func(r *http.Request) {
		sinch.SetSignatureHeaders(r.Header, fixtureSecret, body, "n-old", time.Now().Add(-49*time.Hour))
	})
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Equal(t, "timestamp_out_of_window", code(rec))

	rec = post(func(r *http.Request) {
		sinch.SetSignatureHeaders(r.Header, fixtureSecret, body, "n-future", time.Now().Add(10*time.Minute))
	})
	assert.Equal(t, http.StatusUnauthorized, rec.Code, "too far in the future")

	rec = post(func(r *http.Request) {
		sinch.SetSignatureHeaders(r.Header, fixtureSecret, body, "n-47h", time.Now().Add(-47*time.Hour))
	})
	assert.Equal(t, http.StatusOK, rec.Code, "a 47 h old retry is inside the default window: %s", rec.Body.String())

	rec = post(func(r *http.Request) { r.URL.Path = "/api/whatsapp/accounts/424242/notify" })
	assert.Equal(t, http.StatusNotFound, rec.Code)
	assert.Equal(t, "account_not_found", code(rec))

	rec = post(func(r *http.Request) { r.URL.Path = "/api/whatsapp/accounts/abc/notify" })
	assert.Equal(t, http.StatusBadRequest, rec.Code)

	assert.Empty(t, w.tc.started[1:], "only the valid 47 h delivery reached Temporal")
	var n int64
	require.NoError(t, w.db.Model(&models.WebhookNonce{}).Count(&n).Error)
	assert.EqualValues(t, 1, n, "only accepted callbacks consume a nonce")

	// Malformed JSON, correctly signed.
	bad := []byte(`{"app_id": "01HAPP", "message": `)
	rec = w.post(t, bad, "n-bad")
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, "malformed_callback", errorBody(t, rec).Code)

	// Over 1 MiB.
	big := []byte(`{"pad":"` + strings.Repeat("x", 1<<20) + `"}`)
	rec = w.post(t, big, "n-big")
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)

	// Another app's callback, correctly signed: the webhook points at the
	// wrong account, or the callback is forged. Refused for good (Sinch
	// does not retry a 4xx) and its nonce not kept.
	other := bytes.Replace(body, []byte(`"app_id":"01HAPP"`), []byte(`"app_id":"01HOTHER"`), 1)
	rec = w.post(t, other, "n-other")
	assert.Equal(t, http.StatusForbidden, rec.Code)
	assert.Equal(t, "app_id_mismatch", errorBody(t, rec).Code)
	assert.Contains(t, errorBody(t, rec).Message, `"01HOTHER"`)
	require.NoError(t, w.db.Model(&models.WebhookNonce{}).Count(&n).Error)
	assert.EqualValues(t, 1, n, "the refused callback's nonce is released")
	assert.Len(t, w.tc.started, 1, "nothing reached Temporal")
}

func TestEngineDownAnswers503AndKeepsTheNonce(t *testing.T) {
	w := newWebhookEnv(t, models.SQLite, "01HAPP", fixtureSecret)
	w.tc.fail = serviceerror.NewUnavailable("connection refused")
	body := waText("01HMSG", "393331234567", "CONVERSATION")
	rec := w.post(t, body, "n-retry")
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, "engine_unavailable", errorBody(t, rec).Code)

	w.tc.fail = nil
	rec = w.post(t, body, "n-retry")
	assert.Equal(t, http.StatusOK, rec.Code, "Sinch's retry with the same nonce is accepted: %s", rec.Body.String())
	rec = w.post(t, body, "n-retry")
	assert.Equal(t, http.StatusUnauthorized, rec.Code, "but a third use is a replay")
	assert.Equal(t, "nonce_replayed", errorBody(t, rec).Code)
	assert.Len(t, w.tc.started, 1)
}

// TestAccountWithoutSecretAcceptsUnsignedCallbacks: an account without a
// webhook secret takes unsigned callbacks only with allowUnsignedWebhooks.
func TestAccountWithoutSecretAcceptsUnsignedCallbacks(t *testing.T) {
	w := newWebhookEnv(t, models.SQLite, "01HAPP", "")
	require.NoError(t, w.db.Model(&w.acc).Update("allow_unsigned_webhooks", true).Error)
	rec := w.post(t, waText("01HMSG", "393331234567", "CONVERSATION"), "")
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Len(t, w.tc.started, 1)

	require.NoError(t, w.db.Model(&w.acc).Update("allow_unsigned_webhooks", false).Error)
	rec = w.post(t, waText("01HMSG2", "393331234567", "CONVERSATION"), "")
	assert.Equal(t, http.StatusUnauthorized, rec.Code, rec.Body.String())
	assert.Equal(t, "webhook_secret_missing", errorBody(t, rec).Code)
	assert.Len(t, w.tc.started, 1, "refused without the explicit choice")
}

func TestEventForUnknownConversationIsIgnored(t *testing.T) {
	w := newWebhookEnv(t, models.SQLite, "app id value", fixtureSecret)
	w.tc.missing = true
	rec := w.post(t, fixtures.Read(t, "sinchevents/inbound/InboundContactEventDto.json"), "n-ev")
	require.Equal(t, http.StatusOK, rec.Code)
	var resp api.WebhookResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
	assert.Equal(t, "ignored", resp.Status)
	assert.Contains(t, resp.Reason, "no running conversation")
}
