package sinch

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Limits Sinch documents for send requests, checked before sending.
const (
	maxMessageMetadataLength = 1024
	maxCorrelationIDLength   = 128
)

// ClientConfig is the Sinch project, app and access key a Client sends with.
type ClientConfig struct {
	// Region is eu, us or br; it picks the base URL when BaseURL is empty
	// and must match the app's region.
	Region string
	// BaseURL overrides the Conversation API origin (the emulator).
	BaseURL string
	// AuthURL is the full OAuth2 token endpoint; DefaultAuthURL when empty.
	AuthURL string
	// ProjectID, AppID and the project access key (KeyID, KeySecret).
	ProjectID, AppID, KeyID, KeySecret string
	// MaxListPageBytes bounds one page of ListMessages
	// (DefaultMaxListPageBytes when 0).
	MaxListPageBytes int64
}

// Client sends and lists messages through the Sinch Conversation API of one
// app. It retries only once, after refreshing an expired token; every other
// failure is returned as an *APIError classified for the caller's retry
// policy. It is safe for concurrent use.
type Client struct {
	cfg     ClientConfig
	sendURL string
	listURL string
	// projectURL is {base}/v1/projects/{project_id}: apps and webhooks.
	projectURL string
	// maxPageBytes bounds a ListMessages answer.
	maxPageBytes int64
	tokens       *TokenCache
	httpClient   *http.Client
}

// NewClient checks cfg and builds a client that takes its tokens from the
// shared tokens cache and sends with httpClient (http.DefaultClient when
// nil; the context passed to each call bounds it).
func NewClient(cfg ClientConfig, tokens *TokenCache, httpClient *http.Client) (*Client, error) {
	if tokens == nil {
		return nil, errors.New("sinch: NewClient needs a TokenCache")
	}
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	var missing []string
	for _, f := range []struct{ name, value string }{
		{"project id", cfg.ProjectID}, {"app id", cfg.AppID}, {"key id", cfg.KeyID}, {"key secret", cfg.KeySecret},
	} {
		if strings.TrimSpace(f.value) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("sinch: client config: missing %s", strings.Join(missing, ", "))
	}

	base := strings.TrimRight(cfg.BaseURL, "/")
	switch {
	case base != "":
		if err := checkHTTPURL(base); err != nil {
			return nil, fmt.Errorf("sinch: client config: base URL: %w", err)
		}
	case cfg.Region == "":
		return nil, errors.New("sinch: client config: set a region (eu, us, br) or a base URL")
	default:
		u, err := RegionBaseURL(cfg.Region)
		if err != nil {
			return nil, err
		}
		base = u
	}
	cfg.AuthURL = AuthURLOf(cfg.AuthURL)
	if err := checkHTTPURL(cfg.AuthURL); err != nil {
		return nil, fmt.Errorf("sinch: client config: auth URL: %w", err)
	}
	project := base + "/v1/projects/" + url.PathEscape(cfg.ProjectID)
	messages := project + "/messages"
	return &Client{
		cfg:          cfg,
		sendURL:      messages + ":send",
		listURL:      messages,
		projectURL:   project,
		maxPageBytes: cmp.Or(cfg.MaxListPageBytes, DefaultMaxListPageBytes),
		tokens:       tokens,
		httpClient:   httpClient,
	}, nil
}

// checkHTTPURL accepts absolute http and https URLs.
func checkHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	return nil
}

// SendMessage sends req (AppID defaults to the configured app) and returns
// Sinch's message id. An invalid request is rejected locally with a
// permanent *APIError (HTTPStatus 0, Status INVALID_ARGUMENT). A 401 whose
// WWW-Authenticate (or body) says the token expired is retried once with a
// fresh token. Failures are *APIError, except the caller's own ctx ending,
// which returns ctx.Err() as-is.
func (c *Client) SendMessage(ctx context.Context, req SendMessageRequest) (SendMessageResponse, error) {
	if req.AppID == "" {
		req.AppID = c.cfg.AppID
	}
	if err := validateSendRequest(req); err != nil {
		return SendMessageResponse{}, err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return SendMessageResponse{}, &APIError{Op: OpSend, Class: ErrorClassPermanent, Status: "INVALID_ARGUMENT", Message: "encode request", Err: err}
	}
	var out SendMessageResponse
	err = c.call(ctx, OpSend, http.MethodPost, c.sendURL, body, maxBodySize, func(code int, respBody []byte, readErr error) *APIError {
		if readErr == nil {
			readErr = json.Unmarshal(respBody, &out)
		}
		if readErr == nil && out.MessageID != "" {
			return nil
		}
		// Sinch accepted the message: a retry would send it twice, so
		// this is permanent even though the id is lost.
		return &APIError{
			Op: OpSend, HTTPStatus: code, Class: ErrorClassPermanent,
			Message: "message accepted but the response has no readable message_id; not retrying to avoid a duplicate",
			Err:     readErr,
		}
	})
	if err != nil {
		return SendMessageResponse{}, err
	}
	return out, nil
}

// decodeFunc reads a 2xx answer: its status and body, or readErr when the
// body could not be read whole (errBodyTooLarge past the call's limit).
type decodeFunc func(code int, body []byte, readErr error) *APIError

// errBodyTooLarge is the readErr of a 2xx body longer than the call allows.
var errBodyTooLarge = errors.New("response body too large")

// call makes one Conversation API request with a cached token, repeating it
// once with a fresh token when Sinch says the token expired. A 2xx answer is
// handed to decode; any other is an *APIError.
func (c *Client) call(ctx context.Context, op, method, target string, body []byte, limit int64, decode decodeFunc) error {
	for attempt := 0; ; attempt++ {
		token, err := c.tokens.Token(ctx, c.cfg.AuthURL, c.cfg.KeyID, c.cfg.KeySecret)
		if err != nil {
			return err
		}
		callErr, err := c.roundTrip(ctx, op, method, target, token, body, limit, decode)
		if err != nil {
			return err
		}
		if callErr == nil {
			return nil
		}
		if attempt == 0 && callErr.expiredToken {
			c.tokens.Invalidate(c.cfg.AuthURL, c.cfg.KeyID, token)
			continue
		}
		return callErr.APIError
	}
}

// callError is a failed request plus whether it was an expired-token 401.
type callError struct {
	*APIError
	expiredToken bool
}

// roundTrip sends one request (body nil for none). It returns nil on
// success, the Sinch/network failure as a callError, or the caller's
// context error.
func (c *Client) roundTrip(ctx context.Context, op, method, target, token string, body []byte, limit int64, decode decodeFunc) (*callError, error) {
	var reqBody io.Reader
	if body != nil {
		reqBody = bytes.NewReader(body)
	}
	httpReq, err := http.NewRequestWithContext(ctx, method, target, reqBody)
	if err != nil {
		return nil, &APIError{Op: op, Class: ErrorClassPermanent, Message: "build request", Err: err}
	}
	httpReq.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		httpReq.Header.Set("Content-Type", "application/json")
	}
	httpReq.Header.Set("Accept", "application/json")

	res, err := c.httpClient.Do(httpReq)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return &callError{APIError: networkError(op, err)}, nil
	}
	defer res.Body.Close()
	respBody, readErr := io.ReadAll(io.LimitReader(res.Body, limit+1))
	if readErr != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	tooLarge := int64(len(respBody)) > limit
	if tooLarge {
		respBody = respBody[:limit]
	}

	if res.StatusCode >= 200 && res.StatusCode <= 299 {
		if readErr == nil && tooLarge {
			readErr = errBodyTooLarge
		}
		if apiErr := decode(res.StatusCode, respBody, readErr); apiErr != nil {
			return &callError{APIError: apiErr}, nil
		}
		return nil, nil
	}
	if readErr != nil {
		// The status is known but the body was cut off.
		e := networkError(op, readErr)
		e.HTTPStatus, e.Class = res.StatusCode, classifyStatus(res.StatusCode)
		return &callError{APIError: e}, nil
	}
	apiErr := responseError(op, res.StatusCode, res.Header, respBody, c.tokens.now())
	expired := res.StatusCode == http.StatusUnauthorized &&
		(headerSaysExpired(res.Header) || strings.Contains(strings.ToLower(apiErr.Message), "expired"))
	return &callError{APIError: apiErr, expiredToken: expired}, nil
}

// headerSaysExpired reports whether a WWW-Authenticate value mentions an
// expired token, as Sinch's own SDK checks.
func headerSaysExpired(h http.Header) bool {
	for _, v := range h.Values("WWW-Authenticate") {
		if strings.Contains(strings.ToLower(v), "expired") {
			return true
		}
	}
	return false
}

// validateSendRequest checks what Sinch would reject synchronously with a
// 400, so a bad request fails fast and permanently without a token.
func validateSendRequest(req SendMessageRequest) error {
	invalid := func(format string, args ...any) error { return invalidRequest(OpSend, format, args...) }
	if req.AppID == "" {
		return invalid("app_id is empty")
	}
	r := req.Recipient
	switch {
	case r.ContactID != "" && r.IdentifiedBy != nil:
		return invalid("recipient has both contact_id and identified_by; set one")
	case r.ContactID == "" && r.IdentifiedBy == nil:
		return invalid("recipient needs a contact_id or identified_by")
	case r.IdentifiedBy != nil:
		if len(r.IdentifiedBy.ChannelIdentities) == 0 {
			return invalid("recipient.identified_by has no channel_identities")
		}
		for i, ci := range r.IdentifiedBy.ChannelIdentities {
			if ci.Channel == "" || ci.Identity == "" {
				return invalid("recipient.identified_by.channel_identities[%d] needs a channel and an identity", i)
			}
		}
	}

	kinds := req.Message.Kinds()
	if len(kinds) != 1 {
		return invalid("message must have exactly one kind, has %d (%s)", len(kinds), strings.Join(kinds, ", "))
	}
	if m := req.Message.TextMessage; m != nil {
		if m.Text == "" {
			return invalid("text_message.text is empty")
		}
		if n := utf8.RuneCountInString(m.Text); n > MaxTextLength {
			return invalid("text_message.text is %d characters, over the limit of %d", n, MaxTextLength)
		}
	}
	if m := req.Message.MediaMessage; m != nil && m.URL == "" {
		return invalid("media_message.url is empty")
	}
	if n := utf8.RuneCountInString(req.MessageMetadata); n > maxMessageMetadataLength {
		return invalid("message_metadata is %d characters, over the limit of %d", n, maxMessageMetadataLength)
	}
	if n := utf8.RuneCountInString(req.CorrelationID); n > maxCorrelationIDLength {
		return invalid("correlation_id is %d characters, over the limit of %d", n, maxCorrelationIDLength)
	}
	return nil
}

// invalidRequest is a request rejected locally: permanent, INVALID_ARGUMENT,
// HTTPStatus 0.
func invalidRequest(op, format string, args ...any) *APIError {
	return &APIError{Op: op, Class: ErrorClassPermanent, Status: "INVALID_ARGUMENT", Message: fmt.Sprintf(format, args...)}
}

// TextRequest builds a send request for a text message; AppID is left for
// the client to fill.
func TextRequest(recipient Recipient, text string) SendMessageRequest {
	return SendMessageRequest{Recipient: recipient, Message: AppMessage{TextMessage: &TextMessage{Text: text}}}
}

// MediaRequest builds a send request for a file sent by URL; filename, when
// not empty, overrides the name the contact sees.
func MediaRequest(recipient Recipient, url, filename string) SendMessageRequest {
	return SendMessageRequest{
		Recipient: recipient,
		Message:   AppMessage{MediaMessage: &MediaMessage{URL: url, FilenameOverride: filename}},
	}
}

// ContactRecipient addresses a Sinch contact (CONVERSATION mode only).
func ContactRecipient(contactID string) Recipient {
	return Recipient{ContactID: contactID}
}

// IdentityRecipient addresses a channel identity, e.g. ("WHATSAPP",
// "46732001122"); it is the form DISPATCH-mode apps require.
func IdentityRecipient(channel, identity string) Recipient {
	return Recipient{IdentifiedBy: &IdentifiedBy{ChannelIdentities: []ChannelIdentity{{Channel: channel, Identity: identity}}}}
}
