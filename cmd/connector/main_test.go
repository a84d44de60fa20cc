package main

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/app"
)

func TestRunUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"-h"}, {"--help"}, {"help"}} {
		err := run(context.Background(), args)
		var e *app.ExitError
		require.True(t, errors.As(err, &e), "args %q", args)
		assert.Equal(t, 2, e.Code, "args %q", args)
		assert.Equal(t, usage, e.Msg, "args %q", args)
	}
}

func TestRunSubcommandError(t *testing.T) {
	err := run(context.Background(), []string{"bench", "no-such-scenario"})
	var e *app.ExitError
	require.True(t, errors.As(err, &e))
	assert.Equal(t, 1, e.Code)
	assert.Contains(t, e.Msg, "connector bench: ")
}

func TestRunUnknownCommandShowsUsage(t *testing.T) {
	err := run(context.Background(), []string{"wrker"})
	var e *app.ExitError
	require.True(t, errors.As(err, &e))
	assert.Equal(t, 2, e.Code)
	assert.Contains(t, e.Msg, `unknown command "wrker"`)
	assert.Contains(t, e.Msg, usage)
}
