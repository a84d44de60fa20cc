package sinch_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/internal/fixtures"
	"github.com/xcally-connector/connector/sinch"
)

const listPath = "/v1/projects/proj-1/messages"

// listRequest is what the fake listing endpoint received.
type listRequest struct {
	method, path string
	query        url.Values
	header       http.Header
	bodyLen      int
}

// listServer is a fake listing endpoint: the n-th request (from 1) is
// answered by answer, an empty last page when answer is nil.
type listServer struct {
	*httptest.Server
	mu     sync.Mutex
	answer func(n int, w http.ResponseWriter, r *http.Request)
	reqs   []listRequest
}

func newListServer(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *listServer {
	t.Helper()
	s := &listServer{answer: answer}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, listRequest{method: r.Method, path: r.URL.Path, query: r.URL.Query(), header: r.Header.Clone(), bodyLen: len(body)})
		n, answer := len(s.reqs), s.answer
		s.mu.Unlock()
		if answer == nil {
			_, _ = w.Write([]byte(`{"messages":[]}`))
			return
		}
		answer(n, w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *listServer) setAnswer(answer func(n int, w http.ResponseWriter, r *http.Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answer = answer
}

func (s *listServer) requests() []listRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]listRequest(nil), s.reqs...)
}

// replyN answers the n-th request with the n-th reply; the last one repeats.
func replyN(replies ...http.HandlerFunc) func(int, http.ResponseWriter, *http.Request) {
	return func(n int, w http.ResponseWriter, r *http.Request) { replies[min(n, len(replies))-1](w, r) }
}

func TestListMessagesQuery(t *testing.T) {
	auth := newAuthServer(t)
	srv := newListServer(t, nil)
	c, _ := newTestClient(t, auth, srv.URL)

	start := time.Date(2026, 3, 1, 12, 0, 0, 123_456_789, time.FixedZone("CET", 3600))
	_, err := c.ListMessages(context.Background(), sinch.ListMessagesRequest{
		Channel: "WHATSAPP", ChannelIdentity: "46732001122", ContactID: "c-1", ConversationID: "conv-1",
		StartTime: start, EndTime: start.Add(time.Hour), Direction: sinch.DirectionToContact,
		PageSize: 1000, PageToken: "tok+/=", MessagesSource: sinch.MessagesSourceConversation,
	})
	require.NoError(t, err)
	_, err = c.ListMessages(context.Background(), sinch.ListMessagesRequest{
		AppID: "other-app", MessagesSource: sinch.MessagesSourceDispatch, OnlyRecipientOriginated: true, PageSize: 1,
	})
	require.NoError(t, err)

	reqs := srv.requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, http.MethodGet, reqs[0].method)
	assert.Equal(t, listPath, reqs[0].path)
	assert.Equal(t, "Bearer token-1", reqs[0].header.Get("Authorization"))
	assert.Empty(t, reqs[0].header.Get("Content-Type"), "a GET has no body")
	assert.Zero(t, reqs[0].bodyLen)
	assert.Equal(t, url.Values{
		"app_id": {testAppID}, "channel": {"WHATSAPP"}, "channel_identity": {"46732001122"},
		"contact_id": {"c-1"}, "conversation_id": {"conv-1"},
		"start_time": {"2026-03-01T11:00:00.123456789Z"}, "end_time": {"2026-03-01T12:00:00.123456789Z"},
		"direction": {"TO_CONTACT"}, "page_size": {"1000"}, "page_token": {"tok+/="},
		"messages_source": {"CONVERSATION_SOURCE"},
	}, reqs[0].query)
	assert.Equal(t, url.Values{
		"app_id": {"other-app"}, "messages_source": {"DISPATCH_SOURCE"}, "only_recipient_originated": {"true"}, "page_size": {"1"},
	}, reqs[1].query, "zero fields are left out")
}

func TestListMessagesValidation(t *testing.T) {
	auth := newAuthServer(t)
	srv := newListServer(t, nil)
	c, _ := newTestClient(t, auth, srv.URL)
	now := time.Now()
	for name, req := range map[string]sinch.ListMessagesRequest{
		"page size over 1000":        {PageSize: 1001},
		"negative page size":         {PageSize: -1},
		"unknown direction":          {Direction: "INBOUND"},
		"unknown source":             {MessagesSource: "ALL"},
		"contact id with dispatch":   {MessagesSource: sinch.MessagesSourceDispatch, ContactID: "c-1"},
		"conversation with dispatch": {MessagesSource: sinch.MessagesSourceDispatch, ConversationID: "conv-1"},
		"recipient originated":       {OnlyRecipientOriginated: true},
		"end before start":           {StartTime: now, EndTime: now.Add(-time.Second)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := c.ListMessages(context.Background(), req)
			apiErr, ok := sinch.AsAPIError(err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, sinch.OpList, apiErr.Op)
			assert.Equal(t, "INVALID_ARGUMENT", apiErr.Status)
			assert.Zero(t, apiErr.HTTPStatus)
			assert.False(t, apiErr.Retryable())
		})
	}
	assert.Empty(t, srv.requests(), "rejected before sending")
	assert.Zero(t, auth.requests.Load(), "and before fetching a token")
}

// listFixtureBody is a page holding the MESSAGE_INBOUND fixture's message
// and an app message built around the AppMessage fixture, with fields the
// client does not know.
func listFixtureBody(t *testing.T) []byte {
	t.Helper()
	var inbound struct {
		Message json.RawMessage `json:"message"`
	}
	require.NoError(t, json.Unmarshal(fixtures.Read(t, "sinchevents/message/MessageInboundEventDto.json"), &inbound))
	appMessage := fixtures.Read(t, "messages/AppMessageTextDto.json")
	return []byte(`{"messages":[` + string(inbound.Message) + `,{
		"id":"01HAPPMSG","direction":"TO_CONTACT","app_message":` + string(appMessage) + `,
		"channel_identity":{"channel":"WHATSAPP","identity":"46732001122","app_id":""},
		"conversation_id":"","contact_id":"","metadata":"order-42",
		"accept_time":"2026-03-01T12:00:00.5Z","sender_id":"46700000000",
		"processing_mode":"DISPATCH","injected":false,"future_field":{"x":1}
	}],"next_page_token":"page-2","total_size":2}`)
}

func TestListMessagesDecodesFixtures(t *testing.T) {
	auth := newAuthServer(t)
	srv := newListServer(t, replyN(reply(http.StatusOK, string(listFixtureBody(t)))))
	c, _ := newTestClient(t, auth, srv.URL)

	page, err := c.ListMessages(context.Background(), sinch.ListMessagesRequest{})
	require.NoError(t, err)
	assert.Equal(t, "page-2", page.NextPageToken)
	require.Len(t, page.Messages, 2)

	in := page.Messages[0]
	assert.Equal(t, "event id", in.ID)
	assert.Equal(t, sinch.DirectionToApp, in.Direction)
	assert.Equal(t, sinch.ChannelIdentity{Channel: "MESSENGER", Identity: "an identity", AppID: "an app id"}, in.ChannelIdentity)
	assert.Equal(t, "conversation id", in.ConversationID)
	assert.Equal(t, "contact ID", in.ContactID)
	assert.Equal(t, "metadata value", in.Metadata)
	assert.Equal(t, time.Date(2020, 11, 17, 16, 7, 15, 0, time.UTC), in.AcceptTime)
	assert.Equal(t, "sender id value", in.SenderID)
	assert.Equal(t, "DISPATCH", in.ProcessingMode)
	assert.True(t, in.Injected)
	require.NotNil(t, in.ContactMessage)
	assert.Equal(t, "This is a text message.", in.ContactMessage.TextMessage.Text)
	assert.Equal(t, "message id value", in.ContactMessage.ReplyTo.MessageID)
	assert.Nil(t, in.AppMessage)

	out := page.Messages[1]
	assert.Equal(t, sinch.DirectionToContact, out.Direction)
	assert.Equal(t, "order-42", out.Metadata)
	assert.Equal(t, time.Date(2026, 3, 1, 12, 0, 0, 500_000_000, time.UTC), out.AcceptTime)
	assert.Nil(t, out.ContactMessage)
	require.NotNil(t, out.AppMessage)
	assert.Equal(t, []string{"text_message"}, out.AppMessage.Kinds())
	assert.Equal(t, "This is a text message.", out.AppMessage.TextMessage.Text)
	assert.Equal(t, "foo value", out.AppMessage.ExplicitChannelMessage["KAKAOTALK"])
	assert.Contains(t, string(out.AppMessage.Agent), "display_name value")
}

func TestConversationMessageLenientDecoding(t *testing.T) {
	var m sinch.ConversationMessage
	require.NoError(t, json.Unmarshal([]byte(`{
		"id":"m1","accept_time":"2026-03-01T12:00:00.25","metadata":{"order":42},
		"app_message":{"text_message":{"text":"hi"},"card_message":null,"template_message":null,"agent":null}
	}`), &m))
	assert.Equal(t, time.Date(2026, 3, 1, 12, 0, 0, 250_000_000, time.UTC), m.AcceptTime, "a time without zone is UTC")
	assert.Equal(t, `{"order":42}`, m.Metadata, "non-string metadata is kept as compact JSON")
	assert.Equal(t, []string{"text_message"}, m.AppMessage.Kinds(), "null is no kind")
	assert.Nil(t, m.AppMessage.Agent)

	require.NoError(t, json.Unmarshal([]byte(`{"id":"m2","accept_time":"","metadata":null}`), &m))
	assert.True(t, m.AcceptTime.IsZero())
	assert.Empty(t, m.Metadata)

	assert.Error(t, json.Unmarshal([]byte(`{"accept_time":"yesterday"}`), &m))
	assert.Error(t, json.Unmarshal([]byte(`{"injected":"yes"}`), &m), "a known field of the wrong type")
}

func TestConversationMessageRoundTrip(t *testing.T) {
	var page sinch.ListMessagesResponse
	require.NoError(t, json.Unmarshal(listFixtureBody(t), &page))
	b, err := json.Marshal(page)
	require.NoError(t, err)
	var again sinch.ListMessagesResponse
	require.NoError(t, json.Unmarshal(b, &again))
	assert.Equal(t, page.Messages[0].AcceptTime, again.Messages[0].AcceptTime)
	// Raw kinds come back compacted, so compare the encodings.
	b2, err := json.Marshal(again)
	require.NoError(t, err)
	assert.Equal(t, string(b), string(b2))
}

func TestListMessagesErrors(t *testing.T) {
	tooLarge := reply(200, `{"messages":[]}`+strings.Repeat(" ", 1<<10))
	for _, tc := range []struct {
		name       string
		reply      http.HandlerFunc
		status     int
		class      sinch.ErrorClass
		retryAfter time.Duration
		message    string
	}{
		{"404", reply(404, `{"error":{"code":404,"message":"app not found","status":"NOT_FOUND"}}`), 404, sinch.ErrorClassPermanent, 0, "app not found"},
		{"400", reply(400, `{"error":{"code":400,"message":"bad token","status":"INVALID_ARGUMENT"}}`), 400, sinch.ErrorClassPermanent, 0, "bad token"},
		{"429", reply(429, ``, "Retry-After", "3"), 429, sinch.ErrorClassRateLimited, 3 * time.Second, ""},
		{"503", reply(503, `{"error":{"code":503,"message":"down","status":"UNAVAILABLE"}}`), 503, sinch.ErrorClassRetryable, 0, "down"},
		{"malformed 200", reply(200, `{"messages":{}}`), 200, sinch.ErrorClassPermanent, 0, "malformed list response"},
		{"200 over the size limit", tooLarge, 200, sinch.ErrorClassPermanent, 0, "smaller page_size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth := newAuthServer(t)
			srv := newListServer(t, replyN(tc.reply))
			cfg := testConfig(auth, srv.URL)
			cfg.MaxListPageBytes = 1 << 10
			c, err := sinch.NewClient(cfg, sinch.NewTokenCache(nil, nil), nil)
			require.NoError(t, err)
			_, err = c.ListMessages(context.Background(), sinch.ListMessagesRequest{})
			apiErr, ok := sinch.AsAPIError(err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, sinch.OpList, apiErr.Op)
			assert.Equal(t, tc.status, apiErr.HTTPStatus)
			assert.Equal(t, tc.class, apiErr.Class)
			assert.Equal(t, tc.retryAfter, apiErr.RetryAfter)
			assert.Contains(t, apiErr.Message, tc.message)
			assert.Len(t, srv.requests(), 1, "no retry inside the client")
		})
	}

	t.Run("connection refused", func(t *testing.T) {
		auth := newAuthServer(t)
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		c, _ := newTestClient(t, auth, dead.URL)
		_, err := c.ListMessages(context.Background(), sinch.ListMessagesRequest{})
		apiErr, ok := sinch.AsAPIError(err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, sinch.OpList, apiErr.Op)
		assert.Zero(t, apiErr.HTTPStatus)
		assert.True(t, apiErr.Retryable())
	})

	t.Run("caller context", func(t *testing.T) {
		auth := newAuthServer(t)
		srv := newListServer(t, nil)
		c, _ := newTestClient(t, auth, srv.URL)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.ListMessages(ctx, sinch.ListMessagesRequest{})
		assert.Equal(t, context.Canceled, err)
	})
}

func TestListMessagesExpiredTokenRefreshedOnce(t *testing.T) {
	auth := newAuthServer(t)
	expired := reply(401, `{"error":{"code":401,"message":"Unauthorized","status":"UNAUTHENTICATED"}}`,
		"WWW-Authenticate", `Bearer error="invalid_token", error_description="token expired"`)
	srv := newListServer(t, replyN(expired, reply(200, `{"messages":[{"id":"m1"}]}`)))
	c, _ := newTestClient(t, auth, srv.URL)

	page, err := c.ListMessages(context.Background(), sinch.ListMessagesRequest{})
	require.NoError(t, err)
	require.Len(t, page.Messages, 1)
	reqs := srv.requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "Bearer token-1", reqs[0].header.Get("Authorization"))
	assert.Equal(t, "Bearer token-2", reqs[1].header.Get("Authorization"))

	// A second expired answer right after the refresh is returned.
	srv.setAnswer(replyN(expired))
	_, err = c.ListMessages(context.Background(), sinch.ListMessagesRequest{})
	apiErr, ok := sinch.AsAPIError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, http.StatusUnauthorized, apiErr.HTTPStatus)
	assert.Len(t, srv.requests(), 4)
}

// pagedAnswer serves pages of size messages named m1, m2, ... out of total;
// the page token is the index of the page's first message.
func pagedAnswer(total, size int) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, r *http.Request) {
		from, _ := strconv.Atoi(r.URL.Query().Get("page_token"))
		var page sinch.ListMessagesResponse
		for i := from; i < min(from+size, total); i++ {
			page.Messages = append(page.Messages, sinch.ConversationMessage{InboundMessage: sinch.InboundMessage{ID: fmt.Sprintf("m%d", i+1)}})
		}
		if from+size < total {
			page.NextPageToken = strconv.Itoa(from + size)
		}
		_ = json.NewEncoder(w).Encode(page)
	}
}

func TestListAllMessagesFollowsPageTokens(t *testing.T) {
	auth := newAuthServer(t)
	srv := newListServer(t, pagedAnswer(7, 3))
	c, _ := newTestClient(t, auth, srv.URL)

	var ids []string
	err := c.ListAllMessages(context.Background(), sinch.ListMessagesRequest{PageSize: 3, Direction: sinch.DirectionToApp},
		func(m sinch.ConversationMessage) (bool, error) {
			ids = append(ids, m.ID)
			return true, nil
		})
	require.NoError(t, err)
	assert.Equal(t, []string{"m1", "m2", "m3", "m4", "m5", "m6", "m7"}, ids)
	reqs := srv.requests()
	require.Len(t, reqs, 3)
	for i, token := range []string{"", "3", "6"} {
		assert.Equal(t, token, reqs[i].query.Get("page_token"), "request %d", i)
		assert.Equal(t, "TO_APP", reqs[i].query.Get("direction"), "the filters stay on every page")
		assert.Equal(t, "3", reqs[i].query.Get("page_size"))
	}
}

func TestListAllMessagesStops(t *testing.T) {
	auth := newAuthServer(t)
	srv := newListServer(t, pagedAnswer(10, 3))
	c, _ := newTestClient(t, auth, srv.URL)

	var ids []string
	err := c.ListAllMessages(context.Background(), sinch.ListMessagesRequest{}, func(m sinch.ConversationMessage) (bool, error) {
		ids = append(ids, m.ID)
		return m.ID != "m4", nil
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"m1", "m2", "m3", "m4"}, ids)
	assert.Len(t, srv.requests(), 2, "no page after the stop")

	errStop := errors.New("store is down")
	err = c.ListAllMessages(context.Background(), sinch.ListMessagesRequest{}, func(sinch.ConversationMessage) (bool, error) {
		return true, errStop
	})
	assert.Same(t, errStop, err, "fn's error as is")

	srv.setAnswer(replyN(reply(503, ``)))
	err = c.ListAllMessages(context.Background(), sinch.ListMessagesRequest{PageToken: "3"}, func(sinch.ConversationMessage) (bool, error) {
		t.Error("no message on a failed page")
		return true, nil
	})
	apiErr, ok := sinch.AsAPIError(err)
	require.True(t, ok, "%v", err)
	assert.True(t, apiErr.Retryable())
	assert.Equal(t, "3", srv.requests()[len(srv.requests())-1].query.Get("page_token"), "starts from the request's token")
}

func TestListAllMessagesRepeatedToken(t *testing.T) {
	auth := newAuthServer(t)
	srv := newListServer(t, replyN(reply(200, `{"messages":[{"id":"m1"}],"next_page_token":"same"}`)))
	c, _ := newTestClient(t, auth, srv.URL)
	n := 0
	err := c.ListAllMessages(context.Background(), sinch.ListMessagesRequest{}, func(sinch.ConversationMessage) (bool, error) {
		n++
		return true, nil
	})
	apiErr, ok := sinch.AsAPIError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, sinch.ErrorClassPermanent, apiErr.Class)
	assert.Contains(t, apiErr.Message, "repeats")
	assert.Len(t, srv.requests(), 2)
	assert.Equal(t, 2, n)
}

// endlessTransport answers every listing locally with one message and a new
// page token, like a server bug that never ends a listing.
type endlessTransport struct {
	mu    sync.Mutex
	pages int
}

func (e *endlessTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	e.mu.Lock()
	e.pages++
	n := e.pages
	e.mu.Unlock()
	body := fmt.Sprintf(`{"messages":[{"id":"m%d"}],"next_page_token":"p%d"}`, n, n)
	return &http.Response{
		StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: r,
	}, nil
}

func TestListAllMessagesPageBound(t *testing.T) {
	auth := newAuthServer(t)
	rt := &endlessTransport{}
	c, err := sinch.NewClient(testConfig(auth, "http://sinch.invalid"), sinch.NewTokenCache(nil, nil), &http.Client{Transport: rt})
	require.NoError(t, err)
	seen := 0
	err = c.ListAllMessages(context.Background(), sinch.ListMessagesRequest{}, func(sinch.ConversationMessage) (bool, error) {
		seen++
		return true, nil
	})
	apiErr, ok := sinch.AsAPIError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, sinch.ErrorClassPermanent, apiErr.Class)
	assert.Contains(t, apiErr.Message, strconv.Itoa(sinch.MaxListPages))
	assert.Equal(t, sinch.MaxListPages, rt.pages)
	assert.Equal(t, sinch.MaxListPages, seen)
}
