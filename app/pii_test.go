package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/proto"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/app"
	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/sinch/emulator"
	"github.com/xcally-connector/connector/workflows"
)

// rawClient reads the engine as Temporal's own tools do: no codec.
func rawClient(t *testing.T, s *replyStack) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: s.dev.Temporal.FrontendAddr(), Namespace: s.cfg.TemporalNamespace})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// histories are the raw histories of every workflow of the namespace.
func histories(t *testing.T, c client.Client) map[string]*historypb.History {
	t.Helper()
	ctx := context.Background()
	res, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{})
	require.NoError(t, err)
	out := map[string]*historypb.History{}
	for _, e := range res.Executions {
		iter := c.GetWorkflowHistory(ctx, e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		h := &historypb.History{}
		for iter.HasNext() {
			ev, err := iter.Next()
			require.NoError(t, err)
			h.Events = append(h.Events, ev)
		}
		out[e.GetExecution().GetWorkflowId()+"/"+e.GetExecution().GetRunId()] = h
	}
	return out
}

func marshal(t *testing.T, h *historypb.History) []byte {
	t.Helper()
	b, err := proto.Marshal(h)
	require.NoError(t, err)
	return b
}

// TestHistoryHoldsNoClearPII: a real conversation (a customer's text with
// their name, a file with a private URL and a name in its filename, an
// agent's reply naming the customer) leaves none of it in clear in any
// workflow history; the dev codec decodes it all back.
func TestHistoryHoldsNoClearPII(t *testing.T) {
	s := newReplyStack(t, testdb.Engines(t)[0], nil)
	const (
		from      = "393330000901"
		text      = "Mi chiamo Ettore Fieramosca, il mio codice cliente è ZX-4471"
		mediaPart = "sig=pii-media-7731"
		filename  = "Fieramosca-passaporto.jpg"
		replyText = "Buongiorno signor Fieramosca, verifico il codice ZX-4471"
	)
	_, err := s.em.SendInbound(appID, emulator.Inbound{From: from, Text: text})
	require.NoError(t, err)
	it := s.waitAssigned(from)
	_, err = s.em.SendInbound(appID, emulator.Inbound{From: from, MediaURL: "sample.jpg?" + mediaPart, Filename: filename})
	require.NoError(t, err)
	bob, _ := s.assignee(it)
	var msg api.MessageResponse
	require.Equal(t, http.StatusAccepted, s.reply(it, bob.Token, map[string]string{"text": replyText}, &msg))
	require.Eventually(t, func() bool {
		for _, o := range s.outbox(from) {
			if o.Text == replyText {
				return true
			}
		}
		return false
	}, 30*time.Second, 50*time.Millisecond, "the reply reaches the customer")
	require.Eventually(t, func() bool {
		n := 0
		for _, m := range s.interaction(it.ID).Messages {
			if m.Direction == "inbound" {
				n++
			}
		}
		return n == 2
	}, 30*time.Second, 50*time.Millisecond, "both customer messages are stored")
	s.waitStatus(it.ID, msg.ID, "delivered")

	// The API applies the delivery reports itself, so "delivered" can come
	// before the file's fetch workflow has run or is listed: wait for it.
	raw := rawClient(t, s)
	require.Eventually(t, func() bool {
		res, err := raw.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{})
		if err != nil {
			return false
		}
		for _, e := range res.GetExecutions() {
			if strings.HasPrefix(e.GetExecution().GetWorkflowId(), "media/") && e.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				return true
			}
		}
		return false
	}, 30*time.Second, 100*time.Millisecond, "the file's fetch workflow has run and is listed")
	hists := histories(t, raw)
	convPrefix := workflows.ConversationWorkflowID(s.account, "WHATSAPP", from) + "/"
	var conv *historypb.History
	mediaWorkflows := 0
	for id, h := range hists {
		raw := marshal(t, h)
		for _, secret := range []string{"Fieramosca", "ZX-4471", mediaPart, "passaporto"} {
			assert.Falsef(t, bytes.Contains(raw, []byte(secret)), "history of %s holds %q in clear", id, secret)
		}
		if strings.HasPrefix(id, convPrefix) {
			conv = h
		}
		if strings.HasPrefix(id, "media/") {
			mediaWorkflows++
		}
	}
	require.NotNil(t, conv, "the conversation's history is among them")
	assert.Equal(t, 1, mediaWorkflows, "the file's fetch workflow was checked too")
	encrypted := 0
	require.NoError(t, proxy.VisitPayloads(context.Background(), conv, proxy.VisitPayloadsOptions{
		SkipSearchAttributes: true,
		Visitor: func(_ *proxy.VisitPayloadsContext, ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
			for _, p := range ps {
				if string(p.GetMetadata()["encoding"]) == "binary/encrypted" {
					encrypted++
				}
			}
			return ps, nil
		},
	}))
	assert.Positive(t, encrypted, "payloads are encrypted, not dropped")

	// With the codec (what the UI's codec endpoint does) it all reads back.
	codec, err := s.dev.PIICodec()
	require.NoError(t, err)
	require.NoError(t, proxy.VisitPayloads(context.Background(), conv, proxy.VisitPayloadsOptions{
		Visitor: func(_ *proxy.VisitPayloadsContext, ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
			return codec.Decode(ps)
		},
	}))
	clear := marshal(t, conv)
	for _, want := range []string{"Ettore Fieramosca", "ZX-4471", mediaPart, filename, replyText} {
		assert.Truef(t, bytes.Contains(clear, []byte(want)), "the decoded history holds %q", want)
	}
}

// TestDevUIDecodesWithNoSetup: the embedded UI is told the API's codec
// endpoint, and its browser (its origin, from loopback) may call it with no
// token; the codec endpoint turns a raw payload back into clear text.
func TestDevUIDecodesWithNoSetup(t *testing.T) {
	s := newReplyStack(t, testdb.Engines(t)[0], nil)
	var settings struct {
		Codec struct{ Endpoint string }
	}
	require.Equal(t, http.StatusOK, getJSON(t, s.dev.Temporal.UIURL()+"/api/v1/settings", "", &settings))
	assert.Equal(t, s.dev.APIURL()+"/codec", settings.Codec.Endpoint, "the UI decodes through the API")

	const from = "393330000902"
	_, err := s.em.SendInbound(appID, emulator.Inbound{From: from, Text: "Vivo in via Roma 12"})
	require.NoError(t, err)
	s.waitAssigned(from)
	h := histories(t, rawClient(t, s))
	var input *commonpb.Payloads
	for id, hist := range h {
		if strings.HasPrefix(id, workflows.ConversationWorkflowID(s.account, "WHATSAPP", from)+"/") {
			input = hist.Events[0].GetWorkflowExecutionStartedEventAttributes().GetInput()
		}
	}
	require.NotNil(t, input)
	body, err := json.Marshal(map[string]any{"payloads": input.GetPayloads()})
	require.NoError(t, err)

	decode := func(origin string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, s.dev.APIURL()+"/codec/decode", bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Namespace", s.cfg.TemporalNamespace)
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer func() { _ = resp.Body.Close() }()
		var out bytes.Buffer
		_, _ = out.ReadFrom(resp.Body)
		return resp.StatusCode, out.String()
	}
	code, out := decode(s.dev.Temporal.UIURL())
	require.Equal(t, http.StatusOK, code, out)
	var res struct {
		Payloads []struct {
			Metadata map[string][]byte
			Data     []byte
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	require.Len(t, res.Payloads, 1)
	assert.Equal(t, "json/plain", string(res.Payloads[0].Metadata["encoding"]))
	assert.Contains(t, string(res.Payloads[0].Data), `"Identity":"`+from+`"`)

	code, _ = decode("http://localhost:1")
	assert.Equal(t, http.StatusForbidden, code, "another origin is refused")
}

var searchQuery = regexp.MustCompile(`ContactIdentity="(h-[0-9a-f]{32})"`)

// TestHashedIdentities: with PII_HASH_IDENTITIES the workflow id and the
// ContactIdentity attribute carry a keyed hash, `search-key` prints the
// query that finds the conversation, and the reply still reaches the
// customer's number.
func TestHashedIdentities(t *testing.T) {
	s := newReplyStack(t, testdb.Engines(t)[0], func(cfg *config.Config) { cfg.HashIdentities = true })
	const from = "393330000903"
	it := s.hello(from)

	var out strings.Builder
	require.NoError(t, app.SearchKey(s.cfg, "+39 333 000 0903", &out))
	m := searchQuery.FindStringSubmatch(out.String())
	require.NotNil(t, m, "search-key prints the query: %s", out.String())
	key := m[1]
	assert.True(t, strings.HasPrefix(out.String(), key+"\n"), "the first line is the value alone")

	var found *workflowservice.ListWorkflowExecutionsResponse
	require.Eventually(t, func() bool {
		res, err := s.dev.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: m[0]})
		found = res
		return err == nil && len(res.Executions) == 1
	}, 30*time.Second, 100*time.Millisecond, "the printed query finds the conversation")
	e := found.Executions[0]
	assert.Equal(t, fmt.Sprintf("conversation/%d/WHATSAPP/%s", s.account, key), e.GetExecution().GetWorkflowId())
	assert.NotContains(t, e.GetExecution().GetWorkflowId(), from)
	attrs := e.GetSearchAttributes().GetIndexedFields()
	assert.Equal(t, fmt.Sprintf("%q", key), string(attrs[workflows.ContactIdentityAttr].GetData()))
	assert.Equal(t, e.GetExecution().GetWorkflowId(), it.WorkflowID, "the interaction row names the hashed workflow")

	res, err := s.dev.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("%s = '%s'", workflows.ContactIdentityAttr, from)})
	require.NoError(t, err)
	assert.Empty(t, res.Executions, "the clear number finds nothing")

	// A second message reaches the same workflow, and the reply the number.
	_, err = s.em.SendInbound(appID, emulator.Inbound{From: from, Text: "still there?"})
	require.NoError(t, err)
	bob, _ := s.assignee(it)
	var msg api.MessageResponse
	require.Equal(t, http.StatusAccepted, s.reply(it, bob.Token, map[string]string{"text": "yes, here"}, &msg))
	s.waitStatus(it.ID, msg.ID, "delivered")
	var sent []emulator.OutboxItem
	for _, o := range s.outbox(from) {
		if o.Text == "yes, here" {
			sent = append(sent, o)
		}
	}
	require.Len(t, sent, 1, "the reply went to %s", from)
	assert.Equal(t, from, sent[0].To)
	require.Eventually(t, func() bool {
		n := 0
		for _, m := range s.interaction(it.ID).Messages {
			if m.Direction == "inbound" {
				n++
			}
		}
		return n == 2
	}, 30*time.Second, 50*time.Millisecond, "the second message joined the same interaction")
	res, err = s.dev.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: m[0]})
	require.NoError(t, err)
	assert.Len(t, res.Executions, 1, "still one conversation for the number")
}

func TestSearchKeyErrors(t *testing.T) {
	cfg := devConfig(t, testdb.Engines(t)[0])
	var out strings.Builder
	err := app.SearchKey(cfg, "+393331234567", &out)
	var cerr *config.Error
	require.ErrorAs(t, err, &cerr)
	assert.Equal(t, "PII_HASH_IDENTITIES", cerr.Var, "the setting is off")

	cfg.HashIdentities = true
	require.NoError(t, app.SearchKey(cfg, "+393331234567", &out), "dev's generated key is used")
	cfg.SecretKey, cfg.DataDir = nil, t.TempDir()
	err = app.SearchKey(cfg, "+393331234567", &out)
	require.ErrorAs(t, err, &cerr)
	assert.Equal(t, "SECRET_KEY", cerr.Var)
	assert.Error(t, app.SearchKey(cfg, " ", &out), "no identity")
}
