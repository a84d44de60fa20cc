package web

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/internal/media"
	"github.com/xcally-connector/connector/workflows"
)

// The reply box refuses what the API refuses, in the API's words
// (api/media.go answers "file: " and the verdict's reason).
func TestAgentMatrixIsTheAPIs(t *testing.T) {
	var m struct {
		Types map[string]struct {
			Allowed bool
			Kind    string
			Message string
		}
	}
	require.NoError(t, json.Unmarshal([]byte(agentMatrixJSON), &m))
	for ext, label := range map[string]string{"gif": "GIF", "doc": "DOC", "docx": "DOCX", "wav": "WAV", "exe": "EXE"} {
		e, ok := m.Types[ext]
		require.True(t, ok, ext)
		assert.False(t, e.Allowed, ext)
		assert.Equal(t, "file: "+media.WhatsAppVerdict(media.Type{Format: ext, Label: label}).Reason, e.Message, ext)
	}
	assert.Contains(t, m.Types["gif"].Message, "GIF files cannot be sent on WhatsApp")
	for _, ext := range []string{"jpg", "jpeg", "png", "mp3", "mp4", "pdf"} {
		assert.True(t, m.Types[ext].Allowed, ext)
	}
	assert.Equal(t, "image", m.Types["jpeg"].Kind)
	assert.Equal(t, workflows.MaxReplyLength, agentMaxReplyChars)
}

func TestAgentTickNames(t *testing.T) {
	for status, want := range map[string]string{"pending": "sending", "accepted": "sent", "queued": "sent", "delivered": "delivered", "read": "read", "failed": "failed"} {
		assert.Equal(t, want, agentTickName(status), status)
	}
}
