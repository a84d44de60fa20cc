package config

import (
	"io"
	"log/slog"

	"github.com/xcally-connector/connector/internal/logctx"
)

// NewLogger builds the process logger from LOG_LEVEL and LOG_FORMAT. Its
// handler (logctx.Handler) adds a context's request_id, account_id and
// workflow_id, and passes debug records of an account whose debug flag is
// on whatever LOG_LEVEL says; the inner handler therefore accepts debug.
func (c *Config) NewLogger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	var inner slog.Handler = slog.NewTextHandler(w, opts)
	if c.LogFormat == "json" {
		inner = slog.NewJSONHandler(w, opts)
	}
	return slog.New(logctx.NewHandler(inner, c.LogLevel))
}
