package media

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckOutboundSizeOrder(t *testing.T) {
	cases := []struct {
		name         string
		kind         string
		size, connMx int64
		who          string // "" when allowed
		limit        int64
	}{
		{"image at Sinch's limit", KindImage, 5 * MiB, 100 * MiB, "", 0},
		{"image one byte over Sinch's", KindImage, 5*MiB + 1, 100 * MiB, WhoSinch, 5 * MiB},
		{"connector smaller than Sinch is named first", KindImage, 6 * MiB, 2 * MiB, WhoConnector, 2 * MiB},
		{"at the connector's limit", KindImage, 2 * MiB, 2 * MiB, "", 0},
		{"video over Sinch's", KindVideo, 16*MiB + 1, 100 * MiB, WhoSinch, 16 * MiB},
		{"video at the limit", KindVideo, 16 * MiB, 100 * MiB, "", 0},
		{"audio: Sinch states none, WhatsApp's applies", KindAudio, 16*MiB + 1, 100 * MiB, WhoWhatsApp, 16 * MiB},
		{"audio at WhatsApp's limit", KindAudio, 16 * MiB, 100 * MiB, "", 0},
		{"document over Sinch's", KindDocument, 100*MiB + 1, 0, WhoSinch, 100 * MiB},
		{"document over the connector's", KindDocument, 50*MiB + 1, 50 * MiB, WhoConnector, 50 * MiB},
		{"no connector limit", KindDocument, 100 * MiB, 0, "", 0},
		{"unknown kind counts as document", "", 100*MiB + 1, 0, WhoSinch, 100 * MiB},
		{"sticker: WhatsApp's 500 KiB", KindSticker, 500*KiB + 1, 0, WhoWhatsApp, 500 * KiB},
		{"empty file", KindImage, 0, 1, "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckOutboundSize(c.kind, c.size, c.connMx)
			if c.who == "" {
				assert.NoError(t, err)
				return
			}
			var se *SizeError
			require.True(t, errors.As(err, &se), "want *SizeError, got %v", err)
			assert.Equal(t, c.who, se.Who)
			assert.Equal(t, c.limit, se.Limit)
			assert.Equal(t, c.size, se.Size)
			assert.Equal(t, c.kind, se.Kind)
			if c.who == WhoConnector {
				assert.Equal(t, "MEDIA_MAX_BYTES", se.Setting)
			} else {
				assert.Empty(t, se.Setting)
			}
		})
	}
}

func TestSizeErrorMessages(t *testing.T) {
	assert.EqualError(t, CheckOutboundSize(KindImage, 6*MiB, 100*MiB),
		"file is 6.0 MiB: over Sinch's limit for image files (5.0 MiB); limits apply in this order: the connector's (MEDIA_MAX_BYTES, 100.0 MiB), then Sinch's, then WhatsApp's")
	assert.EqualError(t, CheckOutboundSize(KindImage, 6*MiB, 3*MiB),
		"file is 6.0 MiB: over the connector's limit (MEDIA_MAX_BYTES, 3.0 MiB); limits apply in this order: the connector's, then Sinch's, then WhatsApp's")
	assert.EqualError(t, CheckOutboundSize(KindAudio, 17*MiB, 0),
		"file is 17.0 MiB: over WhatsApp's limit for audio files (16.0 MiB); limits apply in this order: the connector's (MEDIA_MAX_BYTES, not set), then Sinch's, then WhatsApp's")
	// One byte over rounds like the limit: the bytes are shown.
	assert.EqualError(t, CheckOutboundSize(KindImage, 5*MiB+1, 100*MiB),
		"file is 5242881 bytes: over Sinch's limit for image files (5242880 bytes); limits apply in this order: the connector's (MEDIA_MAX_BYTES, 100.0 MiB), then Sinch's, then WhatsApp's")
	assert.EqualError(t, CheckOutboundSize(KindSticker, 600*KiB, 0),
		"file is 600.0 KiB: over WhatsApp's limit for sticker files (500.0 KiB); limits apply in this order: the connector's (MEDIA_MAX_BYTES, not set), then Sinch's, then WhatsApp's")
}

func TestInboundCap(t *testing.T) {
	jpg := Detect(sample(t, "sample.jpg"))
	mp3 := Detect(sample(t, "sample.mp3"))
	mp4 := Detect(sample(t, "sample.mp4"))
	pdf := Detect(sample(t, "sample.pdf"))
	webp := Detect(append([]byte("RIFF\x24\x00\x00\x00WEBPVP8 "), make([]byte, 24)...))
	unknown := Detect([]byte{0x00, 0x9f, 0x13, 0x77})
	cases := []struct {
		name string
		t    Type
		max  int64
		want int64
	}{
		{"image: WhatsApp's 5 MiB under the connector's", jpg, 100 * MiB, 5 * MiB},
		{"image: the connector's when smaller", jpg, 1 * MiB, 1 * MiB},
		{"audio 16 MiB", mp3, 100 * MiB, 16 * MiB},
		{"video 16 MiB", mp4, 100 * MiB, 16 * MiB},
		{"document 100 MiB", pdf, 200 * MiB, 100 * MiB},
		{"document, connector smaller", pdf, 20 * MiB, 20 * MiB},
		{"sticker 500 KiB", webp, 100 * MiB, 500 * KiB},
		{"unknown as document", unknown, 0, 100 * MiB},
		{"zero Type as document", Type{}, 0, 100 * MiB},
		{"no connector limit", jpg, 0, 5 * MiB},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, InboundCap(c.t, c.max))
		})
	}
}

func TestLimitHelpers(t *testing.T) {
	l, ok := SinchLimit(KindAudio)
	assert.False(t, ok)
	assert.Zero(t, l)
	l, ok = SinchLimit(KindVideo)
	assert.True(t, ok)
	assert.Equal(t, int64(16*MiB), l)
	assert.Equal(t, int64(100*MiB), WhatsAppLimit("hologram"))
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{
		0:             "0 bytes",
		1023:          "1023 bytes",
		KiB:           "1.0 KiB",
		1536:          "1.5 KiB",
		5 * MiB:       "5.0 MiB",
		100 * MiB:     "100.0 MiB",
		3*GiB + GiB/2: "3.5 GiB",
	} {
		assert.Equal(t, want, FormatSize(n), "%d", n)
	}
}
