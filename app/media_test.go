package app_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/internal/media"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/sinch/emulator"
	"github.com/xcally-connector/connector/workflows"
)

// mediaStack is a replyStack whose account's public URL is the API itself
// (loopback http, allowed in dev and tests), so the emulator fetches the
// agents' files through the signed media URLs for real.
type mediaStack struct {
	*replyStack
}

func newMediaStack(t *testing.T, engine models.Engine, tweak func(*config.Config)) *mediaStack {
	t.Helper()
	s := &mediaStack{newReplyStack(t, engine, tweak)}
	s.admin(http.MethodPatch, fmt.Sprintf("/api/whatsapp/accounts/%d", s.account), map[string]any{"publicUrl": s.dev.APIURL()}, nil, http.StatusOK)
	return s
}

// postFile sends a multipart reply with a file (and a text when not "").
func (s *mediaStack) postFile(it api.InteractionResponse, token, name string, data []byte, text string, out any) int {
	s.t.Helper()
	if token == "" {
		token = s.cfg.AdminToken
	}
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	fw, err := w.CreateFormFile("file", name)
	require.NoError(s.t, err)
	_, err = fw.Write(data)
	require.NoError(s.t, err)
	if text != "" {
		require.NoError(s.t, w.WriteField("text", text))
	}
	require.NoError(s.t, w.Close())
	req, err := http.NewRequest(http.MethodPost, s.url(fmt.Sprintf("/api/interactions/%d/messages", it.ID)), &body)
	require.NoError(s.t, err)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	if out != nil && len(raw) > 0 {
		require.NoError(s.t, json.Unmarshal(raw, out), "%s", raw)
	}
	return resp.StatusCode
}

// get fetches a URL of the API and returns the status, headers and body.
func (s *mediaStack) get(path, token string) (int, http.Header, []byte) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.url(path), nil)
	require.NoError(s.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	return resp.StatusCode, resp.Header, raw
}

// inboundMedia makes the customer send a file (a sample name or an
// absolute URL) and waits for its message in the assigned interaction.
func (s *mediaStack) inboundMedia(from, mediaURL, filename string) (api.InteractionResponse, api.MessageResponse) {
	s.t.Helper()
	id, err := s.em.SendInbound(appID, emulator.Inbound{From: from, MediaURL: mediaURL, Filename: filename})
	require.NoError(s.t, err)
	var it api.InteractionResponse
	var msg api.MessageResponse
	require.Eventually(s.t, func() bool {
		for _, i := range s.interactions("status=open") {
			if i.Contact.Identity != from {
				continue
			}
			for _, m := range s.interaction(i.ID).Messages {
				if m.ProviderMessageID == id {
					it, msg = i, m
					return true
				}
			}
		}
		return false
	}, 30*time.Second, 50*time.Millisecond, "the customer's file is stored as a message")
	return it, msg
}

// waitAttachment polls the interaction until the message's first
// attachment has status.
func (s *mediaStack) waitAttachment(itID, msgID uint64, status string) api.AttachmentView {
	s.t.Helper()
	var got api.AttachmentView
	ok := assert.Eventually(s.t, func() bool {
		for _, m := range s.interaction(itID).Messages {
			if m.ID == msgID && len(m.Attachments) > 0 {
				got = m.Attachments[0]
				return got.Status == status
			}
		}
		return false
	}, 40*time.Second, 50*time.Millisecond, "attachment of message %d reaches %s", msgID, status)
	if !ok {
		s.t.Fatalf("attachment is %+v", got)
	}
	return got
}

// systemTexts are the interaction's system messages.
func (s *mediaStack) systemTexts(itID uint64) []string {
	var out []string
	for _, m := range s.interaction(itID).Messages {
		if m.Direction == "system" {
			out = append(out, m.Text)
		}
	}
	return out
}

func sample(t *testing.T, name string) []byte {
	t.Helper()
	_, data, ok := emulator.Sample(name)
	require.True(t, ok, name)
	return data
}

func TestMediaEndToEnd(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			t.Run("inbound image is fetched and downloadable by the agent", func(t *testing.T) { testInboundImage(t, engine) })
			t.Run("the supported-attachment list end to end", func(t *testing.T) { testOutboundMatrix(t, engine) })
			t.Run("disk-space guard, then retry", func(t *testing.T) { testDiskGuard(t, engine) })
			t.Run("signed media URLs", func(t *testing.T) { testMediaTokens(t, engine) })
			t.Run("private media URLs are refused", func(t *testing.T) { testInboundSSRF(t, engine) })
		})
	}
}

func testInboundImage(t *testing.T, engine models.Engine) {
	s := newMediaStack(t, engine, nil)
	bob, carl := s.agents["bob"], s.agents["carl"]
	it, msg := s.inboundMedia("393331110001", "sample.jpg", "../../holiday photo.jpg")
	att := s.waitAttachment(it.ID, msg.ID, "stored")
	want := sample(t, "sample.jpg")
	assert.Equal(t, "image/jpeg", att.ContentType)
	assert.Equal(t, "image", att.Kind)
	assert.Equal(t, "jpg", att.Format)
	assert.Equal(t, int64(len(want)), att.Size)
	assert.Equal(t, "holiday photo.jpg", att.FileName, "directories are stripped from the customer's file name")
	_, out := scrapeMetrics(t, s.dev.APIURL(), "")
	assert.EqualValues(t, len(want), seriesValue(out, `connector_media_bytes_total{direction="in"}`), "the stored bytes are counted")

	owner, other := bob, carl
	if it.AgentID != nil && *it.AgentID == carl.ID {
		owner, other = carl, bob
	}
	code, h, body := s.get(att.URL, owner.Token)
	require.Equal(t, http.StatusOK, code, "%s", body)
	assert.Equal(t, want, body, "the agent downloads our copy, byte for byte")
	assert.Equal(t, "image/jpeg", h.Get("Content-Type"))
	assert.Equal(t, `inline; filename="holiday photo.jpg"`, h.Get("Content-Disposition"))
	assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
	// Every agent who enabled the account may see it; a stranger may not.
	code, _, _ = s.get(att.URL, other.Token)
	assert.Equal(t, http.StatusOK, code)
	code, _, _ = s.get(att.URL, "")
	assert.Equal(t, http.StatusUnauthorized, code)
	var stranger struct {
		ID    uint64
		Token string
	}
	s.admin(http.MethodPost, "/api/agents", map[string]any{"name": "stranger", "capacity": 1}, &stranger, http.StatusCreated)
	code, _, _ = s.get(att.URL, stranger.Token)
	assert.Equal(t, http.StatusNotFound, code, "an agent without the account does not see its files")
	// Stored already: a retry is refused.
	var e api.ErrorBody
	assert.Equal(t, http.StatusConflict, s.call(http.MethodPost, fmt.Sprintf("/api/attachments/%d/retry", att.ID), s.cfg.AdminToken, nil, &e))
	assert.Equal(t, "already_stored", e.Error.Code)

	// A PDF document keeps its name and is offered as a download.
	it2, pdfMsg := s.inboundMedia("393331110001", "sample.pdf", "")
	pdf := s.waitAttachment(it2.ID, pdfMsg.ID, "stored")
	assert.Equal(t, "sample.pdf", pdf.FileName)
	code, h, body = s.get(pdf.URL, owner.Token)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, sample(t, "sample.pdf"), body)
	assert.Equal(t, "application/pdf", h.Get("Content-Type"))

	// Over WhatsApp's 5 MiB for images: refused, never stored, shown.
	it3, bigMsg := s.inboundMedia("393331110001", "big.jpg?mb=6", "")
	big := s.waitAttachment(it3.ID, bigMsg.ID, "failed")
	assert.Contains(t, big.Error, "larger than the 5.0 MiB accepted for JPG files")
	assert.True(t, containsAll(s.systemTexts(it3.ID), "could not be saved", "5.0 MiB"), "%q", s.systemTexts(it3.ID))

	// The conversation's history, with its child fetches, replays.
	saveHistory(t, s.dev, workflows.ConversationWorkflowID(s.account, "WHATSAPP", "393331110001"), "conversation_media.json")
	saveHistory(t, s.dev, workflows.MediaFetchWorkflowID(s.account, msg.ProviderMessageID), "media_fetch.json")
}

// matrixCase is one row of the "Supported attachment" list of Motion's
// Sinch V2 guide.
type matrixCase struct {
	file   string // sample name
	sentAs string // WhatsApp kind the emulator delivered it as; "" = refused
	code   string // the 422's error code when refused
	words  []string
}

func testOutboundMatrix(t *testing.T, engine models.Engine) {
	s := newMediaStack(t, engine, nil)
	it := s.hello("393331110002")
	cases := []matrixCase{
		{file: "sample.jpg", sentAs: "image"},
		{file: "sample.png", sentAs: "image"},
		{file: "sample.mp3", sentAs: "audio"},
		{file: "sample.mp4", sentAs: "video"},
		{file: "sample.pdf", sentAs: "document"},
		{file: "sample.csv", sentAs: "document"},
		{file: "sample.dll", sentAs: "document"},
		{file: "sample.gif", code: "attachment_type_unsupported", words: []string{"GIF", "CHANNEL_FAILURE", "email"}},
		{file: "sample.doc", code: "attachment_type_unsupported", words: []string{"DOC", "WhatsApp Business", "email"}},
		{file: "sample.docx", code: "attachment_type_unsupported", words: []string{"DOCX", "email"}},
		{file: "sample.wav", code: "attachment_type_unsupported", words: []string{"WAV", "BAD_REQUEST"}},
		{file: "sample.exe", code: "attachment_type_unsupported", words: []string{"EXE", "BAD_REQUEST"}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			data := sample(t, c.file)
			if c.sentAs == "" {
				var e api.ErrorBody
				require.Equal(t, http.StatusUnprocessableEntity, s.postFile(it, "", c.file, data, "", &e), "%+v", e)
				assert.Equal(t, c.code, e.Error.Code)
				for _, w := range c.words {
					assert.Contains(t, e.Error.Message, w)
				}
				assert.True(t, containsAll(s.systemTexts(it.ID), c.file), "a system message names the refused file %s: %q", c.file, s.systemTexts(it.ID))
				return
			}
			var r api.ReplyResponse
			require.Equal(t, http.StatusAccepted, s.postFile(it, "", c.file, data, "", &r), "%+v", r)
			require.Len(t, r.Attachments, 1)
			assert.Equal(t, c.sentAs, r.Attachments[0].Kind)
			m := s.waitStatus(it.ID, r.ID, "read")
			var sent *emulator.OutboxItem
			for _, o := range s.outbox("393331110002") {
				if o.MessageID == m.ProviderMessageID {
					o := o
					sent = &o
				}
			}
			require.NotNil(t, sent, "the emulator got the media message")
			assert.Equal(t, c.sentAs, sent.MediaKind, "the emulator fetched the signed URL and delivered it as %s", c.sentAs)
			assert.True(t, strings.HasPrefix(sent.MediaURL, s.dev.APIURL()+"/api/media/"), sent.MediaURL)
			assert.True(t, strings.HasSuffix(sent.MediaURL, c.file[strings.LastIndex(c.file, "."):]), "the URL ends in the file's extension: %s", sent.MediaURL)
		})
	}

	t.Run("a .jpg that is really an EXE", func(t *testing.T) {
		var e api.ErrorBody
		require.Equal(t, http.StatusUnprocessableEntity, s.postFile(it, "", "invoice.jpg", sample(t, "sample.exe"), "", &e))
		assert.Contains(t, e.Error.Message, "EXE")
		assertNotStored(t, s, sample(t, "sample.exe"))
	})
	t.Run("a file with its text: the text follows as its own message", func(t *testing.T) {
		var r api.ReplyResponse
		require.Equal(t, http.StatusAccepted, s.postFile(it, "", "brochure.pdf", sample(t, "sample.pdf"), "Here is our brochure", &r))
		require.NotNil(t, r.FollowUp)
		assert.Equal(t, "Here is our brochure", r.FollowUp.Text)
		file := s.waitStatus(it.ID, r.ID, "read")
		text := s.waitStatus(it.ID, r.FollowUp.ID, "read")
		var order []string
		for _, o := range s.outbox("393331110002") {
			if o.MessageID == file.ProviderMessageID || o.MessageID == text.ProviderMessageID {
				order = append(order, o.MessageID)
			}
		}
		assert.Equal(t, []string{file.ProviderMessageID, text.ProviderMessageID}, order, "the file first, then its text")
	})
	t.Run("size limits in order: connector, Sinch, WhatsApp", func(t *testing.T) {
		big := make([]byte, 6*media.MiB)
		copy(big, []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F', 0})
		var e api.ErrorBody
		require.Equal(t, http.StatusUnprocessableEntity, s.postFile(it, "", "big.jpg", big, "", &e))
		assert.Equal(t, "attachment_too_large", e.Error.Code)
		assert.Contains(t, e.Error.Message, "Sinch")
		assert.Contains(t, e.Error.Message, "then Sinch's, then WhatsApp's")
	})
	t.Run("bad multipart input", func(t *testing.T) {
		post := func(build func(w *multipart.Writer)) (int, api.ErrorBody) {
			var e api.ErrorBody
			var body bytes.Buffer
			w := multipart.NewWriter(&body)
			build(w)
			require.NoError(t, w.Close())
			req, err := http.NewRequest(http.MethodPost, s.url(fmt.Sprintf("/api/interactions/%d/messages", it.ID)), &body)
			require.NoError(t, err)
			req.Header.Set("Content-Type", w.FormDataContentType())
			req.Header.Set("Authorization", "Bearer "+s.cfg.AdminToken)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
			_ = resp.Body.Close()
			return resp.StatusCode, e
		}
		// A PNG of its own (a trailing byte), so no other test stores it.
		png := append(sample(t, "sample.png"), 'x')
		file := func(w *multipart.Writer, name string) {
			fw, err := w.CreateFormFile("file", name)
			require.NoError(t, err)
			_, _ = fw.Write(png)
		}
		code, e := post(func(w *multipart.Writer) { require.NoError(t, w.WriteField("text", "no file")) })
		assert.Equal(t, http.StatusBadRequest, code)
		assert.Contains(t, e.Error.Message, "file: required")
		code, e = post(func(w *multipart.Writer) { file(w, "a.png"); file(w, "b.png") })
		assert.Equal(t, http.StatusBadRequest, code)
		assert.Contains(t, e.Error.Message, "one file per message")
		code, e = post(func(w *multipart.Writer) { file(w, "a.png"); require.NoError(t, w.WriteField("caption", "x")) })
		assert.Equal(t, http.StatusBadRequest, code)
		assert.Contains(t, e.Error.Message, "caption: unknown field")
		assertNotStored(t, s, png)
		code, e = post(func(w *multipart.Writer) {
			file(w, "a.png")
			require.NoError(t, w.WriteField("text", strings.Repeat("é", 4097)))
		})
		assert.Equal(t, http.StatusUnprocessableEntity, code)
		assert.Equal(t, "message_too_long", e.Error.Code)
	})
}

// assertNotStored checks that a refused upload left no file behind.
func assertNotStored(t *testing.T, s *mediaStack, data []byte) {
	t.Helper()
	sum := sha256.Sum256(data)
	_, _, err := s.dev.Media.Open(hex.EncodeToString(sum[:]))
	assert.ErrorIs(t, err, media.ErrNotFound, "a refused upload is not kept")
}

// containsAll reports whether some text contains every word.
func containsAll(texts []string, words ...string) bool {
	for _, t := range texts {
		all := true
		for _, w := range words {
			all = all && strings.Contains(t, w)
		}
		if all {
			return true
		}
	}
	return false
}

func testDiskGuard(t *testing.T, engine models.Engine) {
	s := newMediaStack(t, engine, func(cfg *config.Config) {
		cfg.MediaFetchRetryFor = 6 * time.Second
	})
	free, _, err := s.dev.Media.Free()
	require.NoError(t, err)
	s.dev.Media.SetMinFree(free + 1<<40)

	it, msg := s.inboundMedia("393331110003", "sample.png", "")
	// While the fetch is retried, a retry request is refused (one fetch).
	require.Eventually(t, func() bool {
		for _, m := range s.interaction(it.ID).Messages {
			if m.ID == msg.ID && len(m.Attachments) > 0 {
				return m.Attachments[0].Attempts > 0 && m.Attachments[0].Status == "pending"
			}
		}
		return false
	}, 20*time.Second, 20*time.Millisecond)
	var busy api.ErrorBody
	require.Equal(t, http.StatusConflict, s.call(http.MethodPost, fmt.Sprintf("/api/attachments/%d/retry", s.interaction(it.ID).Messages[0].Attachments[0].ID), s.cfg.AdminToken, nil, &busy))
	assert.Equal(t, "fetch_running", busy.Error.Code)
	att := s.waitAttachment(it.ID, msg.ID, "failed")
	assert.Contains(t, att.Error, "disk space low on the connector")
	_, out := scrapeMetrics(t, s.dev.APIURL(), "")
	assert.GreaterOrEqual(t, seriesValue(out, `connector_media_failures_total{direction="in",reason="disk_low"}`), 1.0, "each refused attempt is counted")
	assert.Equal(t, -1.0, seriesValue(out, `connector_media_bytes_total{direction="in"}`), "nothing was stored")
	assert.True(t, containsAll(s.systemTexts(it.ID), "could not be saved", "disk space low", fmt.Sprintf("/api/attachments/%d/retry", att.ID)), "%q", s.systemTexts(it.ID))
	var acc api.AccountResponse
	s.admin(http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d", s.account), nil, &acc, http.StatusOK)
	assert.True(t, containsAll(acc.Warnings, "disk space low on the connector"), "%q", acc.Warnings)
	code, _, _ := s.get(att.URL, s.cfg.AdminToken)
	assert.Equal(t, http.StatusConflict, code, "a failed attachment has no file to serve")
	// An upload meanwhile is refused with 507, nothing half-written.
	var e api.ErrorBody
	assert.Equal(t, http.StatusInsufficientStorage, s.postFile(it, "", "a.png", sample(t, "sample.png"), "", &e))
	assert.Equal(t, "disk_space_low", e.Error.Code)

	// Space is freed: the retry stores the file and clears the warning.
	s.dev.Media.SetMinFree(0)
	var view api.AttachmentView
	s.admin(http.MethodPost, fmt.Sprintf("/api/attachments/%d/retry", att.ID), nil, &view, http.StatusAccepted)
	assert.Equal(t, "pending", view.Status)
	stored := s.waitAttachment(it.ID, msg.ID, "stored")
	assert.Equal(t, "image/png", stored.ContentType)
	code, _, body := s.get(stored.URL, s.cfg.AdminToken)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, sample(t, "sample.png"), body)
	s.admin(http.MethodGet, fmt.Sprintf("/api/whatsapp/accounts/%d", s.account), nil, &acc, http.StatusOK)
	assert.False(t, containsAll(acc.Warnings, "disk space low"), "%q", acc.Warnings)
}

func testMediaTokens(t *testing.T, engine models.Engine) {
	s := newMediaStack(t, engine, nil)
	it := s.hello("393331110004")
	var r api.ReplyResponse
	require.Equal(t, http.StatusAccepted, s.postFile(it, "", "price list.csv", sample(t, "sample.csv"), "", &r))
	m := s.waitStatus(it.ID, r.ID, "read")
	var mediaURL string
	for _, o := range s.outbox("393331110004") {
		if o.MessageID == m.ProviderMessageID {
			mediaURL = o.MediaURL
		}
	}
	require.NotEmpty(t, mediaURL)
	path := strings.TrimPrefix(mediaURL, s.dev.APIURL())

	// Valid: no other auth, the file's type and name.
	code, h, body := s.get(path, "")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, sample(t, "sample.csv"), body)
	assert.Equal(t, "text/csv", h.Get("Content-Type"))
	assert.Equal(t, `attachment; filename="price list.csv"`, h.Get("Content-Disposition"))

	// Tampered: one character of the token changed.
	tok := strings.TrimSuffix(strings.TrimPrefix(path, "/api/media/"), ".csv")
	flipped := []byte(tok)
	flipped[len(flipped)/2] ^= 1
	if flipped[len(flipped)/2] == tok[len(tok)/2] || !isBase64URL(flipped[len(flipped)/2]) {
		flipped[len(flipped)/2] = 'A' + (tok[len(tok)/2]-'A'+1)%26
	}
	code, _, _ = s.get("/api/media/"+string(flipped)+".csv", "")
	assert.Equal(t, http.StatusNotFound, code, "tampered")
	code, _, _ = s.get("/api/media/not-a-token.csv", "")
	assert.Equal(t, http.StatusNotFound, code, "garbage")

	// Expired: a token for the same attachment whose time has passed.
	signer := media.NewSigner(s.cfg.SecretKey)
	id := r.Attachments[0].ID
	code, _, _ = s.get("/api/media/"+signer.Mint(id, time.Now().Add(-time.Second))+".csv", "")
	assert.Equal(t, http.StatusNotFound, code, "expired")
	code, _, _ = s.get("/api/media/"+signer.Mint(id, time.Now().Add(time.Hour))+".csv", "")
	assert.Equal(t, http.StatusOK, code, "a fresh token for the same file")
	other := media.NewSigner(bytes.Repeat([]byte{7}, 32))
	code, _, _ = s.get("/api/media/"+other.Mint(id, time.Now().Add(time.Hour))+".csv", "")
	assert.Equal(t, http.StatusNotFound, code, "signed with another key")

	// Deleted: the link answers 404 (Sinch: MEDIA_NOT_REACHABLE), the
	// agent's download 410, and agents may not delete.
	var e api.ErrorBody
	assert.Equal(t, http.StatusForbidden, s.call(http.MethodDelete, fmt.Sprintf("/api/attachments/%d", id), s.agents["bob"].Token, nil, &e))
	var view api.AttachmentView
	s.admin(http.MethodDelete, fmt.Sprintf("/api/attachments/%d", id), nil, &view, http.StatusOK)
	assert.Equal(t, "deleted", view.Status)
	code, _, _ = s.get(path, "")
	assert.Equal(t, http.StatusNotFound, code, "deleted")
	code, _, _ = s.get(view.URL, s.cfg.AdminToken)
	assert.Equal(t, http.StatusGone, code)
	_, _, err := s.dev.Media.Open(strings.Repeat("0", 64))
	assert.ErrorIs(t, err, media.ErrNotFound)

	// A wrong proxy URL: Sinch cannot reach the file, the reply fails as
	// MEDIA_NOT_REACHABLE with the advice of Motion's Sinch V2 guide (check
	// the proxy URL and token).
	s.admin(http.MethodPatch, fmt.Sprintf("/api/whatsapp/accounts/%d", s.account), map[string]any{"publicUrl": "http://127.0.0.1:1"}, nil, http.StatusOK)
	require.Equal(t, http.StatusAccepted, s.postFile(it, "", "menu.pdf", sample(t, "sample.pdf"), "", &r))
	failed := s.waitStatus(it.ID, r.ID, "failed")
	require.NotNil(t, failed.Error)
	assert.Equal(t, "MEDIA_NOT_REACHABLE", failed.Error.Code)
	assert.Equal(t, "media", failed.Error.Class)
	assert.Contains(t, failed.Error.Message, "proxy URL and token")
}

func isBase64URL(b byte) bool {
	return (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') || b == '-' || b == '_'
}

func testInboundSSRF(t *testing.T, engine models.Engine) {
	s := newMediaStack(t, engine, nil)
	for i, u := range []string{
		"http://169.254.169.254/latest/meta-data/photo.jpg",
		"http://10.0.0.1/photo.jpg",
		s.dev.APIURL() + "/healthz", // loopback, but not the emulator's address
	} {
		it, msg := s.inboundMedia(fmt.Sprintf("39333111010%d", i), u, "")
		att := s.waitAttachment(it.ID, msg.ID, "failed")
		assert.Contains(t, att.Error, "refused", u)
		assert.True(t, containsAll(s.systemTexts(it.ID), "could not be saved"), "%q", s.systemTexts(it.ID))
	}
}
