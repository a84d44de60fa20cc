package web_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/internal/media"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/web"
)

const adminToken = "admin-token-0123456789abcdef"

// env is the API with the console on one echo server, on a fresh
// database, with a clock the test moves.
type env struct {
	t     *testing.T
	db    *gorm.DB
	e     *echo.Echo
	now   time.Time
	agent uint64
	token string
}

func newEnv(t *testing.T, engine models.Engine) *env {
	t.Helper()
	db := testdb.Open(t, engine)
	v := &env{t: t, db: db, now: time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC), token: "agent-token-abcdef0123456789"}
	store, err := media.NewFS(t.TempDir(), 0)
	require.NoError(t, err)
	v.e = api.New(api.Deps{DB: db, AdminToken: adminToken, TaskQueue: "q", AuthFailureBurst: 5, AuthFailureEvery: time.Minute,
		Media: store, MediaMaxBytes: 16 << 20})
	web.Register(v.e, web.Deps{DB: db, API: v.e, SessionIdle: time.Hour, SessionMax: 3 * time.Hour, Now: func() time.Time { return v.now }})
	sum := sha256.Sum256([]byte(v.token))
	a := models.Agent{Name: "Ada <script>alert(1)</script>", Capacity: 2, TokenHash: hex.EncodeToString(sum[:])}
	require.NoError(t, db.Create(&a).Error)
	v.agent = a.ID
	return v
}

// do sends a request from the browser at host (127.0.0.1 unless given),
// with cookies.
func (v *env) do(method, target string, form url.Values, cookies []*http.Cookie, header map[string]string) *httptest.ResponseRecorder {
	v.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	req.RemoteAddr, req.Host = "127.0.0.1:50000", "127.0.0.1:8080"
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	for k, val := range header {
		req.Header.Set(k, val)
	}
	rec := httptest.NewRecorder()
	v.e.ServeHTTP(rec, req)
	return rec
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signin signs in with token and returns the session cookie.
func (v *env) signin(token string) (*http.Cookie, *httptest.ResponseRecorder) {
	v.t.Helper()
	page := v.do(http.MethodGet, "/console/signin", nil, nil, nil)
	require.Equal(v.t, http.StatusOK, page.Code)
	m := csrfInput.FindStringSubmatch(page.Body.String())
	require.NotNil(v.t, m, page.Body.String())
	rec := v.do(http.MethodPost, "/console/signin", url.Values{"csrf": {m[1]}, "token": {token}, "next": {"/console/"}},
		page.Result().Cookies(), nil)
	for _, c := range rec.Result().Cookies() {
		if c.Name == "connector_console" && c.Value != "" {
			return c, rec
		}
	}
	return nil, rec
}

func TestSigninPageAndHeaders(t *testing.T) {
	v := newEnv(t, models.SQLite)
	rec := v.do(http.MethodGet, "/console/signin", nil, nil, nil)
	require.Equal(t, http.StatusOK, rec.Code)
	body := rec.Body.String()
	assert.Contains(t, body, `<label for="token">Token</label>`)
	assert.Contains(t, body, `<button type="submit">Sign in</button>`)
	csp := rec.Header().Get("Content-Security-Policy")
	assert.Contains(t, csp, "script-src 'self'")
	assert.NotContains(t, csp, "unsafe-inline")
	assert.NotContains(t, csp, "unsafe-eval")
	assert.Equal(t, "DENY", rec.Header().Get("X-Frame-Options"))
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	assert.NotRegexp(t, `<script>[^<]`, body, "no inline script")
	assert.NotContains(t, body, " style=", "no inline style")

	// The console without a session goes to the sign-in, with the way back.
	rec = v.do(http.MethodGet, "/console/agent/inbox?unread=1", nil, nil, nil)
	assert.Equal(t, http.StatusSeeOther, rec.Code)
	assert.Equal(t, "/console/signin?next=%2Fconsole%2Fagent%2Finbox%3Funread%3D1", rec.Header().Get("Location"))
	// htmx is told where to go.
	rec = v.do(http.MethodGet, "/console/agent/inbox", nil, nil, map[string]string{"HX-Request": "true"})
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Equal(t, "/console/signin", rec.Header().Get("HX-Redirect"))

	// Static files are served with the same policy.
	rec = v.do(http.MethodGet, "/console/static/vendor/htmx-2.0.11/htmx.min.js", nil, nil, nil)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Header().Get("Content-Type"), "javascript")
	assert.NotEmpty(t, rec.Header().Get("Content-Security-Policy"))
}

func TestSignin(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			v := newEnv(t, engine)

			// A wrong token is refused with a message, on the form.
			ck, rec := v.signin("not-a-token")
			assert.Nil(t, ck)
			assert.Equal(t, http.StatusUnauthorized, rec.Code)
			assert.Contains(t, rec.Body.String(), "That token is unknown or revoked.")

			// The admin token opens the admin console.
			ck, rec = v.signin(adminToken)
			require.NotNil(t, ck, rec.Body.String())
			assert.Equal(t, http.StatusSeeOther, rec.Code)
			assert.True(t, ck.HttpOnly)
			assert.Equal(t, http.SameSiteStrictMode, ck.SameSite)
			assert.False(t, ck.Secure, "plain http to a loopback host is dev")
			assert.Equal(t, "/console", ck.Path)
			home := v.do(http.MethodGet, "/console/", nil, []*http.Cookie{ck}, nil)
			assert.Equal(t, http.StatusSeeOther, home.Code)
			assert.Equal(t, "/console/admin/accounts", home.Header().Get("Location"))
			var stored models.ConsoleSession
			require.NoError(t, v.db.Take(&stored).Error)
			assert.True(t, stored.Admin)
			assert.NotEqual(t, ck.Value, stored.SecretHash, "only the secret's hash is stored")

			// An agent token opens that agent's console.
			ack, _ := v.signin(v.token)
			require.NotNil(t, ack)
			home = v.do(http.MethodGet, "/console/", nil, []*http.Cookie{ack}, nil)
			assert.Equal(t, "/console/agent/inbox", home.Header().Get("Location"))
		})
	}
}

func TestSigninCSRFAndNext(t *testing.T) {
	v := newEnv(t, models.SQLite)
	// No form token, or one that is not the cookie's: refused.
	rec := v.do(http.MethodPost, "/console/signin", url.Values{"token": {adminToken}}, nil, nil)
	assert.Equal(t, http.StatusForbidden, rec.Code)
	assert.Contains(t, rec.Body.String(), "security token is missing or out of date")
	page := v.do(http.MethodGet, "/console/signin", nil, nil, nil)
	rec = v.do(http.MethodPost, "/console/signin", url.Values{"csrf": {"forged"}, "token": {adminToken}}, page.Result().Cookies(), nil)
	assert.Equal(t, http.StatusForbidden, rec.Code)
	var n int64
	require.NoError(t, v.db.Model(&models.ConsoleSession{}).Count(&n).Error)
	assert.Zero(t, n)

	// next is followed only to a console path of this site.
	m := csrfInput.FindStringSubmatch(page.Body.String())
	for next, want := range map[string]string{
		"/console/admin/reports?groupBy=day": "/console/admin/reports?groupBy=day",
		"https://evil.example/console/":      "/console/",
		"//evil.example/console/":            "/console/",
		"/api/whatsapp/accounts":             "/console/",
		"/console/signin":                    "/console/",
	} {
		rec = v.do(http.MethodPost, "/console/signin", url.Values{"csrf": {m[1]}, "token": {adminToken}, "next": {next}}, page.Result().Cookies(), nil)
		assert.Equal(t, want, rec.Header().Get("Location"), next)
	}
}

func TestSessionCSRFExpiryRotationSignout(t *testing.T) {
	v := newEnv(t, models.SQLite)
	ck, _ := v.signin(v.token)
	require.NotNil(t, ck)
	var sess models.ConsoleSession
	require.NoError(t, v.db.Take(&sess).Error)

	// A change without the session's CSRF token is refused.
	rec := v.do(http.MethodPost, "/console/signout", url.Values{}, []*http.Cookie{ck}, nil)
	assert.Equal(t, http.StatusForbidden, rec.Code)
	rec = v.do(http.MethodPost, "/console/signout", url.Values{"csrf": {"wrong"}}, []*http.Cookie{ck}, nil)
	assert.Equal(t, http.StatusForbidden, rec.Code)
	// htmx sends it as a header; the error lands in the page's alert area.
	rec = v.do(http.MethodPost, "/console/signout", nil, []*http.Cookie{ck}, map[string]string{"HX-Request": "true", "X-CSRF-Token": "wrong"})
	assert.Equal(t, http.StatusForbidden, rec.Code)
	assert.Equal(t, "#flash", rec.Header().Get("HX-Retarget"))

	// Used within the idle time, the session lives on; unused past it, it
	// ends.
	v.now = v.now.Add(50 * time.Minute)
	assert.Equal(t, http.StatusSeeOther, v.do(http.MethodGet, "/console/", nil, []*http.Cookie{ck}, nil).Code)
	assert.Equal(t, "/console/agent/inbox", v.do(http.MethodGet, "/console/", nil, []*http.Cookie{ck}, nil).Header().Get("Location"))
	v.now = v.now.Add(61 * time.Minute)
	rec = v.do(http.MethodGet, "/console/", nil, []*http.Cookie{ck}, nil)
	assert.Contains(t, rec.Header().Get("Location"), "/console/signin?")
	assert.Contains(t, rec.Header().Get("Location"), url.QueryEscape("Your session has ended: sign in again."))

	// A rotated token ends the agent's session.
	ck, _ = v.signin(v.token)
	require.NotNil(t, ck)
	require.NoError(t, v.db.Model(&models.Agent{}).Where("id = ?", v.agent).Update("token_hash", strings.Repeat("0", 64)).Error)
	rec = v.do(http.MethodGet, "/console/", nil, []*http.Cookie{ck}, nil)
	assert.Contains(t, rec.Header().Get("Location"), url.QueryEscape("Your token was changed or revoked"))

	// Sign-out with the token ends the session.
	ck, _ = v.signin(adminToken)
	require.NotNil(t, ck)
	var admin models.ConsoleSession
	require.NoError(t, v.db.Where("admin = ?", true).Take(&admin).Error)
	rec = v.do(http.MethodPost, "/console/signout", url.Values{"csrf": {admin.CSRF}}, []*http.Cookie{ck}, nil)
	assert.Equal(t, http.StatusSeeOther, rec.Code)
	assert.Contains(t, rec.Header().Get("Location"), "/console/signin")
	require.ErrorIs(t, v.db.Where("id = ?", admin.ID).Take(&models.ConsoleSession{}).Error, gorm.ErrRecordNotFound)
	rec = v.do(http.MethodGet, "/console/", nil, []*http.Cookie{ck}, nil)
	assert.Contains(t, rec.Header().Get("Location"), "/console/signin")
}

func TestSecureCookieOffLoopback(t *testing.T) {
	v := newEnv(t, models.SQLite)
	page := httptest.NewRequest(http.MethodGet, "http://connector.example.com/console/signin", nil)
	rec := httptest.NewRecorder()
	v.e.ServeHTTP(rec, page)
	require.Equal(t, http.StatusOK, rec.Code)
	for _, c := range rec.Result().Cookies() {
		assert.True(t, c.Secure, "%s: cookies are Secure except over http to loopback", c.Name)
	}
}

func TestSigninFailuresAreLimited(t *testing.T) {
	v := newEnv(t, models.SQLite)
	var last *httptest.ResponseRecorder
	for range 7 {
		_, last = v.signin("wrong-token-0123456789")
	}
	assert.Equal(t, http.StatusTooManyRequests, last.Code)
	assert.Contains(t, last.Body.String(), "too many authentication failures from this address")
}
