package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/xcally-connector/connector/internal/testdb"
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

	// Another customer's number finds nothing.
	res, err := s.dev.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("%s = '393330000802'", workflows.ContactIdentityAttr)})
	require.NoError(t, err)
	assert.Empty(t, res.Executions)
}
