package ptr

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestValue(t *testing.T) {
	s, f := "x", 1.5
	assert.Equal(t, "x", Value(&s))
	assert.Equal(t, "", Value[string](nil))
	assert.Equal(t, 1.5, Value(&f))
	assert.Equal(t, 0.0, Value[float64](nil))
	assert.True(t, Value[time.Time](nil).IsZero())
}
