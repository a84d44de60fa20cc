package devserver_test

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/xcally-connector/connector/devserver"
)

var attrs = map[string]enumspb.IndexedValueType{
	"AccountId": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	"Channel":   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
}

func start(t *testing.T, dbPath string, extra map[string]enumspb.IndexedValueType) *devserver.Server {
	t.Helper()
	sa := map[string]enumspb.IndexedValueType{}
	for k, v := range attrs {
		sa[k] = v
	}
	for k, v := range extra {
		sa[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := devserver.Start(ctx, devserver.Options{
		FrontendAddr: "127.0.0.1:0", UIAddr: "127.0.0.1:0", DBPath: dbPath,
		Namespace: "test-ns", SearchAttributes: sa,
	})
	require.NoError(t, err)
	return s
}

func dial(t *testing.T, s *devserver.Server) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: s.FrontendAddr(), Namespace: "test-ns"})
	require.NoError(t, err)
	return c
}

// TestDataSurvivesRestart starts a workflow, restarts the engine on the same
// SQLite file and finds the workflow (and the search attributes) again; a
// search attribute added by a newer binary is registered on the old file.
func TestDataSurvivesRestart(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "temporal.db")
	s := start(t, dbPath, nil)
	c := dial(t, s)
	ctx := context.Background()
	// No worker polls this queue: the run simply stays open.
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "persist-me", TaskQueue: "nobody"}, "SomeWorkflow")
	require.NoError(t, err)

	resp, err := http.Get(s.UIURL())
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), "<html", "the Web UI is served")
	c.Close()
	s.Stop()

	s = start(t, dbPath, map[string]enumspb.IndexedValueType{"QueueId": enumspb.INDEXED_VALUE_TYPE_KEYWORD})
	defer s.Stop()
	c = dial(t, s)
	defer c.Close()
	desc, err := c.DescribeWorkflowExecution(ctx, "persist-me", run.GetRunID())
	require.NoError(t, err, "the workflow is still there after a restart")
	assert.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, desc.GetWorkflowExecutionInfo().GetStatus())

	sa, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "test-ns"})
	require.NoError(t, err)
	for _, name := range []string{"AccountId", "Channel", "QueueId"} {
		assert.Equal(t, enumspb.INDEXED_VALUE_TYPE_KEYWORD, sa.GetCustomAttributes()[name], name)
	}
}

func TestStartFailsClearlyWhenPortTaken(t *testing.T) {
	s := start(t, "", nil)
	defer s.Stop()
	_, err := devserver.Start(context.Background(), devserver.Options{FrontendAddr: s.FrontendAddr(), Namespace: "x"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is taken")
}
