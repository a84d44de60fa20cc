package emulator

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/sinch"
)

// The fan-out reads the trigger of a body the way the connector's decoder
// does.
func TestCallbackTriggerMatchesDecoder(t *testing.T) {
	for key, want := range triggerKeys {
		body := []byte(`{"app_id":"a","project_id":"p","accepted_time":"2024-01-01T00:00:00Z","` + key + `":{}}`)
		cb, err := sinch.DecodeCallback(body)
		require.NoError(t, err, key)
		assert.Equal(t, want, cb.Trigger, key)
		assert.Equal(t, want, callbackTrigger(body), key)
		assert.Contains(t, webhookTriggers, string(want), "%s: a trigger a webhook can name", key)
	}
	assert.Equal(t, sinch.Trigger(""), callbackTrigger([]byte(`{"app_id":"a"}`)))
	assert.Equal(t, sinch.Trigger(""), callbackTrigger([]byte(`{"message":null}`)))
	assert.Equal(t, sinch.Trigger(""), callbackTrigger([]byte(`[]`)))
}
