// Package logctx carries log fields and a per-account debug switch through
// a context.Context into slog. Handler wraps the process's slog handler: it
// adds the fields of the record's context (request_id, account_id,
// workflow_id, …) and lets debug records through, whatever LOG_LEVEL says,
// for a context or logger marked with ForceDebug (an account whose debug
// flag is on). It imports nothing of this module and decides nothing
// about what is logged beyond the level.
package logctx

import (
	"context"
	"log/slog"
	"sync"
)

type fieldsKey struct{}
type debugKey struct{}

// fields is the mutable set of attributes of one request: handlers add the
// workflow id they start or signal, and the request's own log line (logged
// after the handler returned) carries it.
type fields struct {
	mu    sync.Mutex
	attrs []slog.Attr
}

// With returns ctx carrying attrs (merged with the fields already there).
// Fields added later with Add to the returned context, or any context
// derived from it, show on every record logged with it.
func With(ctx context.Context, attrs ...slog.Attr) context.Context {
	f := &fields{}
	if old, ok := ctx.Value(fieldsKey{}).(*fields); ok {
		f.attrs = old.snapshot()
	}
	f.set(attrs)
	return context.WithValue(ctx, fieldsKey{}, f)
}

// Add sets attrs on the fields of ctx (see With); without fields it does
// nothing. An attribute already present is replaced.
func Add(ctx context.Context, attrs ...slog.Attr) {
	if f, ok := ctx.Value(fieldsKey{}).(*fields); ok {
		f.set(attrs)
	}
}

// Attrs are the fields of ctx.
func Attrs(ctx context.Context) []slog.Attr {
	if f, ok := ctx.Value(fieldsKey{}).(*fields); ok {
		return f.snapshot()
	}
	return nil
}

func (f *fields) set(attrs []slog.Attr) {
	f.mu.Lock()
	defer f.mu.Unlock()
next:
	for _, a := range attrs {
		for i := range f.attrs {
			if f.attrs[i].Key == a.Key {
				f.attrs[i] = a
				continue next
			}
		}
		f.attrs = append(f.attrs, a)
	}
}

func (f *fields) snapshot() []slog.Attr {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]slog.Attr(nil), f.attrs...)
}

// ForceDebug marks ctx so that records logged with it pass at debug level.
func ForceDebug(ctx context.Context) context.Context {
	return context.WithValue(ctx, debugKey{}, true)
}

// Forced reports whether ctx was marked with ForceDebug.
func Forced(ctx context.Context) bool {
	v, _ := ctx.Value(debugKey{}).(bool)
	return v
}

// Handler is the slog.Handler wrapper. Its inner handler must accept every
// level (Handle does not filter; slog's Handlers check levels only in
// Enabled): Level decides, unless the record is forced to debug.
type Handler struct {
	inner slog.Handler
	// level is LOG_LEVEL; nil defers to the inner handler's Enabled.
	level slog.Leveler
	force bool
	// own are the top-level keys the logger already carries (With), which
	// the context's fields must not repeat.
	own   map[string]bool
	group bool
}

// NewHandler wraps inner (built to accept debug records) with level.
func NewHandler(inner slog.Handler, level slog.Leveler) *Handler {
	return &Handler{inner: inner, level: level}
}

// Wrap makes a logger understand this package's context fields and forced
// debug: a logger built by NewHandler is returned as is, any other is
// wrapped, keeping its handler's own level.
func Wrap(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	if _, ok := l.Handler().(*Handler); ok {
		return l
	}
	return slog.New(&Handler{inner: l.Handler()})
}

// Debug returns the logger with debug records forced through (an account
// whose debug flag is on); other loggers are wrapped first.
func Debug(l *slog.Logger) *slog.Logger {
	h := Wrap(l).Handler().(*Handler)
	if h.force {
		return l
	}
	c := *h
	c.force = true
	return slog.New(&c)
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool {
	if h.force || Forced(ctx) {
		return true
	}
	if h.level != nil {
		return l >= h.level.Level()
	}
	return h.inner.Enabled(ctx, l)
}

// Handle implements slog.Handler: the context's fields are added, except
// those the record names itself.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if attrs := Attrs(ctx); len(attrs) > 0 {
		own := map[string]bool{}
		for k := range h.own {
			own[k] = true
		}
		r.Attrs(func(a slog.Attr) bool {
			own[a.Key] = true
			return true
		})
		r = r.Clone()
		for _, a := range attrs {
			if !own[a.Key] {
				r.AddAttrs(a)
			}
		}
	}
	return h.inner.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.inner = h.inner.WithAttrs(attrs)
	if !h.group {
		c.own = make(map[string]bool, len(h.own)+len(attrs))
		for k := range h.own {
			c.own[k] = true
		}
		for _, a := range attrs {
			c.own[a.Key] = true
		}
	}
	return &c
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	c := *h
	c.inner = h.inner.WithGroup(name)
	c.group = c.group || name != ""
	return &c
}
