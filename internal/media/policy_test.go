package media

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWhatsAppVerdictMatrix(t *testing.T) {
	opus := Detect(oggPage("OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00"))
	vorbis := Detect(oggPage("\x01vorbis\x00\x00\x00\x00\x01\x44\xac\x00\x00"))
	cases := []struct {
		name    string
		t       Type
		allowed bool
		kind    string
		asLink  bool
		code    string
		reason  []string // substrings the refusal must contain
	}{
		// The "Supported attachment" list of Motion's Sinch V2 guide.
		{name: "JPG", t: Detect(sample(t, "sample.jpg")), allowed: true, kind: KindImage},
		{name: "JPEG", t: Detect(sample(t, "sample.jpeg")), allowed: true, kind: KindImage},
		{name: "PNG", t: Detect(sample(t, "sample.png")), allowed: true, kind: KindImage},
		{name: "MP3", t: Detect(sample(t, "sample.mp3")), allowed: true, kind: KindAudio},
		{name: "MP4", t: Detect(sample(t, "sample.mp4")), allowed: true, kind: KindVideo},
		{name: "PDF", t: Detect(sample(t, "sample.pdf")), allowed: true, kind: KindDocument, asLink: true},
		{name: "CSV", t: Detect(sample(t, "sample.csv")), allowed: true, kind: KindDocument, asLink: true},
		{name: "DLL", t: Detect(sample(t, "sample.dll")), allowed: true, kind: KindDocument, asLink: true},
		{name: "GIF", t: Detect(sample(t, "sample.gif")), code: "CHANNEL_FAILURE", reason: []string{"GIF files cannot be sent on WhatsApp", "Meta does not support them", "CHANNEL_FAILURE", "JPG or PNG", "email"}},
		{name: "DOC", t: Detect(sample(t, "sample.doc")), code: "CHANNEL_FAILURE", reason: []string{"DOC files cannot be sent on WhatsApp", "WhatsApp Business supports fewer file types than the standard WhatsApp application", "PDF", "email"}},
		{name: "DOCX", t: Detect(sample(t, "sample.docx")), code: "CHANNEL_FAILURE", reason: []string{"DOCX files cannot be sent on WhatsApp", "WhatsApp Business supports fewer file types", "email"}},
		{name: "WAV", t: Detect(sample(t, "sample.wav")), code: "BAD_REQUEST", reason: []string{"WAV files cannot be sent on WhatsApp", "BAD_REQUEST", "MP3", "email"}},
		{name: "EXE", t: Detect(sample(t, "sample.exe")), code: "BAD_REQUEST", reason: []string{"EXE files cannot be sent on WhatsApp", "BAD_REQUEST", "email"}},
		// Accepted by Sinch's WhatsApp message-support page, not listed by Motion.
		{name: "3GP", t: Detect(ftyp("3gp4")), allowed: true, kind: KindVideo},
		{name: "AAC", t: Detect(append([]byte{0xFF, 0xF1, 0x50, 0x80}, make([]byte, 60)...)), allowed: true, kind: KindAudio},
		{name: "AMR", t: Detect([]byte("#!AMR\n\x3c\x00\x00\x00")), allowed: true, kind: KindAudio},
		{name: "M4A", t: Detect(ftyp("M4A ")), allowed: true, kind: KindAudio},
		{name: "Ogg Opus", t: opus, allowed: true, kind: KindAudio},
		{name: "plain Ogg", t: vorbis, code: "MEDIA_TYPE_UNSUPPORTED", reason: []string{"OGG audio files", "Opus", "MP3", "email"}},
		// Everything else.
		{name: "ZIP", t: Detect(zipOf(t, "a.txt")), code: "MEDIA_TYPE_UNSUPPORTED", reason: []string{"ZIP files cannot be sent on WhatsApp", "JPG, PNG, MP3, MP4, PDF, CSV, DLL", "email"}},
		{name: "TXT", t: Detect([]byte("hello\n")), code: "MEDIA_TYPE_UNSUPPORTED", reason: []string{"TXT files cannot be sent", "JPG, PNG, MP3, MP4, PDF, CSV, DLL", "email"}},
		{name: "WEBP", t: Detect(append([]byte("RIFF\x24\x00\x00\x00WEBPVP8 "), make([]byte, 24)...)), code: "MEDIA_TYPE_UNSUPPORTED", reason: []string{"WEBP files cannot be sent", "email"}},
		{name: "unknown", t: Detect([]byte{0x00, 0x9f, 0x13, 0x77}), code: "MEDIA_TYPE_UNSUPPORTED", reason: []string{"unrecognised type", "JPG, PNG, MP3, MP4, PDF, CSV, DLL", "email"}},
		{name: "zero Type", t: Type{}, code: "MEDIA_TYPE_UNSUPPORTED", reason: []string{"unrecognised type", "email"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := WhatsAppVerdict(c.t)
			assert.Equal(t, c.allowed, v.Allowed, "allowed")
			assert.Equal(t, c.kind, v.Kind, "kind")
			assert.Equal(t, c.asLink, v.AsLink, "as link")
			assert.Equal(t, c.code, v.SinchCode, "Sinch code")
			if c.allowed {
				assert.Empty(t, v.Reason)
				return
			}
			for _, s := range c.reason {
				assert.Contains(t, v.Reason, s)
			}
			assert.False(t, strings.HasSuffix(v.Reason, "."), "no final full stop: callers append")
		})
	}
}

func TestWhatsAppVerdictGIFReasonVerbatim(t *testing.T) {
	assert.Equal(t,
		"GIF files cannot be sent on WhatsApp (Meta does not support them; Sinch answers CHANNEL_FAILURE): convert it to JPG or PNG, or use another channel such as email",
		WhatsAppVerdict(Detect(sample(t, "sample.gif"))).Reason)
}

func TestWhatsAppSupportedLabels(t *testing.T) {
	labels := WhatsAppSupportedLabels()
	require.Equal(t, []string{"JPG", "PNG", "MP3", "MP4", "PDF", "CSV", "DLL", "3GP", "AAC", "AMR", "M4A", "Ogg Opus"}, labels)
	labels[0] = "changed"
	assert.Equal(t, "JPG", WhatsAppSupportedLabels()[0], "callers get a copy")
	assert.Len(t, acceptedOrder, len(whatsAppAccepted), "every accepted format is listed once")
}
