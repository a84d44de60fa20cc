// Package sleep waits for a duration unless a context ends first. It is a
// leaf library: it imports nothing of the connector.
package sleep

import (
	"context"
	"time"
)

// For waits d or until ctx ends, whichever comes first; it reports whether
// the full delay passed. A d of zero or less returns at once, true unless
// ctx has already ended.
func For(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
