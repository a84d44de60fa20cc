package emulator_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/sinch/emulator"
)

const (
	testProject = "proj-1"
	testSecret  = "webhook-secret"
	waitFor     = 3 * time.Second
	tick        = 5 * time.Millisecond
)

// hit is one callback the receiver got.
type hit struct {
	at     time.Time
	header http.Header
	body   []byte
	cb     *sinch.Callback
}

// receiver is a webhook that verifies every callback with the connector's
// verifier and decodes it with the connector's decoder.
type receiver struct {
	t      *testing.T
	secret string
	srv    *httptest.Server

	mu   sync.Mutex
	hits []hit
	// answer gives the status of the n-th request (from 1); nil is 200.
	answer func(n int) int
	// stall makes the n-th request wait that long before answering.
	stall func(n int) time.Duration
}

func newReceiver(t *testing.T, secret string) *receiver {
	rc := &receiver{t: t, secret: secret}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	assert.NoError(rc.t, err)
	if rc.secret != "" {
		assert.NoError(rc.t, sinch.VerifySignature(rc.secret, sinch.SignatureHeadersFrom(r.Header), body), "signature")
	} else {
		assert.Empty(rc.t, r.Header.Get(sinch.HeaderSignature), "unsigned webhook got a signature")
	}
	cb, err := sinch.DecodeCallback(body)
	assert.NoError(rc.t, err)
	rc.mu.Lock()
	rc.hits = append(rc.hits, hit{at: time.Now(), header: r.Header.Clone(), body: body, cb: cb})
	n, answer, stall := len(rc.hits), rc.answer, rc.stall
	rc.mu.Unlock()
	if stall != nil {
		select {
		case <-time.After(stall(n)):
		case <-r.Context().Done():
		}
	}
	code := http.StatusOK
	if answer != nil {
		code = answer(n)
	}
	w.WriteHeader(code)
}

func (rc *receiver) setAnswer(f func(n int) int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.answer = f
}

func (rc *receiver) snapshot() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.hits...)
}

// env is an emulator with one app whose webhook is a receiver.
type env struct {
	t     *testing.T
	emu   *emulator.Server
	url   string
	rcv   *receiver
	app   emulator.App
	token string
}

// fastOptions keep every delay in milliseconds.
func fastOptions() emulator.Options {
	return emulator.Options{
		RetrySchedule:   []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond},
		CallbackTimeout: 2 * time.Second,
		DeliveryDelays:  [3]time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 15 * time.Millisecond},
	}
}

func newEnv(t *testing.T, opts emulator.Options, mode string) *env {
	t.Helper()
	rcv := newReceiver(t, testSecret)
	emu := emulator.New(opts)
	base, err := emu.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, emu.Close()) })
	e := &env{t: t, emu: emu, url: base, rcv: rcv, app: emulator.App{
		AppID: "app-" + strings.ToLower(mode), ProjectID: testProject, Region: "eu", ProcessingMode: mode,
		WebhookURL: rcv.srv.URL + "/hook", WebhookSecret: testSecret, KeyID: "key-1", KeySecret: "key-secret",
	}}
	res, body := e.do(http.MethodPost, "/emulator/apps", e.app, nil)
	require.Equal(t, http.StatusCreated, res.StatusCode, string(body))
	e.token = e.fetchToken(e.app.KeyID, e.app.KeySecret)
	return e
}

// do sends a JSON request to the emulator and returns the response with its
// body read.
func (e *env) do(method, path string, body any, header http.Header) (*http.Response, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(e.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	if h := header.Get("Host"); h != "" {
		req.Host = h
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	return res, out
}

func (e *env) fetchToken(keyID, keySecret string) string {
	e.t.Helper()
	res, body := e.tokenRequest(keyID, keySecret, "client_credentials")
	require.Equal(e.t, http.StatusOK, res.StatusCode, string(body))
	var tr sinch.TokenResponse
	require.NoError(e.t, json.Unmarshal(body, &tr))
	return tr.AccessToken
}

func (e *env) tokenRequest(keyID, keySecret, grant string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+"/oauth2/token",
		strings.NewReader(url.Values{"grant_type": {grant}}.Encode()))
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if keyID != "" {
		req.SetBasicAuth(keyID, keySecret)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	return res, body
}

// sendAt posts a send request under a path prefix ("" or "/us") with the
// env's token.
func (e *env) sendAt(prefix string, req sinch.SendMessageRequest, header http.Header) (*http.Response, []byte) {
	e.t.Helper()
	if header == nil {
		header = http.Header{}
	}
	if header.Get("Authorization") == "" {
		header.Set("Authorization", "Bearer "+e.token)
	}
	return e.do(http.MethodPost, prefix+"/v1/projects/"+testProject+"/messages:send", req, header)
}

// send posts an accepted send and returns its message id.
func (e *env) send(req sinch.SendMessageRequest) string {
	e.t.Helper()
	res, body := e.sendAt("", req, nil)
	require.Equal(e.t, http.StatusOK, res.StatusCode, string(body))
	var sr sinch.SendMessageResponse
	require.NoError(e.t, json.Unmarshal(body, &sr))
	return sr.MessageID
}

func textTo(appID, to, text string) sinch.SendMessageRequest {
	return sinch.SendMessageRequest{
		AppID: appID,
		Recipient: sinch.Recipient{IdentifiedBy: &sinch.IdentifiedBy{
			ChannelIdentities: []sinch.ChannelIdentity{{Channel: "WHATSAPP", Identity: to}},
		}},
		Message: sinch.AppMessage{TextMessage: &sinch.TextMessage{Text: text}},
	}
}

func mediaTo(appID, to, mediaURL string) sinch.SendMessageRequest {
	req := textTo(appID, to, "")
	req.Message = sinch.AppMessage{MediaMessage: &sinch.MediaMessage{URL: mediaURL}}
	return req
}

// inbound makes a contact write and returns the inbound message id.
func (e *env) inbound(in emulator.Inbound) string {
	e.t.Helper()
	res, body := e.do(http.MethodPost, "/emulator/apps/"+e.app.AppID+"/inbound", in, nil)
	require.Equal(e.t, http.StatusAccepted, res.StatusCode, string(body))
	var out struct {
		MessageID string `json:"messageId"`
	}
	require.NoError(e.t, json.Unmarshal(body, &out))
	require.Len(e.t, out.MessageID, 26)
	return out.MessageID
}

// waitInbound waits for the MESSAGE_INBOUND callback of an inbound message.
func (e *env) waitInbound(id string) hit {
	e.t.Helper()
	var found hit
	require.Eventually(e.t, func() bool {
		for _, h := range e.rcv.snapshot() {
			if h.cb.Message != nil && h.cb.Message.ID == id {
				found = h
				return true
			}
		}
		return false
	}, waitFor, tick)
	return found
}

// reports returns the delivery reports received for a message, in order.
func (e *env) reports(messageID string) []hit {
	var out []hit
	for _, h := range e.rcv.snapshot() {
		if r := h.cb.MessageDeliveryReport; r != nil && r.MessageID == messageID {
			out = append(out, h)
		}
	}
	return out
}

// waitReports waits until a message has n delivery reports.
func (e *env) waitReports(messageID string, n int) []hit {
	e.t.Helper()
	require.Eventually(e.t, func() bool { return len(e.reports(messageID)) >= n }, waitFor, tick,
		"waiting for %d reports of %s", n, messageID)
	return e.reports(messageID)
}

func statuses(hits []hit) []string {
	var out []string
	for _, h := range hits {
		out = append(out, h.cb.MessageDeliveryReport.Status)
	}
	return out
}

// sinchError is Sinch's error body.
type sinchError struct {
	Error struct {
		Code    int               `json:"code"`
		Message string            `json:"message"`
		Status  string            `json:"status"`
		Details []json.RawMessage `json:"details"`
	} `json:"error"`
}

func requireSinchError(t *testing.T, body []byte, code int, status string) sinchError {
	t.Helper()
	var se sinchError
	require.NoError(t, json.Unmarshal(body, &se), string(body))
	assert.Equal(t, code, se.Error.Code)
	assert.Equal(t, status, se.Error.Status)
	assert.NotEmpty(t, se.Error.Message)
	assert.Contains(t, string(body), `"details":[]`)
	return se
}
