package sinch

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrorClass tells a caller what to do with a failed Sinch call.
type ErrorClass string

// The error classes. Retryable and rate-limited errors are worth repeating
// (after APIError.RetryAfter when it is set); permanent ones are not.
const (
	ErrorClassRetryable   ErrorClass = "retryable"
	ErrorClassRateLimited ErrorClass = "rate_limited"
	ErrorClassPermanent   ErrorClass = "permanent"
)

// Operations named in APIError.Op.
const (
	OpToken = "token"
	OpSend  = "send"
	OpList  = "list"
	// OpApp reads an app; OpWebhooks lists, creates, updates or deletes
	// webhooks.
	OpApp      = "app"
	OpWebhooks = "webhooks"
)

// maxErrorMessage bounds the message taken from a body Sinch did not shape.
const maxErrorMessage = 512

// APIError is a failed call to Sinch: an error answer of the token endpoint
// or the Conversation API, a network failure, or a request rejected locally
// before it was sent. It never carries a key secret or an access token.
type APIError struct {
	// HTTPStatus is 0 for network failures and local validation errors.
	HTTPStatus int
	// Status is the gRPC-style status (INVALID_ARGUMENT, UNAUTHENTICATED,
	// NOT_FOUND, RESOURCE_EXHAUSTED, ...): Sinch's when its body names one,
	// else derived from HTTPStatus. Local validation errors use
	// INVALID_ARGUMENT.
	Status string
	// Message is Sinch's message, or the start of a body that is not JSON.
	Message string
	// Details is the raw `details` array of a Sinch error, or the whole
	// body of a problem-style error.
	Details json.RawMessage
	// RetryAfter is the Retry-After of a 429 or 5xx answer (0 when absent).
	RetryAfter time.Duration
	// Class says whether repeating the call can help.
	Class ErrorClass
	// Op is OpToken, OpSend, OpList, OpApp or OpWebhooks.
	Op string
	// Err is the network cause, if any.
	Err error
}

// Error reads like "sinch send: 404 NOT_FOUND: app not found in region".
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("sinch")
	if e.Op != "" {
		b.WriteString(" " + e.Op)
	}
	b.WriteString(":")
	if e.HTTPStatus != 0 {
		b.WriteString(" " + strconv.Itoa(e.HTTPStatus))
	}
	if e.Status != "" {
		b.WriteString(" " + e.Status)
	}
	sep := ":"
	if e.HTTPStatus == 0 && e.Status == "" {
		sep = "" // "sinch send:" already ends with a colon
	}
	if e.Message != "" {
		b.WriteString(sep + " " + e.Message)
		sep = ":"
	}
	if e.Err != nil {
		b.WriteString(sep + " " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the network cause.
func (e *APIError) Unwrap() error { return e.Err }

// Retryable reports whether repeating the call can succeed.
func (e *APIError) Retryable() bool {
	return e.Class == ErrorClassRetryable || e.Class == ErrorClassRateLimited
}

// AsAPIError finds an *APIError in err's chain.
func AsAPIError(err error) (*APIError, bool) {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr, true
	}
	return nil, false
}

// classifyStatus maps an HTTP error status to a class: 429 is rate limited,
// 408 and 5xx are transient, every other status is permanent (the request
// or the configuration must change first).
func classifyStatus(code int) ErrorClass {
	switch {
	case code == http.StatusTooManyRequests:
		return ErrorClassRateLimited
	case code == http.StatusRequestTimeout, code >= 500:
		return ErrorClassRetryable
	default:
		return ErrorClassPermanent
	}
}

// grpcStatusOf is the google.rpc status conventionally paired with an HTTP
// status, used when the body names none.
func grpcStatusOf(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusConflict:
		return "ABORTED"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusInternalServerError:
		return "INTERNAL"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	case http.StatusBadGateway, http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	}
	return ""
}

// responseError builds the APIError of a non-2xx answer from its status,
// headers and (possibly truncated) body.
func responseError(op string, code int, header http.Header, body []byte, now time.Time) *APIError {
	e := &APIError{Op: op, HTTPStatus: code, Class: classifyStatus(code)}
	parseErrorBody(e, body)
	if e.Status == "" {
		e.Status = grpcStatusOf(code)
	}
	if e.Message == "" {
		e.Message = http.StatusText(code)
	}
	if e.Class != ErrorClassPermanent {
		e.RetryAfter = parseRetryAfter(header.Get("Retry-After"), now)
	}
	return e
}

// parseErrorBody fills Status, Message and Details from any of the bodies
// Sinch answers with:
//
//   - the Conversation API shape {"error":{"code","message","status","details"}}
//   - the problem shape {"type","title","detail","status",...}
//   - the OAuth2 shape {"error":"invalid_client","error_description":"..."}
//
// Anything else, JSON or not, gives the start of the body as the message.
func parseErrorBody(e *APIError, body []byte) {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) == nil {
		if raw, ok := top["error"]; ok {
			var gerr struct {
				Message string          `json:"message"`
				Status  string          `json:"status"`
				Details json.RawMessage `json:"details"`
			}
			if json.Unmarshal(raw, &gerr) == nil && (gerr.Message != "" || gerr.Status != "") {
				e.Message, e.Status = gerr.Message, gerr.Status
				if len(gerr.Details) > 0 && !bytes.Equal(gerr.Details, []byte("null")) {
					e.Details = gerr.Details
				}
				return
			}
			var oauth struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			if json.Unmarshal(body, &oauth) == nil && oauth.Error != "" {
				e.Message = joinNonEmpty(oauth.Error, oauth.Description)
				return
			}
		}
		var problem struct {
			Type   string `json:"type"`
			Title  string `json:"title"`
			Detail string `json:"detail"`
		}
		if json.Unmarshal(body, &problem) == nil && (problem.Title != "" || problem.Detail != "") {
			// The problem's own status is the HTTP code, not a gRPC name.
			e.Message = joinNonEmpty(problem.Title, problem.Detail)
			e.Details = json.RawMessage(bytes.Clone(body))
			return
		}
	}
	e.Message = truncateUTF8(strings.TrimSpace(string(body)), maxErrorMessage)
}

// joinNonEmpty joins a and b with ": ", dropping an empty one and b when it
// merely repeats a.
func joinNonEmpty(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "", strings.EqualFold(a, b):
		return a
	}
	return a + ": " + b
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune and
// replaces invalid bytes, so the message is safe to log.
func truncateUTF8(s string, n int) string {
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date.
// A missing, malformed or past value gives 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		if d := at.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// networkError wraps a transport failure. Certificate failures are
// permanent (retrying cannot fix a wrong URL or CA); everything else
// (dial, timeout, reset, EOF) is transient.
func networkError(op string, err error) *APIError {
	class := ErrorClassRetryable
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
	)
	if errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify) {
		class = ErrorClassPermanent
	}
	return &APIError{Op: op, Class: class, Message: "request failed", Err: err}
}
