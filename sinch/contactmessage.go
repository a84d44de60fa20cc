package sinch

import (
	"encoding/json"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// Kind names the content of a contact message: "text", "media",
// "media_card", "location", "choice_response", "fallback",
// "product_response", "channel_specific", or "" when none is set. When more
// than one is set (Sinch sends one), the first in that order wins.
func (m ContactMessage) Kind() string {
	switch {
	case m.TextMessage != nil:
		return "text"
	case m.MediaMessage != nil:
		return "media"
	case m.MediaCardMessage != nil:
		return "media_card"
	case m.LocationMessage != nil:
		return "location"
	case m.ChoiceResponseMessage != nil:
		return "choice_response"
	case m.FallbackMessage != nil:
		return "fallback"
	case len(nilIfNull(m.ProductResponseMessage)) > 0:
		return "product_response"
	case len(nilIfNull(m.ChannelSpecificMessage)) > 0:
		return "channel_specific"
	}
	return ""
}

// Summary is the one-line text an agent sees for the message: the text; a
// media file's name; a media card's caption; a location's title and label
// with its coordinates; a choice's postback data; a fallback notice with the
// reason code; a product response's title; a WhatsApp flow reply's body.
// It is "" when the message has no content.
func (m ContactMessage) Summary() string {
	switch m.Kind() {
	case "text":
		return m.TextMessage.Text
	case "media":
		if m.MediaMessage.FilenameOverride != "" {
			return m.MediaMessage.FilenameOverride
		}
		return FileName(m.MediaMessage.URL)
	case "media_card":
		if m.MediaCardMessage.Caption != "" {
			return m.MediaCardMessage.Caption
		}
		return m.MediaCardMessage.URL
	case "location":
		return locationSummary(m.LocationMessage)
	case "choice_response":
		return m.ChoiceResponseMessage.PostbackData
	case "fallback":
		s := "message not supported by the channel"
		if r := m.FallbackMessage.Reason; r != nil && r.Code != "" {
			s += " (" + r.Code + ")"
		}
		return s
	case "product_response":
		var p struct {
			Title string `json:"title"`
		}
		// A product response that does not decode still deserves a line.
		if json.Unmarshal(m.ProductResponseMessage, &p) == nil && p.Title != "" {
			return p.Title
		}
		return "product response"
	case "channel_specific":
		return channelSpecificSummary(m.ChannelSpecificMessage)
	}
	return ""
}

// FileName returns the last path segment of a media URL, or the URL itself
// when it has none.
func FileName(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Path == "" {
		return raw
	}
	base := path.Base(u.Path)
	if base == "/" || base == "." {
		return raw
	}
	if unescaped, err := url.PathUnescape(base); err == nil {
		return unescaped
	}
	return base
}

// locationSummary renders "title - label (lat, lon)", dropping empty parts.
func locationSummary(l *LocationMessage) string {
	var parts []string
	for _, s := range []string{l.Title, l.Label} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	name := strings.Join(parts, " - ")
	if name == "" {
		name = "location"
	}
	return name + " (" + strconv.FormatFloat(l.Coordinates.Latitude, 'f', -1, 64) +
		", " + strconv.FormatFloat(l.Coordinates.Longitude, 'f', -1, 64) + ")"
}

// channelSpecificSummary returns the body of a WhatsApp flow reply
// (nfm_reply) when there is one, else the message_type.
func channelSpecificSummary(raw json.RawMessage) string {
	var cs struct {
		MessageType string `json:"message_type"`
		Message     struct {
			Type     string `json:"type"`
			NfmReply struct {
				Name string `json:"name"`
				Body string `json:"body"`
			} `json:"nfm_reply"`
		} `json:"message"`
	}
	// On a type mismatch encoding/json still fills the other fields, so a
	// partial decode is used as is.
	_ = json.Unmarshal(raw, &cs)
	switch {
	case cs.Message.NfmReply.Body != "":
		return cs.Message.NfmReply.Body
	case cs.MessageType != "":
		return cs.MessageType
	case cs.Message.Type != "":
		return cs.Message.Type
	}
	return "channel specific message"
}
