package emulator_test

import (
	"bytes"
	"image"
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/sinch/emulator"
)

// TestMediaMatrix checks the "Supported attachment" list of Motion's Sinch
// V2 guide.
func TestMediaMatrix(t *testing.T) {
	e := newEnv(t, fastOptions(), emulator.ModeConversation)

	// A server of files whose type only the extension tells, or no one.
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/x/streamed.png" {
			// Chunked, without Content-Length: only reading tells the size.
			w.Header().Set("Content-Type", "image/png")
			chunk := make([]byte, 1<<20)
			for range 6 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
			return
		}
		w.Header().Set("Content-Type", map[string]string{
			"/x/track.mp3": "application/octet-stream",
			"/x/note.txt":  "text/plain",
		}[r.URL.Path])
		_, _ = w.Write([]byte("0123456789"))
	}))
	t.Cleanup(files.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedAddr := ln.Addr().String()
	require.NoError(t, ln.Close())

	media := e.url + "/emulator/media/"
	cases := []struct {
		url    string
		kind   string // delivered as
		reason string // or failed with
	}{
		{media + "sample.jpg", "image", ""},
		{media + "sample.png", "image", ""},
		{media + "sample.mp3", "audio", ""},
		{media + "sample.mp4", "video", ""},
		{media + "sample.pdf", "document", ""},
		{media + "sample.csv", "document", ""},
		{media + "sample.dll", "document", ""},
		{media + "sample.gif", "", "CHANNEL_FAILURE"},
		{media + "sample.doc", "", "CHANNEL_FAILURE"},
		{media + "sample.docx", "", "CHANNEL_FAILURE"},
		{media + "sample.wav", "", "BAD_REQUEST"},
		{media + "sample.exe", "", "BAD_REQUEST"},
		{media + "big.jpg?mb=6", "", "MEDIA_TOO_LARGE"},
		{media + "big.jpg?mb=5", "image", ""},
		{media + "missing.jpg", "", "MEDIA_NOT_REACHABLE"},
		{"http://" + closedAddr + "/gone.jpg", "", "MEDIA_NOT_REACHABLE"},
		{files.URL + "/x/track.mp3", "audio", ""},
		{files.URL + "/x/note.txt", "", "MEDIA_TYPE_UNSUPPORTED"},
		{files.URL + "/x/streamed.png", "", "MEDIA_TOO_LARGE"},
	}
	ids := make([]string, len(cases))
	for i, tc := range cases {
		ids[i] = e.send(mediaTo(e.app.AppID, "393331234567", tc.url))
	}
	for i, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			if tc.reason == "" {
				assert.Equal(t, []string{"QUEUED_ON_CHANNEL", "DELIVERED", "READ"}, statuses(e.waitReports(ids[i], 3)))
			} else {
				hits := e.waitReports(ids[i], 2)
				require.Equal(t, []string{"QUEUED_ON_CHANNEL", "FAILED"}, statuses(hits))
				r := hits[1].cb.MessageDeliveryReport.Reason
				require.NotNil(t, r)
				assert.Equal(t, tc.reason, r.Code)
				assert.Equal(t, "UNSPECIFIED_SUB_CODE", r.SubCode)
				assert.NotEmpty(t, r.Description)
				assert.Empty(t, r.ChannelCode)
			}
			items, err := e.emu.Outbox(e.app.AppID, "")
			require.NoError(t, err)
			assert.Equal(t, tc.kind, items[i].MediaKind)
			assert.Equal(t, tc.reason, items[i].ReasonCode)
		})
	}
}

func TestMediaSamples(t *testing.T) {
	emu := emulator.New(emulator.Options{})
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(func() { _ = emu.Close() })
	get := func(name string) (*http.Response, []byte) {
		res, err := http.Get(srv.URL + "/emulator/media/" + name)
		require.NoError(t, err)
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res, body
	}
	for name, format := range map[string]string{"sample.jpg": "jpeg", "sample.png": "png", "sample.gif": "gif"} {
		res, body := get(name)
		require.Equal(t, http.StatusOK, res.StatusCode)
		_, got, err := image.Decode(bytes.NewReader(body))
		require.NoError(t, err, name)
		assert.Equal(t, format, got, name)
	}
	for name, want := range map[string]string{
		"sample.pdf": "application/pdf", "sample.mp4": "video/mp4", "sample.wav": "audio/wave",
	} {
		_, body := get(name)
		assert.Equal(t, want, http.DetectContentType(body), name)
	}
	for name, prefix := range map[string]string{
		"sample.mp3": "\xFF\xFB", "sample.exe": "MZ", "sample.dll": "MZ", "sample.doc": "\xD0\xCF\x11\xE0",
		"sample.docx": "PK\x03\x04", "sample.csv": "name,phone\n",
	} {
		res, body := get(name)
		require.Equal(t, http.StatusOK, res.StatusCode, name)
		assert.True(t, bytes.HasPrefix(body, []byte(prefix)), name)
		assert.NotEmpty(t, res.Header.Get("Content-Type"))
	}
	res, body := get("big.jpg?mb=2")
	assert.Equal(t, "image/jpeg", res.Header.Get("Content-Type"))
	assert.Len(t, body, 2<<20)
	assert.True(t, bytes.HasPrefix(body, []byte{0xFF, 0xD8}))
	assert.True(t, bytes.HasSuffix(body, []byte{0xFF, 0xD9}))

	res, _ = get("nope.bin")
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
	res, _ = get("big.jpg?mb=x")
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)
}
