package worker_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/xcally-connector/connector/worker"
	"github.com/xcally-connector/connector/workflows"
)

// TestReplayRecordedHistories replays every history in workflows/testdata
// against the workflows as registered by worker.Register: a change that
// alters the command sequence of a shipped workflow without a GetVersion gate
// fails here.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "workflows", "testdata", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no recorded histories")
	replayer := sdkworker.NewWorkflowReplayer()
	worker.RegisterWorkflows(replayer)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			assert.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, f))
		})
	}
}

// TestEveryShippedWorkflowHasAHistory keeps the replay set complete: each
// workflow name in workflows/messages.go needs a recorded history.
func TestEveryShippedWorkflowHasAHistory(t *testing.T) {
	shipped := []string{workflows.DiagnosticsWorkflowName, workflows.ConversationWorkflowName, workflows.ReconcileWorkflowName, workflows.MediaFetchWorkflowName, workflows.MigrationWorkflowName, workflows.RetentionWorkflowName, workflows.AgentReleaseWorkflowName}
	var all strings.Builder
	files, _ := filepath.Glob(filepath.Join("..", "workflows", "testdata", "*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		all.Write(b)
	}
	for _, name := range shipped {
		assert.Contains(t, all.String(), `"name": "`+name+`"`, "record a history for %s (UPDATE_REPLAY_HISTORIES=1)", name)
	}
}
