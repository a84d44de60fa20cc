package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/xcally-connector/connector/internal/principal"
)

// apiError is an API answer of 400 or more: its status and the code and
// message of its JSON error body, which the console shows as they are.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// buffered is the ResponseWriter of an in-process API call.
type buffered struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *buffered) Header() http.Header { return b.header }
func (b *buffered) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
func (b *buffered) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

// apiRequest builds the in-process request of a console request c: the
// browser's address and forwarding headers (the API's per-client limits
// and log see the real client), its request id, and the JSON body.
func apiRequest(c echo.Context, ctx context.Context, method, path string, body io.Reader, contentType string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	in := c.Request()
	req.RemoteAddr, req.Host = in.RemoteAddr, in.Host
	for _, h := range []string{"X-Forwarded-For", "X-Real-Ip", "X-Forwarded-Proto", echo.HeaderXRequestID, "User-Agent"} {
		if v := in.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	if contentType != "" {
		req.Header.Set(echo.HeaderContentType, contentType)
	}
	req.Header.Set(echo.HeaderAccept, echo.MIMEApplicationJSON)
	return req, nil
}

// roundTrip serves req with the API and decodes its answer: JSON into out
// (when not nil), an error answer into an *apiError.
func (s *Server) roundTrip(req *http.Request, out any) (http.Header, error) {
	w := &buffered{header: http.Header{}}
	s.deps.API.ServeHTTP(w, req)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.status >= 400 {
		var body struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		ae := &apiError{Status: w.status, Code: "error", Message: strings.TrimSpace(w.body.String())}
		if json.Unmarshal(w.body.Bytes(), &body) == nil && body.Error.Message != "" {
			ae.Code, ae.Message = body.Error.Code, body.Error.Message
		}
		if ae.Message == "" {
			ae.Message = http.StatusText(w.status)
		}
		return w.header, ae
	}
	if out != nil && w.body.Len() > 0 {
		if err := json.Unmarshal(w.body.Bytes(), out); err != nil {
			return w.header, fmt.Errorf("console: %s %s answered what is not JSON: %w", req.Method, req.URL.Path, err)
		}
	}
	return w.header, nil
}

// call runs an API route as the session's principal: in (when not nil)
// sent as JSON, the answer decoded into out.
func (s *Server) call(c echo.Context, method, path string, in, out any) error {
	_, err := s.callH(c, method, path, in, out)
	return err
}

// callH is call, also returning the answer's headers (X-Workflow-Id).
func (s *Server) callH(c echo.Context, method, path string, in, out any) (http.Header, error) {
	var body io.Reader
	ct := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body, ct = bytes.NewReader(b), echo.MIMEApplicationJSON
	}
	ctx := principal.With(c.Request().Context(), principalOf(sessionOf(c)))
	req, err := apiRequest(c, ctx, method, path, body, ct)
	if err != nil {
		return nil, err
	}
	return s.roundTrip(req, out)
}

// callAsBearer runs an API route with a bearer token, as a client on the
// wire would (the sign-in's check of the token).
func (s *Server) callAsBearer(c echo.Context, token, method, path string, out any) error {
	req, err := apiRequest(c, c.Request().Context(), method, path, nil, "")
	if err != nil {
		return err
	}
	req.Header.Set(echo.HeaderAuthorization, "Bearer "+token)
	_, err = s.roundTrip(req, out)
	return err
}

// stream serves an API route as the session's principal straight into the
// console's response (files, the event stream), with the given request
// headers passed on.
func (s *Server) stream(c echo.Context, method, path string, pass ...string) error {
	ctx := principal.With(c.Request().Context(), principalOf(sessionOf(c)))
	req, err := apiRequest(c, ctx, method, path, nil, "")
	if err != nil {
		return err
	}
	req.Header.Del(echo.HeaderAccept)
	for _, h := range pass {
		if v := c.Request().Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	s.deps.API.ServeHTTP(c.Response(), req)
	return nil
}
