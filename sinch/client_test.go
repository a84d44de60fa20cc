package sinch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/internal/fixtures"
	"github.com/xcally-connector/connector/sinch"
)

const (
	testProjectID = "proj-1"
	testAppID     = "app-1"
	sendPath      = "/v1/projects/proj-1/messages:send"
	okSendBody    = `{"message_id":"01HZX","accepted_time":"2026-03-01T12:00:01.5Z"}`
)

// sendServer is a fake Conversation API: each send is recorded and answered
// by the next handler of replies (the last one repeats).
type sendServer struct {
	*httptest.Server
	mu      sync.Mutex
	bodies  [][]byte
	auths   []string
	replies []http.HandlerFunc
	sends   atomic.Int32
}

func newSendServer(t *testing.T, replies ...http.HandlerFunc) *sendServer {
	t.Helper()
	s := &sendServer{replies: replies}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.sends.Add(1))
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, body)
		s.auths = append(s.auths, r.Header.Get("Authorization"))
		s.mu.Unlock()
		if r.Method != http.MethodPost || r.URL.Path != sendPath || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusTeapot)
			return
		}
		if len(s.replies) == 0 {
			_, _ = w.Write([]byte(okSendBody))
			return
		}
		s.replies[min(n, len(s.replies))-1](w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// authHeaders returns the Authorization header of every send so far.
func (s *sendServer) authHeaders() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auths...)
}

func (s *sendServer) lastBody(t *testing.T) []byte {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	require.NotEmpty(t, s.bodies)
	return s.bodies[len(s.bodies)-1]
}

// reply answers with a status, headers (name, value pairs) and a body.
func reply(status int, body string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Add(headers[i], headers[i+1])
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

// testConfig points a client at the fakes.
func testConfig(auth *authServer, baseURL string) sinch.ClientConfig {
	return sinch.ClientConfig{
		BaseURL: baseURL, AuthURL: auth.tokenURL(),
		ProjectID: testProjectID, AppID: testAppID, KeyID: testKeyID, KeySecret: testKeySecret,
	}
}

// newTestClient builds a client on the fakes with a fixed clock.
func newTestClient(t *testing.T, auth *authServer, baseURL string) (*sinch.Client, *testClock) {
	t.Helper()
	clock := newTestClock()
	c, err := sinch.NewClient(testConfig(auth, baseURL), sinch.NewTokenCache(nil, clock.Now), nil)
	require.NoError(t, err)
	return c, clock
}

func whatsApp() sinch.Recipient { return sinch.IdentityRecipient("WHATSAPP", "46732001122") }

func TestClientSendText(t *testing.T) {
	auth := newAuthServer(t)
	srv := newSendServer(t)
	c, _ := newTestClient(t, auth, srv.URL+"/") // a trailing slash is tolerated

	resp, err := c.SendMessage(context.Background(), sinch.TextRequest(whatsApp(), "hello"))
	require.NoError(t, err)
	assert.Equal(t, "01HZX", resp.MessageID)
	assert.Equal(t, time.Date(2026, 3, 1, 12, 0, 1, 500_000_000, time.UTC), resp.AcceptedTime)
	assert.Equal(t, []string{"Bearer token-1"}, srv.authHeaders())
	assert.JSONEq(t, `{
		"app_id": "app-1",
		"recipient": {"identified_by": {"channel_identities": [{"channel": "WHATSAPP", "identity": "46732001122"}]}},
		"message": {"text_message": {"text": "hello"}}
	}`, string(srv.lastBody(t)))
}

func TestClientKeepsExplicitAppID(t *testing.T) {
	auth := newAuthServer(t)
	srv := newSendServer(t)
	c, _ := newTestClient(t, auth, srv.URL)
	req := sinch.TextRequest(whatsApp(), "hi")
	req.AppID = "other-app"
	_, err := c.SendMessage(context.Background(), req)
	require.NoError(t, err)
	assert.Contains(t, string(srv.lastBody(t)), `"app_id":"other-app"`)
}

func TestClientCachesToken(t *testing.T) {
	auth := newAuthServer(t)
	srv := newSendServer(t)
	c, _ := newTestClient(t, auth, srv.URL)
	for range 2 {
		_, err := c.SendMessage(context.Background(), sinch.TextRequest(whatsApp(), "hi"))
		require.NoError(t, err)
	}
	assert.EqualValues(t, 2, srv.sends.Load())
	assert.EqualValues(t, 1, auth.requests.Load())
}

func TestClientSharesTokenCache(t *testing.T) {
	auth := newAuthServer(t)
	srv := newSendServer(t)
	cache := sinch.NewTokenCache(nil, nil)
	for _, app := range []string{"app-a", "app-b"} {
		cfg := testConfig(auth, srv.URL)
		cfg.AppID = app
		c, err := sinch.NewClient(cfg, cache, nil)
		require.NoError(t, err)
		_, err = c.SendMessage(context.Background(), sinch.TextRequest(whatsApp(), "hi"))
		require.NoError(t, err)
	}
	assert.EqualValues(t, 1, auth.requests.Load(), "apps of one project key share a token")
}

const expiredChallenge = `Bearer error="invalid_token", error_description="The access token EXPIRED"`

// An "expired" 401 drops the token, fetches a new one and retries once.
func TestClientExpiredTokenRefreshedOnce(t *testing.T) {
	auth := newAuthServer(t)
	srv := newSendServer(t,
		reply(http.StatusUnauthorized, `{"error":{"code":401,"message":"token expired","status":"UNAUTHENTICATED"}}`,
			"WWW-Authenticate", expiredChallenge),
		reply(http.StatusOK, okSendBody))
	c, _ := newTestClient(t, auth, srv.URL)

	resp, err := c.SendMessage(context.Background(), sinch.TextRequest(whatsApp(), "hi"))
	require.NoError(t, err)
	assert.Equal(t, "01HZX", resp.MessageID)
	assert.Equal(t, []string{"Bearer token-1", "Bearer token-2"}, srv.authHeaders())
	assert.EqualValues(t, 2, auth.requests.Load())
}

func TestClientExpiredProblemBodyRefreshed(t *testing.T) {
	auth := newAuthServer(t)
	srv := newSendServer(t,
		reply(http.StatusUnauthorized, `{"type":"https://developers.sinch.com/docs/errors/access-token-expired","title":"Access token expired","status":401}`),
		reply(http.StatusOK, okSendBody))
	c, _ := newTestClient(t, auth, srv.URL)
	_, err := c.SendMessage(context.Background(), sinch.TextRequest(whatsApp(), "hi"))
	require.NoError(t, err)
	assert.EqualValues(t, 2, srv.sends.Load())
}

func TestClientUnauthorizedNotExpired(t *testing.T) {
	auth := newAuthServer(t)
	srv := newSendServer(t, reply(http.StatusUnauthorized,
		`{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`,
		"WWW-Authenticate", `Bearer error="invalid_token"`))
	c, _ := newTestClient(t, auth, srv.URL)

	_, err := c.SendMessage(context.Background(), sinch.TextRequest(whatsApp(), "hi"))
	apiErr, ok := sinch.AsAPIError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, http.StatusUnauthorized, apiErr.HTTPStatus)
	assert.Equal(t, sinch.ErrorClassPermanent, apiErr.Class)
	assert.EqualValues(t, 1, srv.sends.Load(), "no retry")
	assert.EqualValues(t, 1, auth.requests.Load())
}

func TestClientUnauthorizedAfterRefresh(t *testing.T) {
	auth := newAuthServer(t)
	srv := newSendServer(t, reply(http.StatusUnauthorized, "", "WWW-Authenticate", expiredChallenge))
	c, _ := newTestClient(t, auth, srv.URL)

	_, err := c.SendMessage(context.Background(), sinch.TextRequest(whatsApp(), "hi"))
	apiErr, ok := sinch.AsAPIError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, http.StatusUnauthorized, apiErr.HTTPStatus)
	assert.Equal(t, "UNAUTHENTICATED", apiErr.Status)
	assert.False(t, apiErr.Retryable())
	assert.EqualValues(t, 2, srv.sends.Load(), "exactly one retry")
	assert.EqualValues(t, 2, auth.requests.Load())
	assert.NotContains(t, err.Error(), "token-")
}

func TestClientTokenErrorReturned(t *testing.T) {
	auth := newAuthServer(t)
	auth.failWith(reply(http.StatusUnauthorized, ""))
	srv := newSendServer(t)
	c, _ := newTestClient(t, auth, srv.URL)

	_, err := c.SendMessage(context.Background(), sinch.TextRequest(whatsApp(), "hi"))
	apiErr, ok := sinch.AsAPIError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, sinch.OpToken, apiErr.Op)
	assert.Equal(t, sinch.ErrorClassPermanent, apiErr.Class)
	assert.EqualValues(t, 0, srv.sends.Load())
}

// TestClientErrorClasses checks the class, gRPC status and Retry-After of
// every HTTP status the client distinguishes, and that none is retried.
func TestClientErrorClasses(t *testing.T) {
	retryDate := newTestClock().Now().Add(90 * time.Second).Format(http.TimeFormat)
	for _, tc := range []struct {
		name       string
		reply      http.HandlerFunc
		status     int
		class      sinch.ErrorClass
		grpc       string
		retryAfter time.Duration
	}{
		{"400", reply(400, `{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}`), 400, sinch.ErrorClassPermanent, "INVALID_ARGUMENT", 0},
		{"401", reply(401, ``), 401, sinch.ErrorClassPermanent, "UNAUTHENTICATED", 0},
		{"403", reply(403, `{"error":{"code":403,"message":"no billing","status":"PERMISSION_DENIED"}}`), 403, sinch.ErrorClassPermanent, "PERMISSION_DENIED", 0},
		{"404", reply(404, `{"error":{"code":404,"message":"app not found","status":"NOT_FOUND"}}`), 404, sinch.ErrorClassPermanent, "NOT_FOUND", 0},
		{"409", reply(409, ``), 409, sinch.ErrorClassPermanent, "ABORTED", 0},
		{"413", reply(413, ``), 413, sinch.ErrorClassPermanent, "", 0},
		{"422", reply(422, ``), 422, sinch.ErrorClassPermanent, "", 0},
		{"429 seconds", reply(429, `{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}`, "Retry-After", "7"),
			429, sinch.ErrorClassRateLimited, "RESOURCE_EXHAUSTED", 7 * time.Second},
		{"429 date", reply(429, ``, "Retry-After", retryDate), 429, sinch.ErrorClassRateLimited, "RESOURCE_EXHAUSTED", 90 * time.Second},
		{"429 no header", reply(429, ``), 429, sinch.ErrorClassRateLimited, "RESOURCE_EXHAUSTED", 0},
		{"500", reply(500, `{"error":{"code":500,"message":"oops","status":"INTERNAL"}}`), 500, sinch.ErrorClassRetryable, "INTERNAL", 0},
		{"501", reply(501, ``), 501, sinch.ErrorClassRetryable, "UNIMPLEMENTED", 0},
		{"502", reply(502, `<html>bad gateway</html>`), 502, sinch.ErrorClassRetryable, "UNAVAILABLE", 0},
		{"503 retry-after", reply(503, ``, "Retry-After", "12"), 503, sinch.ErrorClassRetryable, "UNAVAILABLE", 12 * time.Second},
		{"504", reply(504, ``), 504, sinch.ErrorClassRetryable, "DEADLINE_EXCEEDED", 0},
		{"400 ignores retry-after", reply(400, ``, "Retry-After", "5"), 400, sinch.ErrorClassPermanent, "INVALID_ARGUMENT", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth := newAuthServer(t)
			srv := newSendServer(t, tc.reply)
			c, _ := newTestClient(t, auth, srv.URL)

			_, err := c.SendMessage(context.Background(), sinch.TextRequest(whatsApp(), "hi"))
			apiErr, ok := sinch.AsAPIError(err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, tc.status, apiErr.HTTPStatus)
			assert.Equal(t, tc.class, apiErr.Class)
			assert.Equal(t, tc.class != sinch.ErrorClassPermanent, apiErr.Retryable())
			assert.Equal(t, tc.grpc, apiErr.Status)
			assert.Equal(t, tc.retryAfter, apiErr.RetryAfter)
			assert.Equal(t, sinch.OpSend, apiErr.Op)
			assert.NotEmpty(t, apiErr.Message)
			assert.EqualValues(t, 1, srv.sends.Load(), "no retry inside the client")
		})
	}
}

func TestClientConnectionRefused(t *testing.T) {
	auth := newAuthServer(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	c, _ := newTestClient(t, auth, dead.URL)

	_, err := c.SendMessage(context.Background(), sinch.TextRequest(whatsApp(), "hi"))
	apiErr, ok := sinch.AsAPIError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, 0, apiErr.HTTPStatus)
	assert.Equal(t, sinch.ErrorClassRetryable, apiErr.Class)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
}

func TestClientAuthConnectionRefused(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	c, err := sinch.NewClient(sinch.ClientConfig{
		BaseURL: dead.URL, AuthURL: dead.URL + "/oauth2/token",
		ProjectID: testProjectID, AppID: testAppID, KeyID: testKeyID, KeySecret: testKeySecret,
	}, sinch.NewTokenCache(nil, nil), nil)
	require.NoError(t, err)
	_, err = c.SendMessage(context.Background(), sinch.TextRequest(whatsApp(), "hi"))
	apiErr, ok := sinch.AsAPIError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, sinch.OpToken, apiErr.Op)
	assert.True(t, apiErr.Retryable())
	assert.NotContains(t, err.Error(), testKeySecret)
}

// stall answers only when the test ends or the client gives up.
func stall(done <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}
}

func TestClientTimeout(t *testing.T) {
	done := make(chan struct{})
	auth := newAuthServer(t)
	srv := newSendServer(t, stall(done))
	t.Cleanup(func() { close(done) }) // runs before the server closes
	c, err := sinch.NewClient(testConfig(auth, srv.URL), sinch.NewTokenCache(nil, nil), &http.Client{Timeout: 100 * time.Millisecond})
	require.NoError(t, err)

	_, err = c.SendMessage(context.Background(), sinch.TextRequest(whatsApp(), "hi"))
	apiErr, ok := sinch.AsAPIError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, 0, apiErr.HTTPStatus)
	assert.Equal(t, sinch.ErrorClassRetryable, apiErr.Class)
	var netErr net.Error
	require.ErrorAs(t, err, &netErr)
	assert.True(t, netErr.Timeout())
}

// The caller's own deadline or cancellation comes back as ctx.Err(), not
// as a retryable network error.
func TestClientCallerContext(t *testing.T) {
	done := make(chan struct{})
	auth := newAuthServer(t)
	srv := newSendServer(t, stall(done))
	t.Cleanup(func() { close(done) })
	c, _ := newTestClient(t, auth, srv.URL)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.SendMessage(ctx, sinch.TextRequest(whatsApp(), "hi"))
	assert.Equal(t, context.DeadlineExceeded, err, "the ctx error as-is")

	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	_, err = c.SendMessage(canceled, sinch.TextRequest(whatsApp(), "hi"))
	assert.Equal(t, context.Canceled, err)
	_, isAPI := sinch.AsAPIError(err)
	assert.False(t, isAPI)
}

func TestClientUnreadableSuccess(t *testing.T) {
	auth := newAuthServer(t)
	srv := newSendServer(t, reply(http.StatusOK, `{"accepted_time":"2026-03-01T12:00:00Z"}`))
	c, _ := newTestClient(t, auth, srv.URL)
	_, err := c.SendMessage(context.Background(), sinch.TextRequest(whatsApp(), "hi"))
	apiErr, ok := sinch.AsAPIError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, http.StatusOK, apiErr.HTTPStatus)
	assert.Equal(t, sinch.ErrorClassPermanent, apiErr.Class, "accepted already: a retry would duplicate")
}

// TestClientValidation: requests Sinch would reject fail locally, before
// any token or send request.
func TestClientValidation(t *testing.T) {
	twoKinds := sinch.TextRequest(whatsApp(), "hi")
	twoKinds.Message.MediaMessage = &sinch.MediaMessage{URL: "https://example.com/a.png"}
	both := sinch.TextRequest(whatsApp(), "hi")
	both.Recipient.ContactID = "c-1"
	longMeta := sinch.TextRequest(whatsApp(), "hi")
	longMeta.MessageMetadata = strings.Repeat("m", 1025)
	longCorrelation := sinch.TextRequest(whatsApp(), "hi")
	longCorrelation.CorrelationID = strings.Repeat("c", 129)

	for _, tc := range []struct {
		name    string
		req     sinch.SendMessageRequest
		message string
	}{
		// é is two bytes: the limit counts characters, not bytes.
		{"text too long", sinch.TextRequest(whatsApp(), strings.Repeat("é", sinch.MaxTextLength+1)), "4097 characters, over the limit of 4096"},
		{"empty text", sinch.TextRequest(whatsApp(), ""), "text_message.text is empty"},
		{"no kind", sinch.SendMessageRequest{Recipient: whatsApp()}, "exactly one kind, has 0"},
		{"two kinds", twoKinds, "exactly one kind, has 2 (text_message, media_message)"},
		{"no recipient", sinch.TextRequest(sinch.Recipient{}, "hi"), "contact_id or identified_by"},
		{"both recipients", both, "both contact_id and identified_by"},
		{"empty identities", sinch.TextRequest(sinch.Recipient{IdentifiedBy: &sinch.IdentifiedBy{}}, "hi"), "no channel_identities"},
		{"empty identity", sinch.TextRequest(sinch.IdentityRecipient("WHATSAPP", ""), "hi"), "needs a channel and an identity"},
		{"media without url", sinch.MediaRequest(whatsApp(), "", "a.pdf"), "media_message.url is empty"},
		{"metadata too long", longMeta, "message_metadata is 1025 characters"},
		{"correlation id too long", longCorrelation, "correlation_id is 129 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth := newAuthServer(t)
			srv := newSendServer(t)
			c, _ := newTestClient(t, auth, srv.URL)

			_, err := c.SendMessage(context.Background(), tc.req)
			apiErr, ok := sinch.AsAPIError(err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, sinch.ErrorClassPermanent, apiErr.Class)
			assert.Equal(t, 0, apiErr.HTTPStatus)
			assert.Equal(t, "INVALID_ARGUMENT", apiErr.Status)
			assert.Contains(t, apiErr.Message, tc.message)
			assert.EqualValues(t, 0, srv.sends.Load(), "rejected without calling Sinch")
			assert.EqualValues(t, 0, auth.requests.Load(), "not even for a token")
		})
	}
}

func TestClientTextAtLimitSent(t *testing.T) {
	auth := newAuthServer(t)
	srv := newSendServer(t)
	c, _ := newTestClient(t, auth, srv.URL)
	_, err := c.SendMessage(context.Background(), sinch.TextRequest(whatsApp(), strings.Repeat("é", sinch.MaxTextLength)))
	require.NoError(t, err)
	assert.EqualValues(t, 1, srv.sends.Load())
}

// jsonPath walks decoded JSON along keys.
func jsonPath(t *testing.T, doc map[string]any, path ...string) any {
	t.Helper()
	var cur any = doc
	for _, key := range path {
		m, ok := cur.(map[string]any)
		require.True(t, ok, "%s: %v is not an object", strings.Join(path, "."), cur)
		cur = m[key]
	}
	return cur
}

// TestClientRequestMatchesFixtures compares the body the client puts on the
// wire with Sinch's own request fixtures, for the fields the connector sets.
func TestClientRequestMatchesFixtures(t *testing.T) {
	text := sinch.TextRequest(sinch.ContactRecipient("my contact ID"), "This is a text message.")
	media := sinch.MediaRequest(sinch.ContactRecipient("my contact ID"), "an url value", "filename override value")
	media.Message.MediaMessage.ThumbnailURL = "another url"

	for _, tc := range []struct {
		fixture string
		req     sinch.SendMessageRequest
		paths   [][]string
	}{
		{"messages/request/SendTextMessageRequestDto.json", text, [][]string{
			{"message", "text_message", "text"},
		}},
		{"messages/request/SendMediaMessageRequestDto.json", media, [][]string{
			{"message", "media_message", "url"},
			{"message", "media_message", "thumbnail_url"},
			{"message", "media_message", "filename_override"},
		}},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			var want map[string]any
			require.NoError(t, json.Unmarshal(fixtures.Read(t, tc.fixture), &want))

			auth := newAuthServer(t)
			srv := newSendServer(t)
			cfg := testConfig(auth, srv.URL)
			cfg.AppID = "my app ID" // filled in by the client
			c, err := sinch.NewClient(cfg, sinch.NewTokenCache(nil, nil), nil)
			require.NoError(t, err)
			req := tc.req
			req.MessageMetadata = "message metadata value"
			req.CorrelationID = "correlation ID value"
			_, err = c.SendMessage(context.Background(), req)
			require.NoError(t, err)

			var got map[string]any
			require.NoError(t, json.Unmarshal(srv.lastBody(t), &got))
			paths := append([][]string{
				{"app_id"}, {"recipient", "contact_id"}, {"message_metadata"}, {"correlation_id"},
			}, tc.paths...)
			for _, p := range paths {
				wantValue := jsonPath(t, want, p...)
				require.NotNil(t, wantValue, "fixture has %s", strings.Join(p, "."))
				assert.Equal(t, wantValue, jsonPath(t, got, p...), strings.Join(p, "."))
			}
		})
	}
}

func TestSendMessageResponseFixture(t *testing.T) {
	body := fixtures.Read(t, "messages/response/SendMessageResponseDto.json")
	want := sinch.SendMessageResponse{MessageID: "message id", AcceptedTime: time.Date(2024, 6, 18, 12, 34, 56, 0, time.UTC)}

	var decoded sinch.SendMessageResponse
	require.NoError(t, json.Unmarshal(body, &decoded))
	assert.Equal(t, want, decoded)

	auth := newAuthServer(t)
	srv := newSendServer(t, reply(http.StatusOK, string(body)))
	c, _ := newTestClient(t, auth, srv.URL)
	resp, err := c.SendMessage(context.Background(), sinch.TextRequest(whatsApp(), "hi"))
	require.NoError(t, err)
	assert.Equal(t, want, resp)
}

func TestRecipientHelpersJSON(t *testing.T) {
	b, err := json.Marshal(sinch.IdentityRecipient("WHATSAPP", "46732001122"))
	require.NoError(t, err)
	assert.JSONEq(t, `{"identified_by":{"channel_identities":[{"channel":"WHATSAPP","identity":"46732001122"}]}}`, string(b))
	b, err = json.Marshal(sinch.ContactRecipient("c-1"))
	require.NoError(t, err)
	assert.JSONEq(t, `{"contact_id":"c-1"}`, string(b))
	b, err = json.Marshal(sinch.MediaRequest(sinch.ContactRecipient("c-1"), "https://x/y.pdf", "").Message)
	require.NoError(t, err)
	assert.JSONEq(t, `{"media_message":{"url":"https://x/y.pdf"}}`, string(b))
}

// recordingTransport answers every request locally and records its URL, so
// the real region hosts are never contacted.
type recordingTransport struct {
	mu   sync.Mutex
	urls []string
}

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	rt.urls = append(rt.urls, r.URL.String())
	rt.mu.Unlock()
	body := okSendBody
	if strings.HasSuffix(r.URL.Path, "/oauth2/token") {
		body = `{"access_token":"t","expires_in":3600}`
	}
	return &http.Response{
		StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader([]byte(body))), Request: r,
	}, nil
}

func TestClientBaseURL(t *testing.T) {
	for _, tc := range []struct{ region, baseURL, want string }{
		{"eu", "", "https://eu.conversation.api.sinch.com/v1/projects/proj-1/messages:send"},
		{"us", "", "https://us.conversation.api.sinch.com/v1/projects/proj-1/messages:send"},
		{"br", "", "https://br.conversation.api.sinch.com/v1/projects/proj-1/messages:send"},
		{"eu", "http://emulator:8089/", "http://emulator:8089/v1/projects/proj-1/messages:send"},
		{"", "http://emulator:8089", "http://emulator:8089/v1/projects/proj-1/messages:send"},
	} {
		t.Run(tc.region+" "+tc.baseURL, func(t *testing.T) {
			rt := &recordingTransport{}
			hc := &http.Client{Transport: rt}
			c, err := sinch.NewClient(sinch.ClientConfig{
				Region: tc.region, BaseURL: tc.baseURL,
				ProjectID: testProjectID, AppID: testAppID, KeyID: testKeyID, KeySecret: testKeySecret,
			}, sinch.NewTokenCache(hc, nil), hc)
			require.NoError(t, err)
			_, err = c.SendMessage(context.Background(), sinch.TextRequest(whatsApp(), "hi"))
			require.NoError(t, err)
			assert.Equal(t, []string{sinch.DefaultAuthURL, tc.want}, rt.urls)
		})
	}
}

func TestNewClientValidation(t *testing.T) {
	good := sinch.ClientConfig{Region: "eu", ProjectID: "p", AppID: "a", KeyID: "k", KeySecret: testKeySecret}
	cache := sinch.NewTokenCache(nil, nil)
	_, err := sinch.NewClient(good, cache, nil)
	require.NoError(t, err)

	for _, tc := range []struct {
		name   string
		mutate func(*sinch.ClientConfig)
		want   string
	}{
		{"no region or base URL", func(c *sinch.ClientConfig) { c.Region = "" }, "region"},
		{"unknown region", func(c *sinch.ClientConfig) { c.Region = "ap" }, "unknown region"},
		{"relative base URL", func(c *sinch.ClientConfig) { c.BaseURL = "emulator:8089" }, "base URL"},
		{"bad auth URL", func(c *sinch.ClientConfig) { c.AuthURL = "/oauth2/token" }, "auth URL"},
		{"missing ids", func(c *sinch.ClientConfig) { c.ProjectID, c.AppID = "", " " }, "missing project id, app id"},
		{"missing key", func(c *sinch.ClientConfig) { c.KeyID, c.KeySecret = "", "" }, "missing key id, key secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.mutate(&cfg)
			_, err := sinch.NewClient(cfg, cache, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), testKeySecret)
		})
	}
	_, err = sinch.NewClient(good, nil, nil)
	assert.ErrorContains(t, err, "TokenCache")
}
