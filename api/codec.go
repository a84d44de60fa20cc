package api

import (
	"crypto/subtle"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// codecAllowHeaders are the request headers the Temporal UI and CLI send to
// a codec server (Authorization-Extras carries an OIDC id token).
const codecAllowHeaders = "Authorization, Authorization-Extras, Content-Type, X-Namespace"

// registerCodecRoutes serves the Temporal codec server protocol: POST
// /codec/encode and /codec/decode take and return {"payloads":[...]} in
// protojson, so the Temporal UI and `temporal --codec-endpoint` show the
// encrypted payloads in clear to whoever holds CODEC_TOKEN.
func (s *Server) registerCodecRoutes(e *echo.Echo) {
	for _, op := range []string{"encode", "decode"} {
		e.POST("/codec/"+op, s.codec(op), s.codecCORS, s.requireCodecAuth)
		e.OPTIONS("/codec/"+op, s.codecPreflight, s.codecCORS)
	}
}

// codecCORS answers for the allowed origins (CODEC_CORS_ORIGINS, and dev's
// embedded UI) and refuses any other browser origin; a call without Origin
// (the CLI) is not a browser's and passes.
func (s *Server) codecCORS(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		origin := c.Request().Header.Get(echo.HeaderOrigin)
		h := c.Response().Header()
		h.Add(echo.HeaderVary, echo.HeaderOrigin)
		if origin == "" {
			return next(c)
		}
		if !slices.Contains(s.deps.CodecCORSOrigins, origin) && !slices.Contains(s.deps.CodecDevOrigins, origin) {
			return errForbidden("origin " + origin + " may not call the codec endpoint: add it to CODEC_CORS_ORIGINS")
		}
		h.Set(echo.HeaderAccessControlAllowOrigin, origin)
		// The UI's includeCredentials sends cookies: allowed for the listed
		// origins only (never with a wildcard).
		h.Set(echo.HeaderAccessControlAllowCredentials, "true")
		return next(c)
	}
}

func (s *Server) codecPreflight(c echo.Context) error {
	h := c.Response().Header()
	h.Set(echo.HeaderAccessControlAllowMethods, "POST, OPTIONS")
	h.Set(echo.HeaderAccessControlAllowHeaders, codecAllowHeaders)
	h.Set(echo.HeaderAccessControlMaxAge, "600")
	return c.NoContent(http.StatusNoContent)
}

// requireCodecAuth accepts `Authorization: Bearer <CODEC_TOKEN>`. In dev
// only, the embedded UI (which cannot send a static token) is let in
// without one: the call must come from loopback with the UI's own origin
// (docs/decisions.md §16).
func (s *Server) requireCodecAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		tok, ok := bearerToken(c.Request())
		if !ok {
			if s.devUICall(c.Request()) {
				return next(c)
			}
			if s.deps.CodecToken == "" {
				return errForbidden("the codec endpoint is off: set CODEC_TOKEN")
			}
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, "Bearer")
			return errUnauthorized("missing bearer token: send Authorization: Bearer <CODEC_TOKEN>")
		}
		if s.deps.CodecToken == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.deps.CodecToken)) != 1 {
			err := errForbidden("the bearer token is not the codec token (CODEC_TOKEN)")
			err.Err = errWrongToken // an auth failure, see limitAuthFailures
			return err
		}
		return next(c)
	}
}

// devUICall reports whether r is the dev embedded UI's browser calling from
// this machine. The remote address is the TCP peer, never a forwarded
// header.
func (s *Server) devUICall(r *http.Request) bool {
	if len(s.deps.CodecDevOrigins) == 0 || !slices.Contains(s.deps.CodecDevOrigins, r.Header.Get(echo.HeaderOrigin)) {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	ip := net.ParseIP(host)
	return err == nil && ip != nil && ip.IsLoopback()
}

// codec is the handler of one codec operation.
func (s *Server) codec(op string) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.deps.Codec == nil {
			return errUnavailable("codec_unavailable", "no payload codec configured", nil)
		}
		if ct := c.Request().Header.Get(echo.HeaderContentType); ct != "" && !strings.HasPrefix(ct, echo.MIMEApplicationJSON) {
			return errBadRequest("bad_content_type", "want Content-Type: application/json, got "+ct)
		}
		body, err := io.ReadAll(c.Request().Body)
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return errTooLarge(tooLarge.Limit)
			}
			return errBadRequest("bad_body", "cannot read the body: "+err.Error())
		}
		if len(strings.TrimSpace(string(body))) == 0 {
			return errBadRequest("bad_body", `empty body: want {"payloads":[...]} (Temporal Payloads in protojson)`)
		}
		var in commonpb.Payloads
		if err := protojson.Unmarshal(body, &in); err != nil {
			return errBadRequest("bad_body", `want {"payloads":[...]} (Temporal Payloads in protojson): `+err.Error())
		}
		out := in.Payloads
		if op == "encode" {
			out, err = s.deps.Codec.Encode(in.Payloads)
		} else {
			out, err = s.deps.Codec.Decode(in.Payloads)
		}
		if err != nil {
			return errBadRequest(op+"_failed", err.Error())
		}
		res, err := protojson.Marshal(&commonpb.Payloads{Payloads: out})
		if err != nil {
			return err
		}
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, res)
	}
}
