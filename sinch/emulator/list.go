package emulator

import (
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xcally-connector/connector/sinch"
)

// defaultListPageSize is the page_size of a listing that names none.
const defaultListPageSize = 10

// listItem is a stored message that matched a listing.
type listItem struct {
	at  int64 // accept time, Unix nanoseconds
	msg conversationMessage
}

// listCursor is the position a page token encodes: the last item of the
// previous page.
type listCursor struct {
	at int64
	id string
}

// ListMessages lists the stored messages of req.AppID as GET
// /v1/projects/{project}/messages does, without the token, project and
// region checks. Errors wrap ErrInvalid or ErrAppNotFound.
func (s *Server) ListMessages(req sinch.ListMessagesRequest) (sinch.ListMessagesResponse, error) {
	if req.AppID == "" {
		return sinch.ListMessagesResponse{}, invalidf("app_id is required")
	}
	app, ok := s.app(req.AppID)
	if !ok {
		return sinch.ListMessagesResponse{}, ErrAppNotFound
	}
	items, next, err := s.listMessages(app, req)
	if err != nil {
		return sinch.ListMessagesResponse{}, err
	}
	out := sinch.ListMessagesResponse{Messages: []sinch.ConversationMessage{}, NextPageToken: next}
	for _, it := range items {
		m := it.msg
		out.Messages = append(out.Messages, sinch.ConversationMessage{
			InboundMessage: sinch.InboundMessage{
				ID: m.ID, Direction: m.Direction,
				ChannelIdentity: sinch.ChannelIdentity{Channel: m.ChannelIdentity.Channel, Identity: m.ChannelIdentity.Identity},
				ConversationID:  m.ConversationID, ContactID: m.ContactID, Metadata: m.Metadata,
				AcceptTime: time.Unix(0, it.at).UTC(), SenderID: m.SenderID, ProcessingMode: m.ProcessingMode, Injected: m.Injected,
			},
			ContactMessage: m.ContactMessage, AppMessage: m.AppMessage,
		})
	}
	return out, nil
}

// handleList is GET [/{region}]/v1/projects/{projectId}/messages.
func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	projectID := r.PathValue("projectId")
	region, ok := requestRegion(r)
	if !ok {
		writeSinchError(w, http.StatusNotFound, "Not found: "+r.URL.Path)
		return
	}
	if !s.authorize(w, r, projectID) {
		return
	}
	req, err := parseListQuery(r.URL.Query())
	if err != nil {
		writeSinchError(w, http.StatusBadRequest, "Invalid argument: "+err.Error()+".")
		return
	}
	if req.AppID == "" {
		writeSinchError(w, http.StatusBadRequest, "Invalid argument: app_id is required.")
		return
	}
	app, ok := s.projectApp(w, req.AppID, projectID, region)
	if !ok {
		return
	}
	items, next, err := s.listMessages(app, req)
	if err != nil {
		writeSinchError(w, http.StatusBadRequest, "Invalid argument: "+strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": ")+".")
		return
	}
	msgs := make([]conversationMessage, len(items))
	for i, it := range items {
		msgs[i] = it.msg
	}
	writeJSON(w, http.StatusOK, struct {
		Messages      []conversationMessage `json:"messages"`
		NextPageToken string                `json:"next_page_token"`
	}{msgs, next})
}

// parseListQuery reads the query of a listing; unknown parameters (view,
// ...) are ignored.
func parseListQuery(q url.Values) (sinch.ListMessagesRequest, error) {
	req := sinch.ListMessagesRequest{
		AppID: q.Get("app_id"), Channel: q.Get("channel"), ChannelIdentity: q.Get("channel_identity"),
		ContactID: q.Get("contact_id"), ConversationID: q.Get("conversation_id"),
		Direction: q.Get("direction"), PageToken: q.Get("page_token"), MessagesSource: q.Get("messages_source"),
	}
	for _, f := range []struct {
		key string
		t   *time.Time
	}{{"start_time", &req.StartTime}, {"end_time", &req.EndTime}} {
		if v := q.Get(f.key); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return req, fmt.Errorf("%s %q is not an RFC 3339 timestamp", f.key, v)
			}
			*f.t = t
		}
	}
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return req, fmt.Errorf("page_size %q is not an integer", v)
		}
		req.PageSize = n
	}
	if v := q.Get("only_recipient_originated"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return req, fmt.Errorf("only_recipient_originated %q is not a boolean", v)
		}
		req.OnlyRecipientOriginated = b
	}
	return req, nil
}

// listMessages returns one page of app's messages that match req, newest
// accept time first (ties by id, descending), and the token of the next
// page ("" on the last one). The error wraps ErrInvalid.
func (s *Server) listMessages(app App, req sinch.ListMessagesRequest) ([]listItem, string, error) {
	source := cmp.Or(req.MessagesSource, sinch.MessagesSourceConversation)
	switch {
	case source != sinch.MessagesSourceConversation && source != sinch.MessagesSourceDispatch:
		return nil, "", invalidf("messages_source must be CONVERSATION_SOURCE or DISPATCH_SOURCE")
	case req.Direction != "" && req.Direction != sinch.DirectionToApp && req.Direction != sinch.DirectionToContact:
		return nil, "", invalidf("direction must be TO_APP or TO_CONTACT")
	case source == sinch.MessagesSourceDispatch && (req.ContactID != "" || req.ConversationID != ""):
		return nil, "", invalidf("contact_id and conversation_id filters are only supported with CONVERSATION_SOURCE")
	case req.OnlyRecipientOriginated && source != sinch.MessagesSourceDispatch:
		return nil, "", invalidf("only_recipient_originated is only supported with DISPATCH_SOURCE")
	case req.PageSize < 0 || req.PageSize > sinch.MaxListPageSize:
		return nil, "", invalidf("page_size must be between 1 and %d", sinch.MaxListPageSize)
	}
	size := cmp.Or(req.PageSize, defaultListPageSize)
	var cursor *listCursor
	if req.PageToken != "" {
		c, err := decodePageToken(req.PageToken)
		if err != nil {
			return nil, "", invalidf("page_token is malformed")
		}
		cursor = &c
	}

	mode := ModeConversation
	from, until := int64(math.MinInt64), int64(math.MaxInt64)
	if source == sinch.MessagesSourceDispatch {
		mode = ModeDispatch
		// Sinch keeps DISPATCH-mode messages for the app's dispatch
		// retention only, and none with 0 days.
		if app.DispatchRetentionDays == 0 {
			return []listItem{}, "", nil
		}
		from = s.now().Add(-time.Duration(app.DispatchRetentionDays) * 24 * time.Hour).UnixNano()
	}
	if !req.StartTime.IsZero() {
		from = max(from, req.StartTime.UnixNano())
	}
	if !req.EndTime.IsZero() {
		until = req.EndTime.UnixNano()
	}
	identity := normalizeIdentity(req.ChannelIdentity)
	match := func(m *conversationMessage, at int64) bool {
		return m.ProcessingMode == mode && at >= from && at < until &&
			(req.Direction == "" || m.Direction == req.Direction) &&
			(!req.OnlyRecipientOriginated || m.Direction == sinch.DirectionToApp) &&
			(req.Channel == "" || m.ChannelIdentity.Channel == req.Channel) &&
			(identity == "" || m.ChannelIdentity.Identity == identity) &&
			(req.ContactID == "" || m.ContactID == req.ContactID) &&
			(req.ConversationID == "" || m.ConversationID == req.ConversationID) &&
			(cursor == nil || at < cursor.at || (at == cursor.at && m.ID < cursor.id))
	}

	var items []listItem
	s.mu.Lock()
	for _, in := range s.inbox[app.AppID] {
		if at := in.accepted.UnixNano(); match(in.msg, at) {
			items = append(items, listItem{at: at, msg: *in.msg})
		}
	}
	for _, out := range s.outbox[app.AppID] {
		m := out.listed()
		if at := out.accepted.UnixNano(); match(&m, at) {
			items = append(items, listItem{at: at, msg: m})
		}
	}
	s.mu.Unlock()

	slices.SortFunc(items, func(a, b listItem) int {
		return cmp.Or(cmp.Compare(b.at, a.at), strings.Compare(b.msg.ID, a.msg.ID))
	})
	if len(items) <= size {
		return items, "", nil
	}
	last := items[size-1]
	return items[:size], encodePageToken(listCursor{at: last.at, id: last.msg.ID}), nil
}

// listed is an accepted send as a listing shows it.
func (m *outMessage) listed() conversationMessage {
	return conversationMessage{
		ID: m.id, Direction: sinch.DirectionToContact, AppMessage: &m.message,
		ChannelIdentity: channelIdentity{Channel: m.channel, Identity: m.identity},
		ConversationID:  m.conversationID, ContactID: m.contactID, Metadata: m.metadata,
		AcceptTime: timestampNano(m.accepted), SenderID: SenderID, ProcessingMode: m.processingMode,
	}
}

// encodePageToken makes the opaque token of the page after cursor.
func encodePageToken(c listCursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.at, 10) + "." + c.id))
}

func decodePageToken(token string) (listCursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return listCursor{}, err
	}
	at, id, ok := strings.Cut(string(raw), ".")
	if !ok || id == "" {
		return listCursor{}, errors.New("no message id")
	}
	n, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return listCursor{}, err
	}
	return listCursor{at: n, id: id}, nil
}
