package api

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Released streams free their place: only streams still open count, and
// the oldest of those is the one superseded.
func TestStreamRegistryCountsOpenStreams(t *testing.T) {
	r := newStreamRegistry(3)
	var sup []<-chan struct{}
	var rel []func()
	for range 3 {
		s, release := r.open(1)
		sup, rel = append(sup, s), append(rel, release)
	}
	rel[0]()
	rel[1]()
	for range 2 {
		s, release := r.open(1)
		sup, rel = append(sup, s), append(rel, release)
	}
	for i, s := range sup {
		assert.False(t, closed(s), "stream %d: three open after two were released", i)
	}
	s, _ := r.open(1)
	assert.True(t, closed(sup[2]), "the oldest open stream is superseded")
	assert.False(t, closed(sup[3]))
	assert.False(t, closed(s))
	other, _ := r.open(2)
	assert.False(t, closed(other))

	rel[2]() // releasing a superseded stream is harmless
	for _, release := range rel[3:] {
		release()
	}
	assert.Len(t, r.byAgent[1], 1)
}
