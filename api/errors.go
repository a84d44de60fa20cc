package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
	"go.temporal.io/api/serviceerror"
	"gorm.io/gorm"
)

// Error is an API error with its HTTP status and a stable machine code.
// Every error response has the body {"error":{"code":"…","message":"…"}}.
type Error struct {
	Status  int
	Code    string
	Message string
	// Err is the cause, logged for 5xx and never sent to the client.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// ErrorBody is the JSON shape of every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inner object of ErrorBody.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// RequestID lets an operator find the request in the logs.
	RequestID string `json:"requestId,omitempty"`
}

func errBadRequest(code, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: code, Message: msg}
}
func errUnauthorized(msg string) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: msg}
}
func errForbidden(msg string) *Error {
	return &Error{Status: http.StatusForbidden, Code: "forbidden", Message: msg}
}
func errTooLarge(limit int64) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large", Message: fmt.Sprintf("request body exceeds %d bytes", limit)}
}
func errUnavailable(code, msg string, cause error) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: code, Message: msg, Err: cause}
}

// handleError is the one place errors become HTTP responses.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	apiErr := s.classify(err)
	if apiErr.Status >= 500 {
		s.log.ErrorContext(c.Request().Context(), "request failed",
			"status", apiErr.Status, "code", apiErr.Code, "err", err,
			"method", c.Request().Method, "path", c.Path(), "request_id", requestID(c))
	}
	body := ErrorBody{Error: ErrorDetail{Code: apiErr.Code, Message: apiErr.Message, RequestID: requestID(c)}}
	var werr error
	if c.Request().Method == http.MethodHead {
		werr = c.NoContent(apiErr.Status)
	} else {
		werr = c.JSON(apiErr.Status, body)
	}
	if werr != nil {
		s.log.Warn("write error response", "err", werr)
	}
}

// classify maps any error to an *Error.
func (s *Server) classify(err error) *Error {
	var apiErr *Error
	var httpErr *echo.HTTPError
	var maxBytes *http.MaxBytesError
	var unavailable *serviceerror.Unavailable
	switch {
	case errors.As(err, &apiErr):
		return apiErr
	case errors.As(err, &maxBytes):
		return errTooLarge(maxBytes.Limit)
	case errors.Is(err, gorm.ErrRecordNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such resource"}
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return &Error{Status: http.StatusConflict, Code: "conflict", Message: "a resource with the same unique key already exists"}
	case errors.As(err, &unavailable), errors.Is(err, context.DeadlineExceeded):
		return errUnavailable("engine_unavailable", "the workflow engine is unreachable; retry later", err)
	case errors.As(err, &httpErr):
		return fromEchoError(httpErr)
	default:
		return &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error", Err: err}
	}
}

// fromEchoError keeps echo's own statuses (404 route not found, 405, bind
// errors) in our body shape.
func fromEchoError(he *echo.HTTPError) *Error {
	msg := http.StatusText(he.Code)
	if m, ok := he.Message.(string); ok && m != "" {
		msg = m
	}
	var maxBytes *http.MaxBytesError
	if errors.As(he.Internal, &maxBytes) {
		return errTooLarge(maxBytes.Limit)
	}
	code := "http_error"
	switch he.Code {
	case http.StatusNotFound:
		code = "not_found"
	case http.StatusMethodNotAllowed:
		code = "method_not_allowed"
	case http.StatusBadRequest:
		code = "bad_request"
		if he.Internal != nil {
			msg = msg + ": " + he.Internal.Error()
		}
	case http.StatusUnsupportedMediaType:
		code = "unsupported_media_type"
	case http.StatusRequestEntityTooLarge:
		code = "body_too_large"
	}
	return &Error{Status: he.Code, Code: code, Message: msg, Err: he.Internal}
}
