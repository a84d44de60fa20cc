//go:build faults

package faults_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/faults"
)

// The short version of the suite.
const (
	shortMessages = 200
	shortReplies  = 3
	shortOutage   = 5 * time.Second
	// dbCutOutage outlasts a database activity's StartToCloseTimeout
	// (30 s): a shorter cut would not catch writes that give up then.
	dbCutOutage  = 35 * time.Second
	shortTimeout = 4 * time.Minute
)

// TestFaultSuite runs every case in its short version on the Postgres of
// TEST_DATABASE_URL (the local one by default) and requires each to store
// everything it sent exactly once.
func TestFaultSuite(t *testing.T) {
	dsn := os.Getenv("TEST_DATABASE_URL")
	if dsn == "" {
		require.NotEqual(t, "true", os.Getenv("CI"), "TEST_DATABASE_URL is not set: CI must give the fault suite its Postgres")
		dsn = faults.DefaultDatabaseURL
	}
	var results []faults.Result
	t.Cleanup(func() {
		var b strings.Builder
		faults.PrintTable(&b, results)
		t.Log("fault table (short version):\n" + b.String())
	})
	for _, name := range faults.CaseNames() {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), shortTimeout+time.Minute)
			defer cancel()
			outage := shortOutage
			if name == "db-cut" {
				outage = dbCutOutage
			}
			res, err := faults.Run(ctx, faults.Options{
				Binary: binary, DatabaseURL: dsn, Cases: []string{name},
				Messages: shortMessages, Replies: shortReplies, Outage: outage, Timeout: shortTimeout,
				Progress: logWriter{t},
			})
			require.NoError(t, err)
			require.Len(t, res, 1)
			r := res[0]
			results = append(results, r)
			want := shortMessages
			if name == "reply-kill" {
				want = 2 * shortReplies
			}
			assert.Empty(t, r.Error, "logs: %s", r.Logs)
			assert.Equal(t, want, r.Sent, "everything was sent")
			assert.Equal(t, r.Sent, r.Stored, "stored (at the customer for replies)")
			assert.Zero(t, r.Lost, "lost")
			assert.Zero(t, r.Duplicated, "duplicated")
			assert.Zero(t, r.Unexpected, "stored that nothing sent")
			assert.True(t, r.Passed)
		})
	}
}
