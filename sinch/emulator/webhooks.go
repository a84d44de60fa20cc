package emulator

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/xcally-connector/connector/sinch"
)

// Webhook is a webhook of an app in Sinch's wire format (Sinch's Webhook
// model): where the callbacks of its triggers are posted, signed with
// Secret when it is not empty.
type Webhook struct {
	ID    string `json:"id"`
	AppID string `json:"app_id"`
	// Target is the URL callbacks are posted to (at most 742 characters,
	// not a *.conversation-api.*.sinch.com host).
	Target string `json:"target"`
	// TargetType is HTTP (default) or DISMISS (callbacks are dropped).
	TargetType string   `json:"target_type"`
	Secret     string   `json:"secret"`
	Triggers   []string `json:"triggers"`
	// ClientCredentials are stored and returned; the emulator does not run
	// the OAuth2 flow they describe.
	ClientCredentials *ClientCredentials `json:"client_credentials,omitempty"`
}

// ClientCredentials is the OAuth2 client-credentials configuration Sinch
// may use to authenticate its callbacks.
type ClientCredentials struct {
	ClientID         string `json:"client_id"`
	ClientSecret     string `json:"client_secret"`
	Endpoint         string `json:"endpoint"`
	Scope            string `json:"scope,omitempty"`
	ResponseType     string `json:"response_type,omitempty"`
	TokenRequestType string `json:"token_request_type,omitempty"`
}

// WebhookTargetTypeDismiss is the target type whose callbacks are dropped.
const WebhookTargetTypeDismiss = "DISMISS"

// webhookTriggerUnspecified is the enum's zero value, an error on a webhook.
const webhookTriggerUnspecified = "UNSPECIFIED_TRIGGER"

// webhookTriggers is Sinch's WebhookTrigger enum without its zero value.
var webhookTriggers = []string{
	sinch.WebhookTriggerMessageDelivery, sinch.WebhookTriggerMessageSubmit, sinch.WebhookTriggerMessageInbound,
	sinch.WebhookTriggerEventDelivery, sinch.WebhookTriggerEventInbound, sinch.WebhookTriggerSmartConversations,
	sinch.WebhookTriggerMessageInboundSmartConversationRedaction,
	sinch.WebhookTriggerConversationStart, sinch.WebhookTriggerConversationStop, sinch.WebhookTriggerConversationDelete,
	sinch.WebhookTriggerContactCreate, sinch.WebhookTriggerContactDelete, sinch.WebhookTriggerContactMerge,
	sinch.WebhookTriggerContactUpdate, sinch.WebhookTriggerContactIdentitiesDuplication,
	sinch.WebhookTriggerUnsupported, sinch.WebhookTriggerOptIn, sinch.WebhookTriggerOptOut,
	sinch.WebhookTriggerChannelEvent, sinch.WebhookTriggerCapability, sinch.WebhookTriggerRecordNotification,
}

// webhookFields are the paths an update_mask may name.
var webhookFields = []string{"target", "target_type", "secret", "triggers", "client_credentials"}

// hook is a stored webhook.
type hook struct {
	Webhook
	// fromApp marks the webhook CreateApp made from App.WebhookURL.
	fromApp bool
}

// ErrWebhookNotFound: no webhook has that id.
var ErrWebhookNotFound = errors.New("emulator: webhook not found")

// clone copies a webhook so that callers cannot change the stored one.
func (w Webhook) clone() Webhook {
	w.Triggers = slices.Clone(w.Triggers)
	if w.Triggers == nil {
		w.Triggers = []string{}
	}
	if w.ClientCredentials != nil {
		cc := *w.ClientCredentials
		w.ClientCredentials = &cc
	}
	return w
}

// has reports whether the webhook receives callbacks of trigger t.
func (w Webhook) has(t sinch.Trigger) bool { return slices.Contains(w.Triggers, string(t)) }

// checkTarget checks a target URL against Sinch's limits.
func checkTarget(target string) error {
	if target == "" {
		return invalidf("target is required")
	}
	if n := utf8.RuneCountInString(target); n > sinch.MaxWebhookTargetLength {
		return invalidf("target is %d characters long, more than %d", n, sinch.MaxWebhookTargetLength)
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalidf("target must be an absolute http(s) URL, got %q", target)
	}
	host := strings.ToLower(u.Hostname())
	if strings.HasSuffix(host, ".sinch.com") && slices.Contains(strings.Split(host, "."), "conversation-api") {
		return invalidf("target host %s is a *.conversation-api.*.sinch.com host, which Sinch forbids", host)
	}
	return nil
}

// checkWebhook checks a webhook against Sinch's rules, others being the
// other webhooks of its app.
func checkWebhook(w Webhook, others []*hook) error {
	if err := checkTarget(w.Target); err != nil {
		return err
	}
	switch w.TargetType {
	case sinch.WebhookTargetTypeHTTP, WebhookTargetTypeDismiss:
	default:
		return invalidf("target_type must be HTTP or DISMISS, got %q", w.TargetType)
	}
	for _, t := range w.Triggers {
		switch {
		case t == webhookTriggerUnspecified:
			return invalidf("trigger %s is not allowed: name the triggers the webhook receives", t)
		case !slices.Contains(webhookTriggers, t):
			return invalidf("unknown trigger %q", t)
		}
	}
	if cc := w.ClientCredentials; cc != nil && (cc.ClientID == "" || cc.ClientSecret == "" || cc.Endpoint == "") {
		return invalidf("client_credentials needs client_id, client_secret and endpoint")
	}
	for _, o := range others {
		if o.ID != w.ID && o.Target == w.Target {
			return invalidf("duplicate target: webhook %s of app %s already has target %s", o.ID, w.AppID, w.Target)
		}
	}
	return nil
}

// Webhooks lists the webhooks of an app in creation order. Errors:
// ErrAppNotFound.
func (s *Server) Webhooks(appID string) ([]Webhook, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.apps[appID]; !ok {
		return nil, ErrAppNotFound
	}
	out := []Webhook{}
	for _, h := range s.webhooks[appID] {
		out = append(out, h.clone())
	}
	return out, nil
}

// GetWebhook returns a webhook. Errors: ErrWebhookNotFound.
func (s *Server) GetWebhook(id string) (Webhook, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, _ := s.findHook(id)
	if h == nil {
		return Webhook{}, ErrWebhookNotFound
	}
	return h.clone(), nil
}

// findHook returns a stored webhook and its index in its app's list.
// Callers hold s.mu.
func (s *Server) findHook(id string) (*hook, int) {
	if id == "" {
		return nil, -1
	}
	for _, hooks := range s.webhooks {
		for i, h := range hooks {
			if h.ID == id {
				return h, i
			}
		}
	}
	return nil, -1
}

// CreateWebhook adds a webhook to w.AppID, as POST
// /v1/projects/{project}/webhooks does (without the project check); ID is
// assigned and TargetType defaults to HTTP. Errors wrap ErrInvalid (Sinch's
// 400: more than sinch.MaxWebhooksPerApp webhooks, a duplicate target, a bad
// target or trigger) or ErrAppNotFound.
func (s *Server) CreateWebhook(w Webhook) (Webhook, error) {
	if w.AppID == "" {
		return Webhook{}, invalidf("app_id is required")
	}
	if w.TargetType == "" {
		w.TargetType = sinch.WebhookTargetTypeHTTP
	}
	w = w.clone()
	s.mu.Lock()
	if _, ok := s.apps[w.AppID]; !ok {
		s.mu.Unlock()
		return Webhook{}, ErrAppNotFound
	}
	w.ID = newULID(s.now())
	hooks := s.webhooks[w.AppID]
	if len(hooks) >= sinch.MaxWebhooksPerApp {
		s.mu.Unlock()
		return Webhook{}, invalidf("app %s already has %d webhooks, the most Sinch allows per app", w.AppID, sinch.MaxWebhooksPerApp)
	}
	if err := checkWebhook(w, hooks); err != nil {
		s.mu.Unlock()
		return Webhook{}, err
	}
	s.webhooks[w.AppID] = append(hooks, &hook{Webhook: w})
	gen := s.changed()
	s.mu.Unlock()
	s.commit(gen)
	return w.clone(), nil
}

// UpdateWebhook changes the fields of webhook id that mask names (target,
// target_type, secret, triggers, client_credentials) to those of w, as
// PATCH /v1/projects/{project}/webhooks/{id} does; an empty mask changes
// them all. Errors wrap ErrInvalid or ErrWebhookNotFound.
func (s *Server) UpdateWebhook(id string, w Webhook, mask []string) (Webhook, error) {
	if len(mask) == 0 {
		mask = webhookFields
	}
	for _, f := range mask {
		switch {
		case f == "id" || f == "app_id":
			return Webhook{}, invalidf("update_mask: %s cannot be changed", f)
		case !slices.Contains(webhookFields, f):
			return Webhook{}, invalidf("update_mask: %q is not a field of Webhook (%s)", f, strings.Join(webhookFields, ", "))
		}
	}
	w = w.clone()
	s.mu.Lock()
	h, i := s.findHook(id)
	if h == nil {
		s.mu.Unlock()
		return Webhook{}, ErrWebhookNotFound
	}
	if w.AppID != "" && w.AppID != h.AppID {
		s.mu.Unlock()
		return Webhook{}, invalidf("app_id cannot be changed (webhook %s belongs to app %s)", id, h.AppID)
	}
	next := h.Webhook.clone()
	for _, f := range mask {
		switch f {
		case "target":
			next.Target = w.Target
		case "target_type":
			next.TargetType = cmp.Or(w.TargetType, sinch.WebhookTargetTypeHTTP)
		case "secret":
			next.Secret = w.Secret
		case "triggers":
			next.Triggers = w.Triggers
		case "client_credentials":
			next.ClientCredentials = w.ClientCredentials
		}
	}
	if err := checkWebhook(next, s.webhooks[h.AppID]); err != nil {
		s.mu.Unlock()
		return Webhook{}, err
	}
	s.webhooks[h.AppID][i] = &hook{Webhook: next, fromApp: h.fromApp}
	gen := s.changed()
	s.mu.Unlock()
	s.commit(gen)
	return next.clone(), nil
}

// DeleteWebhook removes a webhook. Errors: ErrWebhookNotFound.
func (s *Server) DeleteWebhook(id string) error {
	s.mu.Lock()
	h, i := s.findHook(id)
	if h == nil {
		s.mu.Unlock()
		return ErrWebhookNotFound
	}
	hooks := slices.Delete(slices.Clone(s.webhooks[h.AppID]), i, i+1)
	if len(hooks) == 0 {
		delete(s.webhooks, h.AppID)
	} else {
		s.webhooks[h.AppID] = hooks
	}
	gen := s.changed()
	s.mu.Unlock()
	s.commit(gen)
	return nil
}

// sinchCall runs the checks every app and webhook endpoint shares: the
// region of the path, the bearer token of the project. It returns the
// project and region, or false once it wrote the error.
func (s *Server) sinchCall(w http.ResponseWriter, r *http.Request) (projectID, region string, ok bool) {
	projectID = r.PathValue("projectId")
	region, ok = requestRegion(r)
	if !ok {
		writeSinchError(w, http.StatusNotFound, "Not found: "+r.URL.Path)
		return "", "", false
	}
	if !s.authorize(w, r, projectID) {
		return "", "", false
	}
	return projectID, region, true
}

// writeWebhookError maps an error of the webhook Go API to Sinch's body.
func writeWebhookError(w http.ResponseWriter, err error, appID, projectID string) {
	switch {
	case errors.Is(err, ErrInvalid):
		writeSinchError(w, http.StatusBadRequest, "Invalid argument: "+strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": ")+".")
	case errors.Is(err, ErrAppNotFound):
		writeSinchError(w, http.StatusNotFound, fmt.Sprintf("App %s not found in project %s in this region.", appID, projectID))
	case errors.Is(err, ErrWebhookNotFound):
		writeSinchError(w, http.StatusNotFound, "Webhook not found.")
	default:
		writeSinchError(w, http.StatusInternalServerError, "Internal error encountered.")
	}
}

// decodeWebhook decodes a webhook body, refusing unknown fields as Sinch's
// JSON gateway does; present lists the keys the body holds with a non-null
// value.
func decodeWebhook(w http.ResponseWriter, r *http.Request) (Webhook, []string, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err != nil {
		return Webhook{}, nil, fmt.Errorf("Invalid JSON payload received: %v", err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return Webhook{}, nil, fmt.Errorf("Invalid JSON payload received: %v", err)
	}
	var present []string
	for k, v := range fields {
		if string(v) != "null" {
			present = append(present, k)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var wh Webhook
	if err := dec.Decode(&wh); err != nil {
		return Webhook{}, nil, fmt.Errorf("Invalid JSON payload received: %v", err)
	}
	return wh, present, nil
}

// handleCreateWebhook is POST [/{region}]/v1/projects/{projectId}/webhooks.
func (s *Server) handleCreateWebhook(w http.ResponseWriter, r *http.Request) {
	projectID, region, ok := s.sinchCall(w, r)
	if !ok {
		return
	}
	wh, _, err := decodeWebhook(w, r)
	if err != nil {
		writeSinchError(w, http.StatusBadRequest, err.Error())
		return
	}
	if wh.AppID == "" {
		writeSinchError(w, http.StatusBadRequest, "Invalid argument: app_id is required.")
		return
	}
	if _, ok := s.projectApp(w, wh.AppID, projectID, region); !ok {
		return
	}
	wh.ID = ""
	created, err := s.CreateWebhook(wh)
	if err != nil {
		writeWebhookError(w, err, wh.AppID, projectID)
		return
	}
	writeJSON(w, http.StatusOK, created)
}

// handleListWebhooks is GET [/{region}]/v1/projects/{projectId}/apps/{appId}/webhooks.
func (s *Server) handleListWebhooks(w http.ResponseWriter, r *http.Request) {
	projectID, region, ok := s.sinchCall(w, r)
	if !ok {
		return
	}
	app, ok := s.projectApp(w, r.PathValue("appId"), projectID, region)
	if !ok {
		return
	}
	hooks, err := s.Webhooks(app.AppID)
	if err != nil {
		writeWebhookError(w, err, app.AppID, projectID)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]Webhook{"webhooks": hooks})
}

// projectWebhook returns the webhook a call names, or writes the 404 for
// an unknown id and for a webhook of another project or region alike.
func (s *Server) projectWebhook(w http.ResponseWriter, r *http.Request, projectID, region string) (Webhook, bool) {
	id := r.PathValue("webhookId")
	wh, err := s.GetWebhook(id)
	if err == nil {
		if app, ok := s.app(wh.AppID); ok && app.ProjectID == projectID && (region == "" || region == app.Region) {
			return wh, true
		}
	}
	writeSinchError(w, http.StatusNotFound, fmt.Sprintf("Webhook %s not found in project %s.", id, projectID))
	return Webhook{}, false
}

// handleGetWebhook is GET [/{region}]/v1/projects/{projectId}/webhooks/{webhookId}.
func (s *Server) handleGetWebhook(w http.ResponseWriter, r *http.Request) {
	projectID, region, ok := s.sinchCall(w, r)
	if !ok {
		return
	}
	if wh, ok := s.projectWebhook(w, r, projectID, region); ok {
		writeJSON(w, http.StatusOK, wh)
	}
}

// handleUpdateWebhook is PATCH [/{region}]/v1/projects/{projectId}/webhooks/{webhookId}.
// The mask is the repeated update_mask.paths query parameter (or a
// comma-separated update_mask); without one, the fields present in the body
// are replaced.
func (s *Server) handleUpdateWebhook(w http.ResponseWriter, r *http.Request) {
	projectID, region, ok := s.sinchCall(w, r)
	if !ok {
		return
	}
	cur, ok := s.projectWebhook(w, r, projectID, region)
	if !ok {
		return
	}
	wh, present, err := decodeWebhook(w, r)
	if err != nil {
		writeSinchError(w, http.StatusBadRequest, err.Error())
		return
	}
	mask := updateMask(r.URL.Query())
	if len(mask) == 0 {
		for _, f := range webhookFields {
			if slices.Contains(present, f) {
				mask = append(mask, f)
			}
		}
		if len(mask) == 0 {
			writeSinchError(w, http.StatusBadRequest, "Invalid argument: nothing to update: give update_mask.paths or the fields to replace.")
			return
		}
	}
	updated, err := s.UpdateWebhook(cur.ID, wh, mask)
	if err != nil {
		writeWebhookError(w, err, cur.AppID, projectID)
		return
	}
	writeJSON(w, http.StatusOK, updated)
}

// updateMask reads the field mask of a PATCH: every update_mask.paths
// value, and the comma-separated update_mask.
func updateMask(q url.Values) []string {
	var mask []string
	for _, key := range []string{"update_mask.paths", "update_mask"} {
		for _, v := range q[key] {
			for p := range strings.SplitSeq(v, ",") {
				if p = strings.TrimSpace(p); p != "" && !slices.Contains(mask, p) {
					mask = append(mask, p)
				}
			}
		}
	}
	return mask
}

// handleDeleteWebhook is DELETE [/{region}]/v1/projects/{projectId}/webhooks/{webhookId}.
func (s *Server) handleDeleteWebhook(w http.ResponseWriter, r *http.Request) {
	projectID, region, ok := s.sinchCall(w, r)
	if !ok {
		return
	}
	wh, ok := s.projectWebhook(w, r, projectID, region)
	if !ok {
		return
	}
	if err := s.DeleteWebhook(wh.ID); err != nil {
		writeWebhookError(w, err, wh.AppID, projectID)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}
