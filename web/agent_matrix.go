package web

import (
	"encoding/json"
	"strings"

	"github.com/xcally-connector/connector/internal/media"
)

// agentMatrixJSON is WhatsApp's attachment matrix as the reply box's
// script reads it (data-matrix): for each file extension, whether WhatsApp
// takes it and, when not, the message the API answers (api/media.go:
// "file: " and the verdict's reason), both from internal/media, so the
// browser refuses a GIF, DOC, WAV or EXE with the API's own words before
// uploading it. An extension not listed is left to the API, which types a
// file by its bytes.
var agentMatrixJSON = func() string {
	type entry struct {
		Allowed bool   `json:"allowed"`
		Kind    string `json:"kind,omitempty"`
		Message string `json:"message,omitempty"`
	}
	// The extensions people give files, with the type internal/media
	// detects for such a file.
	types := map[string]media.Type{}
	for _, f := range []struct{ ext, format, label string }{
		{"jpg", "jpg", "JPG"}, {"jpeg", "jpg", "JPG"}, {"png", "png", "PNG"}, {"gif", "gif", "GIF"}, {"webp", "webp", "WEBP"},
		{"mp3", "mp3", "MP3"}, {"aac", "aac", "AAC"}, {"amr", "amr", "AMR"}, {"m4a", "m4a", "M4A"}, {"wav", "wav", "WAV"},
		{"mp4", "mp4", "MP4"}, {"3gp", "3gp", "3GP"}, {"pdf", "pdf", "PDF"}, {"csv", "csv", "CSV"}, {"txt", "txt", "TXT"},
		{"dll", "dll", "DLL"}, {"exe", "exe", "EXE"}, {"doc", "doc", "DOC"}, {"docx", "docx", "DOCX"}, {"zip", "zip", "ZIP"},
	} {
		types[f.ext] = media.Type{Format: f.format, Label: f.label}
	}
	out := map[string]entry{}
	for ext, t := range types {
		v := media.WhatsAppVerdict(t)
		e := entry{Allowed: v.Allowed, Kind: v.Kind}
		if !v.Allowed {
			e.Message = "file: " + v.Reason
		}
		out[ext] = e
	}
	b, err := json.Marshal(map[string]any{"types": out, "accepted": strings.Join(media.WhatsAppSupportedLabels(), ", ")})
	if err != nil {
		panic(err)
	}
	return string(b)
}()
