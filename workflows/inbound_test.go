package workflows_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/internal/fixtures"
	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/workflows"
)

// Sinch's own fixtures of both media shapes carry their URL (and a media
// message its file name) into the signal, which records the attachment.
func TestInboundSignalOfMediaFixtures(t *testing.T) {
	for _, c := range []struct {
		file, kind, filename string
	}{
		{"messages/ContactMessageMediaDto.json", "media", "filename override value"},
		{"messages/ContactMessageMediaCardDto.json", "media_card", ""},
		{"messages/ContactMessageTextDto.json", "text", ""},
	} {
		t.Run(c.file, func(t *testing.T) {
			raw := fixtures.Read(t, c.file)
			var cm sinch.ContactMessage
			require.NoError(t, json.Unmarshal(raw, &cm))
			sig := workflows.InboundSignalOf(sinch.InboundMessage{ID: "m1", ContactMessage: cm}, string(raw), time.Now())
			assert.Equal(t, c.kind, sig.Kind)
			if c.kind == "text" {
				assert.Empty(t, sig.MediaURL)
				return
			}
			assert.Equal(t, "an url value", sig.MediaURL)
			assert.Equal(t, c.filename, sig.Filename)
		})
	}
}
