package media

import "fmt"

// Size units.
const (
	KiB = 1 << 10
	MiB = 1 << 20
	GiB = 1 << 30
)

// Who sets a size limit, in the order limits apply (Motion's Sinch V2 guide:
// "Attached weight > Motion limits > SINCH limits > Whatsapp limits").
const (
	WhoConnector = "connector"
	WhoSinch     = "Sinch"
	WhoWhatsApp  = "WhatsApp"
)

// SettingMaxBytes is the setting that holds the connector's own limit.
const SettingMaxBytes = "MEDIA_MAX_BYTES"

// sinchLimits are Sinch's post-processing limits (its WhatsApp
// message-support page). Sinch states
// none for audio, nor for stickers, which agents do not send.
var sinchLimits = map[string]int64{
	KindImage:    5 * MiB,
	KindVideo:    16 * MiB,
	KindDocument: 100 * MiB,
}

// whatsAppLimits are Meta's limits (WhatsApp Cloud API media docs; animated
// stickers 500 KB).
var whatsAppLimits = map[string]int64{
	KindImage:    5 * MiB,
	KindAudio:    16 * MiB,
	KindVideo:    16 * MiB,
	KindDocument: 100 * MiB,
	KindSticker:  500 * KiB,
}

// SinchLimit is Sinch's limit for files of kind; ok is false when Sinch
// states none (audio, stickers). Unknown kinds count as documents.
func SinchLimit(kind string) (limit int64, ok bool) {
	if _, known := whatsAppLimits[kind]; !known {
		kind = KindDocument
	}
	limit, ok = sinchLimits[kind]
	return limit, ok
}

// WhatsAppLimit is WhatsApp's limit for files of kind. Unknown kinds count
// as documents (100 MiB).
func WhatsAppLimit(kind string) int64 {
	if l, ok := whatsAppLimits[kind]; ok {
		return l
	}
	return whatsAppLimits[KindDocument]
}

// SizeError: the file is over one limit; Error() names which limit, the
// numbers, and the order in which limits apply.
type SizeError struct {
	Size  int64
	Limit int64
	// Who is WhoConnector, WhoSinch or WhoWhatsApp.
	Who  string
	Kind string
	// Setting is the setting that holds the limit: SettingMaxBytes for the
	// connector's, "" for the others.
	Setting string
	// ConnectorLimit is the connector's limit that was in force (0 when
	// none), so that the message can state the whole order of limits.
	ConnectorLimit int64
}

// Error reads, for example, "file is 6.0 MiB: over Sinch's limit for image
// files (5.0 MiB); limits apply in this order: the connector's
// (MEDIA_MAX_BYTES, 100.0 MiB), then Sinch's, then WhatsApp's".
func (e *SizeError) Error() string {
	size, limit := FormatSize(e.Size), FormatSize(e.Limit)
	if size == limit {
		// 5 MiB and 5 MiB + 1 byte round alike: show the bytes.
		size, limit = fmt.Sprintf("%d bytes", e.Size), fmt.Sprintf("%d bytes", e.Limit)
	}
	const order = "limits apply in this order: the connector's%s, then Sinch's, then WhatsApp's"
	if e.Who == WhoConnector {
		setting := e.Setting
		if setting == "" {
			setting = SettingMaxBytes
		}
		return fmt.Sprintf("file is %s: over the connector's limit (%s, %s); "+order, size, setting, limit, "")
	}
	connector := " (" + SettingMaxBytes + ", not set)"
	if e.ConnectorLimit > 0 {
		connector = fmt.Sprintf(" (%s, %s)", SettingMaxBytes, FormatSize(e.ConnectorLimit))
	}
	return fmt.Sprintf("file is %s: over %s's limit for %s files (%s); "+order, size, e.Who, e.Kind, limit, connector)
}

// FormatSize writes n bytes in GiB, MiB, KiB (one decimal) or bytes.
func FormatSize(n int64) string {
	switch {
	case n >= GiB:
		return fmt.Sprintf("%.1f GiB", float64(n)/GiB)
	case n >= MiB:
		return fmt.Sprintf("%.1f MiB", float64(n)/MiB)
	case n >= KiB:
		return fmt.Sprintf("%.1f KiB", float64(n)/KiB)
	}
	return fmt.Sprintf("%d bytes", n)
}

// CheckOutboundSize checks size against, in this order: the connector's own
// limit (connectorMax, setting MEDIA_MAX_BYTES; 0 or less means none),
// Sinch's limit for the kind (its WhatsApp page: image 5 MiB, video 16 MiB, document
// 100 MiB; audio: not stated by Sinch, skipped), then WhatsApp's (Meta:
// image 5 MiB, audio 16 MiB, video 16 MiB, document 100 MiB). A file
// exactly at a limit passes. It returns a *SizeError for the first limit
// exceeded, nil otherwise. Unknown kinds are checked as documents.
func CheckOutboundSize(kind string, size, connectorMax int64) error {
	over := func(limit int64, who, setting string) error {
		return &SizeError{Size: size, Limit: limit, Who: who, Kind: kind, Setting: setting, ConnectorLimit: max(connectorMax, 0)}
	}
	if connectorMax > 0 && size > connectorMax {
		return over(connectorMax, WhoConnector, SettingMaxBytes)
	}
	if l, ok := SinchLimit(kind); ok && size > l {
		return over(l, WhoSinch, "")
	}
	if l := WhatsAppLimit(kind); size > l {
		return over(l, WhoWhatsApp, "")
	}
	return nil
}

// InboundCap is the largest file accepted when fetching a customer's media
// of type t: min(connectorMax, WhatsApp's limit for t.Kind), with stickers
// 500 KiB (Meta: animated stickers 500 KB) and unknown kinds and documents
// 100 MiB. connectorMax 0 or less means the connector sets no limit.
func InboundCap(t Type, connectorMax int64) int64 {
	l := WhatsAppLimit(t.Kind)
	if connectorMax > 0 && connectorMax < l {
		return connectorMax
	}
	return l
}
