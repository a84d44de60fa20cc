package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// Request decoding and the validators shared by the configuration handlers.
// Every 400 they return has a message that starts with the JSON name of the
// offending field or path parameter, e.g. `region: want one of eu, us, br,
// got "asia"`.

// fieldError is the 400 of one invalid request field.
func fieldError(field, format string, args ...any) *Error {
	return errBadRequest("invalid_field", field+": "+fmt.Sprintf(format, args...))
}

// notFound is the 404 of a missing (or soft-deleted) row, naming its kind.
func notFound(kind string, id uint64) *Error {
	return &Error{Status: http.StatusNotFound, Code: "not_found", Message: fmt.Sprintf("%s %d does not exist", kind, id)}
}

// conflict is the 409 of a unique-key violation, naming the field.
func conflict(msg string, cause error) *Error {
	return &Error{Status: http.StatusConflict, Code: "conflict", Message: msg, Err: cause}
}

// parseID reads a positive integer path parameter. The upper bound is the
// largest signed 64-bit value because ids are BIGINT columns.
func parseID(c echo.Context, name string) (uint64, error) {
	raw := c.Param(name)
	id, err := strconv.ParseUint(raw, 10, 63)
	if err != nil || id == 0 {
		return 0, errBadRequest("invalid_id", fmt.Sprintf("%s: want a positive integer, got %q", name, raw))
	}
	return id, nil
}

// decodeJSON decodes the request body into v, refusing unknown fields and
// trailing data so that a misspelt field is an error instead of a no-op.
func decodeJSON(c echo.Context, v any) error {
	body := c.Request().Body
	if body == nil {
		return errBadRequest("invalid_json", "body: want a JSON object, got an empty body")
	}
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if err := dec.Decode(&json.RawMessage{}); !errors.Is(err, io.EOF) {
		var maxBytes *http.MaxBytesError
		if errors.As(err, &maxBytes) {
			return err
		}
		return errBadRequest("invalid_json", "body: unexpected data after the JSON object")
	}
	return nil
}

// jsonError turns a decoding error into a 400 naming the field, or passes a
// body-too-large error through to become a 413.
func jsonError(err error) error {
	var (
		maxBytes  *http.MaxBytesError
		typeErr   *json.UnmarshalTypeError
		syntaxErr *json.SyntaxError
	)
	switch {
	case errors.As(err, &maxBytes):
		return err
	case errors.Is(err, io.EOF):
		return errBadRequest("invalid_json", "body: want a JSON object, got an empty body")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errBadRequest("invalid_json", "body: truncated JSON")
	case errors.As(err, &syntaxErr):
		return errBadRequest("invalid_json", fmt.Sprintf("body: invalid JSON at offset %d: %v", syntaxErr.Offset, syntaxErr))
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return errBadRequest("invalid_json", fmt.Sprintf("body: want a JSON object, got %s", typeErr.Value))
		}
		return fieldError(field, "want %s, got %s", jsonTypeName(typeErr.Type.String()), typeErr.Value)
	}
	if name, ok := unknownField(err); ok {
		return errBadRequest("unknown_field", name+": unknown field")
	}
	return errBadRequest("invalid_json", "body: "+err.Error())
}

// unknownField extracts the name from encoding/json's `unknown field "x"`
// error, which has no typed form.
func unknownField(err error) (string, bool) {
	msg := err.Error()
	i := strings.Index(msg, "unknown field ")
	if i < 0 {
		return "", false
	}
	rest := msg[i+len("unknown field "):]
	if name, err := strconv.QuotedPrefix(rest); err == nil {
		if unq, err := strconv.Unquote(name); err == nil {
			return unq, true
		}
	}
	return rest, true
}

// jsonTypeName describes a Go type in JSON terms for error messages.
func jsonTypeName(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "a boolean"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "an integer"
	}
	return goType
}

// trimmed returns the value with surrounding white space removed.
func trimmed(p *string) *string {
	if p == nil {
		return nil
	}
	v := strings.TrimSpace(*p)
	return &v
}

// checkRequired: present, non-empty after trimming, at most max characters.
func checkRequired(field string, v *string, max int) error {
	if v == nil || *v == "" {
		return fieldError(field, "required")
	}
	return checkMax(field, v, max)
}

// checkMax limits a string's length in characters (the columns are sized in
// characters on Postgres).
func checkMax(field string, v *string, max int) error {
	if v != nil && utf8.RuneCountInString(*v) > max {
		return fieldError(field, "at most %d characters, got %d", max, utf8.RuneCountInString(*v))
	}
	return nil
}

// checkOneOf requires v to be one of allowed.
func checkOneOf(field, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fieldError(field, "want one of %s, got %q", strings.Join(allowed, ", "), v)
}

// checkURL validates an absolute https URL (http only for a loopback host)
// without credentials, query or fragment, and returns it with any trailing
// slash removed. originOnly also refuses a path other than "/".
func checkURL(field, raw string, originOnly bool) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fieldError(field, "not a valid URL: %q", raw)
	}
	if !u.IsAbs() || u.Host == "" || u.Hostname() == "" {
		return "", fieldError(field, "want an absolute URL such as https://motion.example.com, got %q", raw)
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme == "https":
	case scheme == "http" && isLoopbackHost(u.Hostname()):
	case scheme == "http":
		return "", fieldError(field, "want https (http is allowed only for localhost, 127.0.0.0/8 and ::1), got %q", raw)
	default:
		return "", fieldError(field, "want an https URL, got scheme %q", u.Scheme)
	}
	if u.User != nil {
		return "", fieldError(field, "must not contain credentials")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", fieldError(field, "must not have a query or fragment, got %q", raw)
	}
	if originOnly && u.Path != "" && u.Path != "/" {
		return "", fieldError(field, "want an origin without a path (the connector adds /api/...), got path %q", u.Path)
	}
	u.Scheme = scheme
	return strings.TrimRight(u.String(), "/"), nil
}

// isLoopbackHost reports whether host is localhost or a loopback IP.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkBodyID validates an id given in a request body.
func checkBodyID(field string, id uint64) error {
	if id == 0 || id > math.MaxInt64 {
		return fieldError(field, "want a positive integer id, got %d", id)
	}
	return nil
}
