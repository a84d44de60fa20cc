package emulator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/sinch/emulator"
)

// clockOptions are fastOptions on a clock the test moves, so accept times
// (and the listing's order) are the test's.
func clockOptions() (emulator.Options, *clock) {
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	opts := fastOptions()
	opts.Now = clk.now
	return opts, clk
}

// listAt lists under a path prefix ("" or "/us") and returns the answer.
func (e *env) listAt(prefix string, query url.Values) (*http.Response, []byte) {
	e.t.Helper()
	header := http.Header{"Authorization": {"Bearer " + e.token}}
	return e.do(http.MethodGet, prefix+"/v1/projects/"+testProject+"/messages?"+query.Encode(), nil, header)
}

// list is an accepted listing decoded by the connector's decoder.
func (e *env) list(query url.Values) sinch.ListMessagesResponse {
	e.t.Helper()
	res, body := e.listAt("", query)
	require.Equal(e.t, http.StatusOK, res.StatusCode, string(body))
	var page sinch.ListMessagesResponse
	require.NoError(e.t, json.Unmarshal(body, &page))
	return page
}

func ids(msgs []sinch.ConversationMessage) []string {
	out := []string{}
	for _, m := range msgs {
		out = append(out, m.ID)
	}
	return out
}

func TestListConversationMode(t *testing.T) {
	opts, clk := clockOptions()
	e := newEnv(t, opts, emulator.ModeConversation)
	const alice, bob = "393331111111", "393332222222"

	textReq := textTo(e.app.AppID, alice, "hello")
	textReq.MessageMetadata = "order-42"
	text := e.send(textReq)
	t0 := clk.now()
	clk.add(time.Second)
	media := e.send(mediaTo(e.app.AppID, "+"+alice, e.url+"/emulator/media/sample.jpg"))
	t1 := clk.now()
	clk.add(time.Second)
	inboundID := e.inbound(emulator.Inbound{From: alice, Text: "hi back"})
	inbound := e.waitInbound(inboundID).cb.Message
	clk.add(time.Second)
	toBob := e.send(textTo(e.app.AppID, bob, "hey bob"))
	report := e.waitReports(text, 1)[0].cb.MessageDeliveryReport

	app := url.Values{"app_id": {e.app.AppID}}
	page := e.list(app)
	assert.Equal(t, []string{toBob, inboundID, media, text}, ids(page.Messages), "newest first")
	assert.Empty(t, page.NextPageToken)
	full := e.list(url.Values{"app_id": {e.app.AppID}, "page_size": {"4"}})
	assert.Len(t, full.Messages, 4)
	assert.Empty(t, full.NextPageToken, "an exactly full last page has no token")

	got := page.Messages[3]
	assert.Equal(t, sinch.DirectionToContact, got.Direction)
	require.NotNil(t, got.AppMessage)
	assert.Equal(t, "hello", got.AppMessage.TextMessage.Text)
	assert.Nil(t, got.ContactMessage)
	assert.Equal(t, "order-42", got.Metadata, "the send's message_metadata")
	assert.Equal(t, sinch.ChannelIdentity{Channel: "WHATSAPP", Identity: alice}, got.ChannelIdentity)
	assert.Equal(t, report.ContactID, got.ContactID)
	assert.Equal(t, report.ConversationID, got.ConversationID)
	assert.Len(t, got.ContactID, 26)
	assert.Equal(t, t0, got.AcceptTime)
	assert.Equal(t, emulator.ModeConversation, got.ProcessingMode)
	assert.Equal(t, emulator.SenderID, got.SenderID)

	got = page.Messages[2]
	require.NotNil(t, got.AppMessage.MediaMessage)
	assert.Equal(t, e.url+"/emulator/media/sample.jpg", got.AppMessage.MediaMessage.URL)
	assert.Equal(t, alice, got.ChannelIdentity.Identity, "normalised like the send")
	assert.Equal(t, t1, got.AcceptTime)

	got = page.Messages[1]
	assert.Equal(t, sinch.DirectionToApp, got.Direction)
	require.NotNil(t, got.ContactMessage)
	assert.Equal(t, "hi back", got.ContactMessage.TextMessage.Text)
	assert.Nil(t, got.AppMessage)
	assert.Equal(t, inbound.ContactID, got.ContactID, "the callback's ids")
	assert.Equal(t, inbound.ConversationID, got.ConversationID)
	assert.Equal(t, report.ContactID, got.ContactID, "one contact for sends and inbound")
	assert.Equal(t, inbound.AcceptTime, got.AcceptTime)
	assert.Equal(t, inbound.ChannelIdentity, got.ChannelIdentity)

	// Wire details: Sinch's spelling, nine fractional digits, app_id "".
	_, body := e.listAt("", app)
	var raw struct {
		Messages      []map[string]json.RawMessage `json:"messages"`
		NextPageToken *string                      `json:"next_page_token"`
	}
	require.NoError(t, json.Unmarshal(body, &raw))
	require.NotNil(t, raw.NextPageToken, "next_page_token is always present")
	assert.Equal(t, `"2026-03-01T12:00:00.000000000Z"`, string(raw.Messages[3]["accept_time"]))
	assert.JSONEq(t, `{"channel":"WHATSAPP","identity":"393331111111","app_id":""}`, string(raw.Messages[3]["channel_identity"]))
	assert.NotContains(t, raw.Messages[3], "contact_message")
	assert.NotContains(t, raw.Messages[1], "app_message")

	for name, tc := range map[string]struct {
		query url.Values
		want  []string
	}{
		"to app":              {url.Values{"direction": {"TO_APP"}}, []string{inboundID}},
		"to contact":          {url.Values{"direction": {"TO_CONTACT"}}, []string{toBob, media, text}},
		"identity with plus":  {url.Values{"channel_identity": {"+" + alice}}, []string{inboundID, media, text}},
		"channel":             {url.Values{"channel": {"WHATSAPP"}, "channel_identity": {bob}}, []string{toBob}},
		"other channel":       {url.Values{"channel": {"INSTAGRAM"}}, []string{}},
		"contact":             {url.Values{"contact_id": {report.ContactID}}, []string{inboundID, media, text}},
		"conversation":        {url.Values{"conversation_id": {report.ConversationID}, "direction": {"TO_CONTACT"}}, []string{media, text}},
		"start inclusive":     {url.Values{"start_time": {t1.Format(time.RFC3339Nano)}}, []string{toBob, inboundID, media}},
		"end exclusive":       {url.Values{"end_time": {t1.Format(time.RFC3339Nano)}}, []string{text}},
		"window":              {url.Values{"start_time": {t0.Format(time.RFC3339)}, "end_time": {t1.Add(time.Second).Format(time.RFC3339)}}, []string{media, text}},
		"explicit source":     {url.Values{"messages_source": {"CONVERSATION_SOURCE"}}, []string{toBob, inboundID, media, text}},
		"dispatch source":     {url.Values{"messages_source": {"DISPATCH_SOURCE"}}, []string{}},
		"view is ignored":     {url.Values{"view": {"WITH_METADATA"}, "direction": {"TO_APP"}}, []string{inboundID}},
		"unknown contact":     {url.Values{"contact_id": {"01NOSUCHCONTACT"}}, []string{}},
		"start in the future": {url.Values{"start_time": {clk.now().Add(time.Hour).Format(time.RFC3339)}}, []string{}},
	} {
		t.Run(name, func(t *testing.T) {
			q := url.Values{"app_id": {e.app.AppID}}
			for k, v := range tc.query {
				q[k] = v
			}
			assert.Equal(t, tc.want, ids(e.list(q).Messages))
		})
	}
}

// Dispatch messages are listed only from DISPATCH_SOURCE and only while the
// app's dispatch retention keeps them.
func TestListDispatchRetention(t *testing.T) {
	opts, clk := clockOptions()
	e := newEnv(t, opts, emulator.ModeDispatch)
	kept := e.app
	kept.AppID, kept.DispatchRetentionDays = "app-kept", 2
	require.NoError(t, e.emu.CreateApp(kept))
	const to = "393331234567"

	for _, appID := range []string{e.app.AppID, kept.AppID} {
		e.send(textTo(appID, to, "hello"))
		clk.add(time.Second)
		_, err := e.emu.SendInbound(appID, emulator.Inbound{From: to, Text: "hi"})
		require.NoError(t, err)
	}
	clk.add(time.Second)

	dispatch := func(appID string, extra ...string) []sinch.ConversationMessage {
		q := url.Values{"app_id": {appID}, "messages_source": {"DISPATCH_SOURCE"}}
		for i := 0; i+1 < len(extra); i += 2 {
			q.Set(extra[i], extra[i+1])
		}
		return e.list(q).Messages
	}
	assert.Empty(t, dispatch(e.app.AppID), "no retention: nothing stored")
	assert.Empty(t, e.list(url.Values{"app_id": {e.app.AppID}}).Messages, "not in the conversation source")
	assert.Empty(t, e.list(url.Values{"app_id": {kept.AppID}}).Messages, "not in the conversation source")

	msgs := dispatch(kept.AppID)
	require.Len(t, msgs, 2)
	assert.Equal(t, sinch.DirectionToApp, msgs[0].Direction)
	assert.Equal(t, sinch.DirectionToContact, msgs[1].Direction)
	for _, m := range msgs {
		assert.Equal(t, emulator.ModeDispatch, m.ProcessingMode)
		assert.Empty(t, m.ContactID)
		assert.Empty(t, m.ConversationID)
	}
	_, body := e.listAt("", url.Values{"app_id": {kept.AppID}, "messages_source": {"DISPATCH_SOURCE"}})
	assert.Contains(t, string(body), `"contact_id":""`, "the keys are there, empty")
	assert.Contains(t, string(body), `"conversation_id":""`)

	only := dispatch(kept.AppID, "only_recipient_originated", "true")
	assert.Equal(t, []string{msgs[0].ID}, ids(only))
	assert.Empty(t, dispatch(kept.AppID, "only_recipient_originated", "true", "direction", "TO_CONTACT"))

	// The kept app's send is 2 s old and its inbound 1 s: after 2 days less
	// 1.5 s only the inbound is within the retention, a second later neither.
	clk.add(2*24*time.Hour - 1500*time.Millisecond)
	e.token = e.fetchToken(e.app.KeyID, e.app.KeySecret)
	assert.Equal(t, []string{msgs[0].ID}, ids(dispatch(kept.AppID)), "the older message expired")
	clk.add(time.Second)
	assert.Empty(t, dispatch(kept.AppID))
}

// A DISPATCH_ONLY send of a CONVERSATION app is a dispatch message.
func TestListDispatchOnlySend(t *testing.T) {
	e := newEnv(t, fastOptions(), emulator.ModeConversation)
	kept := e.app
	kept.AppID, kept.DispatchRetentionDays = "app-kept", 1
	require.NoError(t, e.emu.CreateApp(kept))

	normal := e.send(textTo(kept.AppID, "393331234567", "stored"))
	req := textTo(kept.AppID, "393331234567", "dispatched")
	req.ProcessingStrategy = "DISPATCH_ONLY"
	dispatched := e.send(req)

	assert.Equal(t, []string{normal}, ids(e.list(url.Values{"app_id": {kept.AppID}}).Messages))
	got := e.list(url.Values{"app_id": {kept.AppID}, "messages_source": {"DISPATCH_SOURCE"}}).Messages
	require.Len(t, got, 1)
	assert.Equal(t, dispatched, got[0].ID)
	assert.Empty(t, got[0].ContactID)
}

func TestListPaging(t *testing.T) {
	opts, clk := clockOptions()
	e := newEnv(t, opts, emulator.ModeConversation)
	var sent []string
	for i := range 25 {
		sent = append(sent, e.send(textTo(e.app.AppID, "393331234567", fmt.Sprint("m", i))))
		if i%2 == 1 {
			clk.add(time.Millisecond) // pairs share an accept time; ties go by id
		}
	}

	q := url.Values{"app_id": {e.app.AppID}}
	first := e.list(q)
	require.Len(t, first.Messages, 10, "page_size defaults to 10")
	require.NotEmpty(t, first.NextPageToken)

	// A message accepted meanwhile is newer: it does not shift the pages.
	clk.add(time.Second)
	late := e.send(textTo(e.app.AppID, "393331234567", "late"))

	got := ids(first.Messages)
	token := first.NextPageToken
	pages := 1
	for token != "" {
		q.Set("page_token", token)
		q.Set("page_size", "7")
		page := e.list(q)
		got = append(got, ids(page.Messages)...)
		token = page.NextPageToken
		pages++
	}
	assert.Equal(t, 4, pages, "10 + 7 + 7 + 1")
	require.Len(t, got, 25)
	assert.NotContains(t, got, late)
	assert.ElementsMatch(t, sent, got)
	for i := 1; i < len(got); i++ {
		prev, cur := e.acceptTime(got[i-1]), e.acceptTime(got[i])
		assert.True(t, prev.After(cur) || (prev.Equal(cur) && got[i-1] > got[i]), "order at %d", i)
	}

	all := e.list(url.Values{"app_id": {e.app.AppID}, "page_size": {"1000"}})
	assert.Len(t, all.Messages, 26)
	assert.Empty(t, all.NextPageToken)
	assert.Equal(t, late, all.Messages[0].ID)
}

// acceptTime is the outbox's accept time of a sent message.
func (e *env) acceptTime(id string) time.Time {
	e.t.Helper()
	items, err := e.emu.Outbox(e.app.AppID, "")
	require.NoError(e.t, err)
	for _, it := range items {
		if it.MessageID == id {
			return it.AcceptedTime
		}
	}
	e.t.Fatalf("%s is not in the outbox", id)
	return time.Time{}
}

func TestListErrors(t *testing.T) {
	e := newEnv(t, fastOptions(), emulator.ModeConversation)
	other := emulator.App{AppID: "app-other", ProjectID: "proj-2", Region: "eu", WebhookURL: "http://127.0.0.1:1/hook",
		KeyID: "key-2", KeySecret: "secret-2"}
	require.NoError(t, e.emu.CreateApp(other))
	app := e.app.AppID

	for name, tc := range map[string]struct {
		prefix string
		query  url.Values
		code   int
		status string
	}{
		"no app id":            {"", url.Values{}, 400, "INVALID_ARGUMENT"},
		"unknown app":          {"", url.Values{"app_id": {"nope"}}, 404, "NOT_FOUND"},
		"another project":      {"", url.Values{"app_id": {other.AppID}}, 404, "NOT_FOUND"},
		"wrong region":         {"/us", url.Values{"app_id": {app}}, 404, "NOT_FOUND"},
		"no region":            {"/xx", url.Values{"app_id": {app}}, 404, "NOT_FOUND"},
		"page size over max":   {"", url.Values{"app_id": {app}, "page_size": {"1001"}}, 400, "INVALID_ARGUMENT"},
		"negative page size":   {"", url.Values{"app_id": {app}, "page_size": {"-1"}}, 400, "INVALID_ARGUMENT"},
		"page size not number": {"", url.Values{"app_id": {app}, "page_size": {"ten"}}, 400, "INVALID_ARGUMENT"},
		"token not base64":     {"", url.Values{"app_id": {app}, "page_token": {"!!"}}, 400, "INVALID_ARGUMENT"},
		"token not a cursor":   {"", url.Values{"app_id": {app}, "page_token": {"bm9wZQ"}}, 400, "INVALID_ARGUMENT"},
		"bad direction":        {"", url.Values{"app_id": {app}, "direction": {"INBOUND"}}, 400, "INVALID_ARGUMENT"},
		"bad source":           {"", url.Values{"app_id": {app}, "messages_source": {"ALL"}}, 400, "INVALID_ARGUMENT"},
		"bad start time":       {"", url.Values{"app_id": {app}, "start_time": {"yesterday"}}, 400, "INVALID_ARGUMENT"},
		"bad boolean":          {"", url.Values{"app_id": {app}, "messages_source": {"DISPATCH_SOURCE"}, "only_recipient_originated": {"maybe"}}, 400, "INVALID_ARGUMENT"},
		"contact in dispatch":  {"", url.Values{"app_id": {app}, "messages_source": {"DISPATCH_SOURCE"}, "contact_id": {"c"}}, 400, "INVALID_ARGUMENT"},
		"conversation in dispatch": {"", url.Values{"app_id": {app}, "messages_source": {"DISPATCH_SOURCE"}, "conversation_id": {"c"}},
			400, "INVALID_ARGUMENT"},
		"recipient originated in conversation": {"", url.Values{"app_id": {app}, "only_recipient_originated": {"true"}}, 400, "INVALID_ARGUMENT"},
	} {
		t.Run(name, func(t *testing.T) {
			res, body := e.listAt(tc.prefix, tc.query)
			require.Equal(t, tc.code, res.StatusCode, string(body))
			requireSinchError(t, body, tc.code, tc.status)
		})
	}

	t.Run("region prefix of the app's region", func(t *testing.T) {
		res, body := e.listAt("/eu", url.Values{"app_id": {app}})
		assert.Equal(t, http.StatusOK, res.StatusCode, string(body))
	})

	t.Run("bearer token", func(t *testing.T) {
		path := "/v1/projects/" + testProject + "/messages?app_id=" + app
		res, body := e.do(http.MethodGet, path, nil, nil)
		require.Equal(t, http.StatusUnauthorized, res.StatusCode, string(body))
		requireSinchError(t, body, 401, "UNAUTHENTICATED")
		res, body = e.do(http.MethodGet, path, nil, http.Header{"Authorization": {"Bearer " + e.fetchToken("key-2", "secret-2")}})
		require.Equal(t, http.StatusForbidden, res.StatusCode, string(body))
		requireSinchError(t, body, 403, "PERMISSION_DENIED")
	})

	t.Run("Go API", func(t *testing.T) {
		_, err := e.emu.ListMessages(sinch.ListMessagesRequest{})
		assert.ErrorIs(t, err, emulator.ErrInvalid)
		_, err = e.emu.ListMessages(sinch.ListMessagesRequest{AppID: "nope"})
		assert.ErrorIs(t, err, emulator.ErrAppNotFound)
		_, err = e.emu.ListMessages(sinch.ListMessagesRequest{AppID: app, PageSize: 1001})
		assert.ErrorIs(t, err, emulator.ErrInvalid)
	})
}

// The Go API answers what the HTTP API does.
func TestListGoAPIMatchesHTTP(t *testing.T) {
	e := newEnv(t, fastOptions(), emulator.ModeConversation)
	e.send(textTo(e.app.AppID, "393331234567", "hello"))
	e.waitInbound(e.inbound(emulator.Inbound{From: "393331234567", MediaURL: "sample.jpg"}))
	e.send(mediaTo(e.app.AppID, "393331234567", e.url+"/emulator/media/sample.pdf"))

	req := sinch.ListMessagesRequest{AppID: e.app.AppID, PageSize: 2}
	goPage, err := e.emu.ListMessages(req)
	require.NoError(t, err)
	httpPage := e.list(url.Values{"app_id": {e.app.AppID}, "page_size": {"2"}})
	assert.Equal(t, httpPage, goPage)
	require.NotEmpty(t, goPage.NextPageToken)

	req.PageToken = goPage.NextPageToken
	rest, err := e.emu.ListMessages(req)
	require.NoError(t, err)
	require.Len(t, rest.Messages, 1)
	assert.Empty(t, rest.NextPageToken)
	assert.Equal(t, sinch.DirectionToContact, rest.Messages[0].Direction)
}

// The connector's client lists through the emulator, page after page.
func TestClientListsFromEmulator(t *testing.T) {
	opts, clk := clockOptions()
	e := newEnv(t, opts, emulator.ModeConversation)
	var sent []string
	for i := range 5 {
		sent = append([]string{e.send(textTo(e.app.AppID, "393331234567", fmt.Sprint("m", i)))}, sent...)
		clk.add(time.Second)
	}
	inbound := e.inbound(emulator.Inbound{From: "393331234567", Text: "hi"})

	c, err := sinch.NewClient(sinch.ClientConfig{
		BaseURL: e.url + "/eu", AuthURL: e.url + "/oauth2/token", ProjectID: testProject,
		AppID: e.app.AppID, KeyID: e.app.KeyID, KeySecret: e.app.KeySecret,
	}, sinch.NewTokenCache(nil, clk.now), nil)
	require.NoError(t, err)

	var got []string
	require.NoError(t, c.ListAllMessages(context.Background(),
		sinch.ListMessagesRequest{Direction: sinch.DirectionToContact, PageSize: 2},
		func(m sinch.ConversationMessage) (bool, error) {
			got = append(got, m.ID)
			return true, nil
		}))
	assert.Equal(t, sent, got)

	page, err := c.ListMessages(context.Background(), sinch.ListMessagesRequest{PageSize: 1})
	require.NoError(t, err)
	assert.Equal(t, []string{inbound}, ids(page.Messages))
	assert.NotEmpty(t, page.NextPageToken)

	_, err = c.ListMessages(context.Background(), sinch.ListMessagesRequest{PageToken: "garbage!"})
	apiErr, ok := sinch.AsAPIError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, http.StatusBadRequest, apiErr.HTTPStatus)
	assert.Equal(t, "INVALID_ARGUMENT", apiErr.Status)
	assert.Equal(t, sinch.OpList, apiErr.Op)
	assert.False(t, apiErr.Retryable())
}
