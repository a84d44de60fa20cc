package app_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/workflows"
)

// TestSearchAttributesVisible: an operator finds a conversation in the
// Temporal UI by the customer's number and sees where it is, through the
// same visibility API the UI queries.
func TestSearchAttributesVisible(t *testing.T) {
	engine := testdb.Engines(t)[0] // the engine's visibility store does not depend on the app database
	s := newReplyStack(t, engine, nil)
	const from = "393330000801"
	it := s.hello(from)
	require.NotNil(t, it.AgentID)
	require.NotNil(t, it.QueueID)

	query := fmt.Sprintf("%s = '%s' AND %s = '%d'", workflows.ContactIdentityAttr, from, workflows.AccountIDAttr, s.account)
	want := workflows.ConversationWorkflowID(s.account, "WHATSAPP", from)
	var found *workflowservice.ListWorkflowExecutionsResponse
	require.Eventually(t, func() bool {
		res, err := s.dev.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil || len(res.Executions) != 1 {
			return false
		}
		found = res
		attrs := res.Executions[0].GetSearchAttributes().GetIndexedFields()
		return attrs[workflows.InteractionStatusAttr] != nil && string(attrs[workflows.InteractionStatusAttr].GetData()) == `"assigned"`
	}, 30*time.Second, 100*time.Millisecond, "the conversation is found by %s with its interaction assigned", query)
	e := found.Executions[0]
	assert.Equal(t, want, e.GetExecution().GetWorkflowId(), "a readable workflow id")
	assert.Equal(t, workflows.ConversationWorkflowName, e.GetType().GetName())
	assert.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, e.GetStatus())
	attrs := e.GetSearchAttributes().GetIndexedFields()
	for name, v := range map[string]string{
		workflows.ChannelAttr: "WHATSAPP",
		workflows.AgentIDAttr: fmt.Sprint(*it.AgentID),
		workflows.QueueIDAttr: fmt.Sprint(*it.QueueID),
	} {
		require.Contains(t, attrs, name)
		assert.Equal(t, fmt.Sprintf("%q", v), string(attrs[name].GetData()), name)
	}

	// The memo names the account; every activity event says what it did.
	var acc struct{ Name string }
	s.admin(http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d", s.account), nil, &acc, http.StatusOK)
	require.NotEmpty(t, acc.Name)
	desc, err := s.dev.Client.DescribeWorkflowExecution(context.Background(), want, "")
	require.NoError(t, err)
	memo := desc.GetWorkflowExecutionInfo().GetMemo().GetFields()
	require.Contains(t, memo, workflows.MemoAccountName)
	dc := devDataConverter(t, s)
	var name string
	require.NoError(t, dc.FromPayload(memo[workflows.MemoAccountName], &name), "the memo decodes with the PII codec")
	assert.Equal(t, acc.Name, name)
	assert.Subset(t, activitySummaries(t, s, want), []string{
		fmt.Sprintf("IngestInbound: store 1 inbound message(s) of account %d, opening an interaction", s.account),
		fmt.Sprintf("RouteInteraction: route interaction %d", it.ID),
		fmt.Sprintf("NotifyAgents: tell the assigned agent of interaction %d", it.ID),
	})

	// Another customer's number finds nothing.
	res, err := s.dev.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("%s = '393330000802'", workflows.ContactIdentityAttr)})
	require.NoError(t, err)
	assert.Empty(t, res.Executions)
}

// activitySummaries are the summaries on the activity events of a
// workflow's history (scheduled activities and local activity markers), as
// the Temporal UI shows them.
func activitySummaries(t *testing.T, s *replyStack, wfID string) []string {
	t.Helper()
	var out []string
	it := s.dev.Client.GetWorkflowHistory(context.Background(), wfID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		p := ev.GetUserMetadata().GetSummary()
		if p == nil || (ev.GetEventType() != enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED && ev.GetEventType() != enumspb.EVENT_TYPE_MARKER_RECORDED) {
			continue
		}
		var summary string
		require.NoError(t, devDataConverter(t, s).FromPayload(p, &summary))
		out = append(out, summary)
	}
	return out
}

// devDataConverter decodes what the dev stack's clients wrote: memos and
// summaries are encrypted by the PII codec like every payload.
func devDataConverter(t *testing.T, s *replyStack) converter.DataConverter {
	t.Helper()
	codec, err := s.dev.PIICodec()
	require.NoError(t, err)
	return codec.DataConverter()
}
