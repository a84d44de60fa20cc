package media

import (
	"fmt"
	"strings"
)

// Reason codes Sinch answers (Conversation API reason codes) for the file types WhatsApp refuses.
const (
	SinchChannelFailure        = "CHANNEL_FAILURE"
	SinchBadRequest            = "BAD_REQUEST"
	SinchMediaTypeUnsupported  = "MEDIA_TYPE_UNSUPPORTED"
	otherChannel               = "use another channel such as email"
	whatsAppBusinessFewerTypes = "WhatsApp Business supports fewer file types than the standard WhatsApp application"
)

// Verdict is what WhatsApp (through Sinch) does with a file of a type.
type Verdict struct {
	// Allowed is true when WhatsApp delivers files of the type.
	Allowed bool
	// Kind is image, audio, video or document when Allowed, else "".
	Kind string
	// AsLink is true for documents, which WhatsApp shows as a link
	// (Motion's Sinch V2 guide: "PDF → shown as link") rather than with a
	// preview.
	AsLink bool
	// SinchCode is what Sinch answers for a refused type (Motion's Sinch V2
	// guide, "Supported attachment"): GIF →
	// "CHANNEL_FAILURE"; DOC, DOCX → "CHANNEL_FAILURE"; WAV, EXE →
	// "BAD_REQUEST"; every other type → "MEDIA_TYPE_UNSUPPORTED". Empty
	// when Allowed.
	SinchCode string
	// Reason is the full sentence for the agent when refused, naming the
	// type and suggesting what to do instead. Empty when Allowed.
	Reason string
}

// accepted is one row of the matrix of types WhatsApp takes.
type accepted struct {
	kind  string
	label string // as listed to agents
}

// whatsAppAccepted is the "Supported attachment" list of Motion's Sinch V2
// guide (JPG, PNG, MP3, MP4 natively; PDF, CSV, DLL as links) plus the
// formats Sinch's WhatsApp message-support page lists as accepted: 3GP video, AAC, AMR, M4A (audio MP4) and Ogg Opus
// audio.
var whatsAppAccepted = map[string]accepted{
	"jpg":  {KindImage, "JPG"},
	"png":  {KindImage, "PNG"},
	"mp3":  {KindAudio, "MP3"},
	"mp4":  {KindVideo, "MP4"},
	"pdf":  {KindDocument, "PDF"},
	"csv":  {KindDocument, "CSV"},
	"dll":  {KindDocument, "DLL"},
	"3gp":  {KindVideo, "3GP"},
	"aac":  {KindAudio, "AAC"},
	"amr":  {KindAudio, "AMR"},
	"m4a":  {KindAudio, "M4A"},
	"opus": {KindAudio, "Ogg Opus"},
}

// acceptedOrder lists the accepted formats in the order agents read them:
// Motion's list first, then the ones only Sinch's page names.
var acceptedOrder = []string{"jpg", "png", "mp3", "mp4", "pdf", "csv", "dll", "3gp", "aac", "amr", "m4a", "opus"}

// WhatsAppSupportedLabels lists the labels of the types WhatsApp accepts,
// in the order refusal messages name them.
func WhatsAppSupportedLabels() []string {
	labels := make([]string, len(acceptedOrder))
	for i, f := range acceptedOrder {
		labels[i] = whatsAppAccepted[f].label
	}
	return labels
}

// supportedList is the sentence fragment naming every accepted type.
var supportedList = func() string {
	l := WhatsAppSupportedLabels()
	return strings.Join(l[:len(l)-1], ", ") + " and " + l[len(l)-1]
}()

// WhatsAppVerdict says whether WhatsApp, through Sinch, takes a file of
// type t from an agent, and if not, what Sinch would answer and what the
// agent is told.
func WhatsAppVerdict(t Type) Verdict {
	if a, ok := whatsAppAccepted[t.Format]; ok {
		return Verdict{Allowed: true, Kind: a.kind, AsLink: a.kind == KindDocument}
	}
	label := t.Label
	if label == "" {
		label = strings.ToUpper(t.Format)
	}
	switch t.Format {
	case "gif":
		return refused(SinchChannelFailure, "GIF files cannot be sent on WhatsApp (Meta does not support them; Sinch answers CHANNEL_FAILURE): convert it to JPG or PNG, or "+otherChannel)
	case "doc", "docx":
		// Motion's Sinch V2 guide: "DOC → Error CHANNEL_FAILURE"; its
		// MEDIA_TYPE_UNSUPPORTED note names DOC and DOCX as its example.
		return refused(SinchChannelFailure, fmt.Sprintf("%s files cannot be sent on WhatsApp (%s; Sinch answers CHANNEL_FAILURE or MEDIA_TYPE_UNSUPPORTED): save it as PDF, or %s", label, whatsAppBusinessFewerTypes, otherChannel))
	case "wav":
		return refused(SinchBadRequest, "WAV files cannot be sent on WhatsApp (Sinch answers BAD_REQUEST): convert it to MP3, or "+otherChannel)
	case "exe":
		return refused(SinchBadRequest, "EXE files cannot be sent on WhatsApp (Sinch answers BAD_REQUEST): "+otherChannel)
	case "ogg":
		return refused(SinchMediaTypeUnsupported, "OGG audio files can be sent on WhatsApp only when they are encoded with Opus, and this one is not (Sinch answers MEDIA_TYPE_UNSUPPORTED): convert it to MP3, or "+otherChannel)
	case "bin", "":
		return refused(SinchMediaTypeUnsupported, "Files of an unrecognised type cannot be sent on WhatsApp (Sinch answers MEDIA_TYPE_UNSUPPORTED; WhatsApp accepts "+supportedList+" files): "+otherChannel)
	}
	return refused(SinchMediaTypeUnsupported, fmt.Sprintf("%s files cannot be sent on WhatsApp (Sinch answers MEDIA_TYPE_UNSUPPORTED; WhatsApp accepts %s files): %s", label, supportedList, otherChannel))
}

// refused is the Verdict for a type WhatsApp does not take.
func refused(code, reason string) Verdict {
	return Verdict{SinchCode: code, Reason: reason}
}
