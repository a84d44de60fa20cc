//go:build topology

package faults_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/faults"
)

// TestTopology runs the production shape on this machine (two engine
// processes forming one cluster on Postgres, two APIs behind a balancer,
// two workers, the Sinch emulator) through 2,000 customer messages into
// 200 conversations and 200 agent replies while one engine process, one
// worker and one API are SIGKILLed, and requires every message stored
// once, every reply at its customer once, both workers and both APIs at
// work, and the app's send rate held across the two workers.
func TestTopology(t *testing.T) {
	dsn := os.Getenv("TEST_DATABASE_URL")
	if dsn == "" {
		require.NotEqual(t, "true", os.Getenv("CI"), "TEST_DATABASE_URL is not set: CI must give the topology test its Postgres")
		dsn = faults.DefaultDatabaseURL
	}
	res, err := faults.RunTopology(context.Background(), faults.TopologyOptions{
		Binary: binary, DatabaseURL: dsn, Progress: logWriter{t},
	})
	var table strings.Builder
	faults.PrintTopology(&table, res)
	t.Log("topology table:\n" + table.String())
	require.NoError(t, err)
	assert.True(t, res.Passed)
	assert.Equal(t, 2000, res.Inbound.Sent)
	assert.Equal(t, 200, res.Replies.Sent)
	assert.Len(t, res.Kills, 3, "an engine process, a worker and an API were killed")
}
