package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/internal/principal"
	"github.com/xcally-connector/connector/models"
)

// The cookies: the session's secret (every console path), and the
// sign-in form's CSRF token, set with the form and compared with its
// field (there is no session yet to hold one).
const (
	sessionCookie = "connector_console"
	signinCookie  = "connector_console_signin"
	csrfField     = "csrf"
	csrfHeader    = "X-CSRF-Token"
	sessionKey    = "web.session"
)

// securityHeaders are set on every console answer: scripts, styles and
// everything else only from this origin (no inline script or style, no
// eval: htmx runs with allowEval off), no framing, no sniffing.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "+
		"media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
}

// headers sets securityHeaders, and no caching: pages hold personal data.
func (s *Server) headers(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		securityHeaders(c.Response().Header())
		c.Response().Header().Set("Cache-Control", "no-store")
		return next(c)
	}
}

// secureCookies reports whether cookies must be Secure: always, except
// on plain http to a loopback host (dev on this machine).
func secureCookies(c echo.Context) bool {
	if c.Scheme() == "https" {
		return true
	}
	host := c.Request().Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// sessionOf is the request's session (requireSession set it).
func sessionOf(c echo.Context) *models.ConsoleSession {
	sess, _ := c.Get(sessionKey).(*models.ConsoleSession)
	return sess
}

// principalOf is who the session calls the API as.
func principalOf(sess *models.ConsoleSession) principal.Principal {
	if sess.Admin {
		return principal.Principal{Admin: true}
	}
	return principal.Principal{AgentID: sess.AgentID, TokenHash: sess.AgentTokenHash}
}

// requireSession loads the session named by the cookie. Without a live
// one a page is redirected to the sign-in (with the way back), an htmx
// request is told to go there (HX-Redirect). An agent's session ends when
// its token is rotated or the agent deleted.
func (s *Server) requireSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		now := s.deps.Now()
		ck, err := c.Cookie(sessionCookie)
		if err != nil || ck.Value == "" {
			return s.toSignin(c, "")
		}
		sess, err := models.FindConsoleSession(ctx, s.deps.DB, hashHex(ck.Value), now)
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return s.toSignin(c, "Your session has ended: sign in again.")
		}
		if err != nil {
			return fmt.Errorf("console session: %w", err)
		}
		if !sess.Admin {
			var n int64
			if err := s.deps.DB.WithContext(ctx).Model(&models.Agent{}).
				Where("id = ? AND token_hash = ?", sess.AgentID, sess.AgentTokenHash).Count(&n).Error; err != nil {
				return fmt.Errorf("console session: %w", err)
			}
			if n == 0 {
				_ = models.DeleteConsoleSession(ctx, s.deps.DB, sess.SecretHash)
				return s.toSignin(c, "Your token was changed or revoked: sign in with the new one.")
			}
		}
		if err := models.TouchConsoleSession(ctx, s.deps.DB, sess, now, s.deps.SessionIdle); err != nil {
			return fmt.Errorf("console session: %w", err)
		}
		c.Set(sessionKey, sess)
		return next(c)
	}
}

// toSignin sends a request without a session to the sign-in page, with
// why (shown there) and, for a page, the way back.
func (s *Server) toSignin(c echo.Context, why string) error {
	q := url.Values{}
	if why != "" {
		q.Set("why", why)
	}
	if c.Request().Method == http.MethodGet && c.Request().Header.Get("HX-Request") == "" {
		q.Set("next", c.Request().URL.RequestURI())
	}
	to := Prefix + "/signin"
	if len(q) > 0 {
		to += "?" + q.Encode()
	}
	if c.Request().Header.Get("HX-Request") != "" {
		c.Response().Header().Set("HX-Redirect", to)
		return c.NoContent(http.StatusUnauthorized)
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// checkCSRF refuses a state-changing request that does not carry the
// session's CSRF token (form field csrf, or the X-CSRF-Token header that
// htmx sends on every request of a page).
func (s *Server) checkCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		got := c.Request().Header.Get(csrfHeader)
		if got == "" {
			got = c.FormValue(csrfField)
		}
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sessionOf(c).CSRF)) != 1 {
			return s.problem(c, http.StatusForbidden, "csrf_failed",
				"This form's security token is missing or out of date: reload the page and try again.")
		}
		return next(c)
	}
}

// localNext is next when it is a console path on this site (never an
// open redirect), else the console's home.
func localNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.IsAbs() || u.Host != "" || !strings.HasPrefix(u.Path, Prefix+"/") || strings.HasPrefix(next, "//") ||
		strings.Contains(next, "\\") || u.Path == Prefix+"/signin" {
		return Prefix + "/"
	}
	return u.RequestURI()
}

type signinView struct {
	CSRF, Next, Why, Error string
}

// signinPage is the form: a field labelled Token and a Sign in button.
func (s *Server) signinPage(c echo.Context) error {
	tok := randomToken()
	c.SetCookie(&http.Cookie{Name: signinCookie, Value: tok, Path: Prefix + "/signin", HttpOnly: true,
		Secure: secureCookies(c), SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	return s.render(c, http.StatusOK, "signin", signinView{CSRF: tok, Next: localNext(c.QueryParam("next")), Why: c.QueryParam("why")})
}

// signin checks the token with the API (GET /api/whoami, so a wrong token
// counts towards the API's limit of authentication failures per client)
// and opens a session for its bearer.
func (s *Server) signin(c echo.Context) error {
	view := signinView{Next: localNext(c.FormValue("next"))}
	ck, err := c.Cookie(signinCookie)
	form := c.FormValue(csrfField)
	if err != nil || form == "" || subtle.ConstantTimeCompare([]byte(form), []byte(ck.Value)) != 1 {
		return s.problem(c, http.StatusForbidden, "csrf_failed",
			"This form's security token is missing or out of date: reload the page and try again.")
	}
	view.CSRF = ck.Value
	token := strings.TrimSpace(c.FormValue("token"))
	if token == "" {
		view.Error = "Enter your token: the admin token, or the token your admin gave you."
		return s.render(c, http.StatusBadRequest, "signin", view)
	}
	var who struct {
		Admin   bool   `json:"admin"`
		AgentID uint64 `json:"agentId"`
	}
	if err := s.callAsBearer(c, token, http.MethodGet, "/api/whoami", &who); err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			return err
		}
		view.Error = "That token is unknown or revoked."
		if ae.Status == http.StatusTooManyRequests {
			view.Error = ae.Message
		}
		return s.render(c, ae.Status, "signin", view)
	}
	now := s.deps.Now().UTC()
	secret := randomToken()
	sess := &models.ConsoleSession{SecretHash: hashHex(secret), Admin: who.Admin, AgentID: who.AgentID, CSRF: randomToken(),
		CreatedAt: now, LastSeenAt: now, MaxAt: now.Add(s.deps.SessionMax), ExpiresAt: now.Add(s.deps.SessionIdle)}
	if !who.Admin {
		sess.AgentTokenHash = hashHex(token)
	}
	ctx := c.Request().Context()
	if _, err := models.DeleteExpiredConsoleSessions(ctx, s.deps.DB, now); err != nil {
		s.deps.Logger.WarnContext(ctx, "console: could not delete expired sessions", "error", err)
	}
	if err := s.deps.DB.WithContext(ctx).Create(sess).Error; err != nil {
		return fmt.Errorf("console session: %w", err)
	}
	secure := secureCookies(c)
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: secret, Path: Prefix, HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(s.deps.SessionMax.Seconds())})
	c.SetCookie(&http.Cookie{Name: signinCookie, Value: "", Path: Prefix + "/signin", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	return c.Redirect(http.StatusSeeOther, view.Next)
}

// signout ends the session and clears its cookie.
func (s *Server) signout(c echo.Context) error {
	if err := models.DeleteConsoleSession(c.Request().Context(), s.deps.DB, sessionOf(c).SecretHash); err != nil {
		return fmt.Errorf("console sign-out: %w", err)
	}
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: "", Path: Prefix, HttpOnly: true, Secure: secureCookies(c),
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	if c.Request().Header.Get("HX-Request") != "" {
		c.Response().Header().Set("HX-Redirect", Prefix+"/signin?why="+url.QueryEscape("You have signed out."))
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, Prefix+"/signin?why="+url.QueryEscape("You have signed out."))
}
