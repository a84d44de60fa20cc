package main

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"-h"}, {"--help"}, {"help"}} {
		err := run(context.Background(), args)
		var e *exitError
		require.True(t, errors.As(err, &e), "args %q", args)
		assert.Equal(t, 2, e.code, "args %q", args)
		assert.Equal(t, usage, e.msg, "args %q", args)
	}
}

func TestRunSubcommandError(t *testing.T) {
	err := run(context.Background(), []string{"bench", "no-such-scenario"})
	var e *exitError
	require.True(t, errors.As(err, &e))
	assert.Equal(t, 1, e.code)
	assert.Contains(t, e.msg, "connector bench: ")
}
