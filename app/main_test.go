package app_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/app"
	"github.com/xcally-connector/connector/config"
)

// Main's exit codes: 2 for what the operator typed or configured wrong
// (named in the message), 0 for a role that did its work.
func TestMainExitCodes(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	run := func(role string, args []string, kv map[string]string) (error, string, string) {
		var out, errOut bytes.Buffer
		err := app.Main(context.Background(), config.Role(role), args, env(kv), &out, &errOut)
		return err, out.String(), errOut.String()
	}
	exitOf := func(t *testing.T, err error) *app.ExitError {
		t.Helper()
		var e *app.ExitError
		require.ErrorAs(t, err, &e)
		return e
	}

	t.Run("an unknown command is refused before the configuration is read", func(t *testing.T) {
		err, _, _ := run("wrker", nil, nil)
		e := exitOf(t, err)
		assert.Equal(t, 2, e.Code)
		assert.Contains(t, e.Msg, `unknown command "wrker"`)
	})
	t.Run("a configuration error names the role and the variable", func(t *testing.T) {
		err, _, _ := run("api", nil, map[string]string{"DATABASE_URL": "postgres://x@127.0.0.1:1/db", "TEMPORAL_ADDRESS": "127.0.0.1:1"})
		e := exitOf(t, err)
		assert.Equal(t, 2, e.Code)
		assert.Contains(t, e.Msg, "connector api: configuration error")
		assert.Contains(t, e.Msg, "ADMIN_TOKEN")
	})
	t.Run("search-key with hashing off says what to search for instead", func(t *testing.T) {
		err, _, _ := run("search-key", []string{"+39 333", "1234567"}, nil)
		e := exitOf(t, err)
		assert.Equal(t, 2, e.Code)
		assert.Contains(t, e.Msg, `ContactIdentity="393331234567"`)
	})
	t.Run("dev -h prints the flags and succeeds", func(t *testing.T) {
		err, _, stderr := run("dev", []string{"-h"}, map[string]string{"DATA_DIR": t.TempDir()})
		require.NoError(t, err)
		assert.Contains(t, stderr, "-demo")
	})
}
