package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/xcally-connector/connector/sinch"
)

// stateVersion is the format of the state file.
const stateVersion = 1

// flushDelay coalesces the writes of background changes (delivery
// statuses); API calls write before they answer.
const flushDelay = 100 * time.Millisecond

// savedState is the state file: what a restarted emulator needs to keep
// serving the apps made before. Tokens, faults and callback attempts are
// not kept: clients fetch new tokens.
type savedState struct {
	Version       int                 `json:"version"`
	Apps          []savedApp          `json:"apps"`
	Keys          []savedKey          `json:"keys"`
	Webhooks      []savedWebhook      `json:"webhooks"`
	Contacts      []savedContact      `json:"contacts"`
	Conversations []savedConversation `json:"conversations"`
	Outbox        []savedOut          `json:"outbox"`
	Inbox         []savedIn           `json:"inbox"`
}

type savedApp struct {
	AppID                 string   `json:"appId"`
	ProjectID             string   `json:"projectId"`
	DisplayName           string   `json:"displayName"`
	Region                string   `json:"region"`
	ProcessingMode        string   `json:"processingMode"`
	DispatchRetentionDays int      `json:"dispatchRetentionDays"`
	Channels              []string `json:"channels"`
	WebhookURL            string   `json:"webhookUrl"`
	KeyID                 string   `json:"keyId"`
}

type savedKey struct {
	KeyID     string `json:"keyId"`
	Secret    string `json:"secret"`
	ProjectID string `json:"projectId"`
}

type savedWebhook struct {
	Webhook
	FromApp bool `json:"fromApp,omitempty"`
}

type savedContact struct {
	ID        string `json:"id"`
	ProjectID string `json:"projectId"`
	Channel   string `json:"channel"`
	Identity  string `json:"identity"`
}

type savedConversation struct {
	AppID         string          `json:"appId"`
	ContactID     string          `json:"contactId"`
	ID            string          `json:"id"`
	CorrelationID string          `json:"correlationId,omitempty"`
	Metadata      json.RawMessage `json:"metadata,omitempty"`
}

type savedOut struct {
	ID             string           `json:"id"`
	AppID          string           `json:"appId"`
	ProjectID      string           `json:"projectId"`
	Channel        string           `json:"channel"`
	Identity       string           `json:"identity"`
	ContactID      string           `json:"contactId"`
	ConversationID string           `json:"conversationId"`
	ProcessingMode string           `json:"processingMode"`
	Message        sinch.AppMessage `json:"message"`
	Metadata       string           `json:"metadata"`
	CorrelationID  string           `json:"correlationId"`
	Accepted       time.Time        `json:"accepted"`
	MediaKind      string           `json:"mediaKind"`
	Status         string           `json:"status"`
	Reason         string           `json:"reason"`
}

type savedIn struct {
	AppID    string              `json:"appId"`
	Message  conversationMessage `json:"message"`
	Accepted time.Time           `json:"accepted"`
}

// persister writes the state file. Writes are serialised by mu; a caller
// whose change an earlier write already covered returns at once, so
// concurrent changes share one write.
type persister struct {
	path    string
	mu      sync.Mutex
	written uint64 // the generation of the last write
	closed  bool
	kick    chan struct{}
}

// changed records a change to the saved state and returns its generation.
// Callers hold s.mu.
func (s *Server) changed() uint64 {
	s.gen++
	return s.gen
}

// commit writes the state file unless a write already covered generation
// gen. Callers do not hold s.mu. A failed write is logged: the change stays
// in memory and the next write retries it.
func (s *Server) commit(gen uint64) {
	p := s.persist
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.written >= gen {
		return
	}
	s.mu.Lock()
	snap, cur := s.snapshot(), s.gen
	s.mu.Unlock()
	if err := writeState(p.path, snap); err != nil {
		s.log.Error("sinch emulator: state file not written", "file", p.path, "err", err)
		return
	}
	p.written = cur
}

// commitLater asks the flusher to write the state file soon.
func (s *Server) commitLater() {
	if s.persist == nil {
		return
	}
	select {
	case s.persist.kick <- struct{}{}:
	default:
	}
}

// flusher writes the background changes, at most every flushDelay, until
// Close.
func (s *Server) flusher() {
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.persist.kick:
		}
		t := time.NewTimer(flushDelay)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		s.mu.Lock()
		gen := s.gen
		s.mu.Unlock()
		s.commit(gen)
	}
}

// closePersist writes the last changes and stops writing.
func (s *Server) closePersist() {
	if s.persist == nil {
		return
	}
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	s.commit(gen)
	s.persist.mu.Lock()
	s.persist.closed = true
	s.persist.mu.Unlock()
}

// snapshot copies the saved state. Callers hold s.mu.
func (s *Server) snapshot() savedState {
	st := savedState{Version: stateVersion}
	for _, a := range s.apps {
		st.Apps = append(st.Apps, savedApp{
			AppID: a.AppID, ProjectID: a.ProjectID, DisplayName: a.DisplayName, Region: a.Region,
			ProcessingMode: a.ProcessingMode, DispatchRetentionDays: a.DispatchRetentionDays,
			Channels: a.Channels, WebhookURL: a.WebhookURL, KeyID: a.KeyID,
		})
		for _, h := range s.webhooks[a.AppID] {
			st.Webhooks = append(st.Webhooks, savedWebhook{Webhook: h.clone(), FromApp: h.fromApp})
		}
		for _, m := range s.outbox[a.AppID] {
			st.Outbox = append(st.Outbox, savedOut{
				ID: m.id, AppID: m.appID, ProjectID: m.projectID, Channel: m.channel, Identity: m.identity,
				ContactID: m.contactID, ConversationID: m.conversationID, ProcessingMode: m.processingMode,
				Message: m.message, Metadata: m.metadata, CorrelationID: m.correlationID, Accepted: m.accepted,
				MediaKind: m.mediaKind, Status: m.status, Reason: m.reason,
			})
		}
		for _, in := range s.inbox[a.AppID] {
			st.Inbox = append(st.Inbox, savedIn{AppID: a.AppID, Message: *in.msg, Accepted: in.accepted})
		}
	}
	for id, k := range s.keys {
		st.Keys = append(st.Keys, savedKey{KeyID: id, Secret: k.secret, ProjectID: k.projectID})
	}
	for _, c := range s.contactsByID {
		st.Contacts = append(st.Contacts, savedContact{ID: c.id, ProjectID: c.projectID, Channel: c.channel, Identity: c.identity})
	}
	for key, conv := range s.conversations {
		appID, contactID, _ := strings.Cut(key, "\x00")
		st.Conversations = append(st.Conversations, savedConversation{
			AppID: appID, ContactID: contactID, ID: conv.id, CorrelationID: conv.correlationID,
			Metadata: append(json.RawMessage(nil), conv.metadata...),
		})
	}
	return st
}

// writeState writes the state file atomically: a temporary file in the
// same directory, synced, then renamed over the old one. The file holds
// secrets, so it is readable by its owner only.
func writeState(path string, st savedState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op once renamed
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// loadState reads the state file into s (before it serves). A missing file
// is an empty state; anything unreadable is an error naming the file.
func (s *Server) loadState(path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("emulator: state file %s: %w", path, err)
	}
	var st savedState
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("emulator: state file %s is corrupt: %w", path, err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("emulator: state file %s: version %d, this emulator reads version %d", path, st.Version, stateVersion)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("emulator: state file %s is corrupt: %s", path, fmt.Sprintf(format, args...))
	}
	for _, k := range st.Keys {
		if k.KeyID == "" || k.Secret == "" {
			return bad("an access key without id or secret")
		}
		s.keys[k.KeyID] = accessKey{secret: k.Secret, projectID: k.ProjectID}
		s.restoredKeys[k.KeyID] = true
	}
	for _, a := range st.Apps {
		if a.AppID == "" || a.ProjectID == "" {
			return bad("an app without id or project")
		}
		k, ok := s.keys[a.KeyID]
		if !ok {
			return bad("app %s names unknown key %q", a.AppID, a.KeyID)
		}
		if a.Channels == nil {
			a.Channels = []string{}
		}
		s.apps[a.AppID] = &App{
			AppID: a.AppID, ProjectID: a.ProjectID, DisplayName: a.DisplayName, Region: a.Region,
			ProcessingMode: a.ProcessingMode, DispatchRetentionDays: a.DispatchRetentionDays,
			Channels: a.Channels, WebhookURL: a.WebhookURL, KeyID: a.KeyID, KeySecret: k.secret,
		}
		s.restoredApps[a.AppID] = true
	}
	for _, w := range st.Webhooks {
		if _, ok := s.apps[w.AppID]; !ok || w.ID == "" {
			return bad("webhook %q of unknown app %q", w.ID, w.AppID)
		}
		s.webhooks[w.AppID] = append(s.webhooks[w.AppID], &hook{Webhook: w.Webhook.clone(), fromApp: w.FromApp})
	}
	for _, c := range st.Contacts {
		ct := &contact{id: c.ID, projectID: c.ProjectID, channel: c.Channel, identity: c.Identity}
		s.contactsByID[c.ID] = ct
		s.contactsByKey[c.ProjectID+"\x00"+c.Channel+"\x00"+c.Identity] = ct
	}
	for _, c := range st.Conversations {
		s.conversations[c.AppID+"\x00"+c.ContactID] = &conversation{id: c.ID, correlationID: c.CorrelationID, metadata: c.Metadata}
	}
	for _, o := range st.Outbox {
		if _, ok := s.apps[o.AppID]; !ok {
			return bad("message %s of unknown app %q", o.ID, o.AppID)
		}
		s.outbox[o.AppID] = append(s.outbox[o.AppID], &outMessage{
			id: o.ID, appID: o.AppID, projectID: o.ProjectID, channel: o.Channel, identity: o.Identity,
			contactID: o.ContactID, conversationID: o.ConversationID, processingMode: o.ProcessingMode,
			message: o.Message, metadata: o.Metadata, correlationID: o.CorrelationID, accepted: o.Accepted,
			mediaKind: o.MediaKind, status: o.Status, reason: o.Reason, restored: true,
		})
	}
	for _, in := range st.Inbox {
		if _, ok := s.apps[in.AppID]; !ok {
			return bad("message %s of unknown app %q", in.Message.ID, in.AppID)
		}
		msg := in.Message
		s.inbox[in.AppID] = append(s.inbox[in.AppID], &inMessage{msg: &msg, accepted: in.Accepted})
	}
	return nil
}
