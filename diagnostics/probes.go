package diagnostics

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/xcally-connector/connector/activities"
)

// ProbeHeader carries the signed token of the receive URL probe.
const ProbeHeader = "X-Connector-Probe"

// Reserved ids of the probe tokens, minted with the media signer. No
// attachment has them (ids are far below 2^63), so a probe token can never
// serve a file, and a media token can never pass as a receive probe.
const (
	MediaProbeID   uint64 = math.MaxUint64
	ReceiveProbeID uint64 = math.MaxUint64 - 1
)

const (
	// probeTokenTTL is the life of a probe token: one diagnostics run.
	probeTokenTTL = 2 * time.Minute
	// probeBodyLimit bounds what a probe reads of an answer.
	probeBodyLimit = 64 << 10
	// certRenewWithin: a certificate expiring sooner warns.
	certRenewWithin = 14 * 24 * time.Hour
)

// ProbeResponse is what the connector answers to its own probes (GET on
// the receive URL with ProbeHeader, GET /api/media/{probe token}).
type ProbeResponse struct {
	// Probe is "receive" or "media".
	Probe     string `json:"probe"`
	AccountID uint64 `json:"accountId,omitempty"`
}

// fixPublicURL is how to change the public URL.
const fixPublicURL = "set the account's publicUrl to the https origin of your proxy or Motion domain: PATCH /api/whatsapp/accounts/{id} {\"publicUrl\":\"https://motion.example.com\"}"

// checkPublicURLTLS makes a verified TLS handshake with the public URL's
// host, as Sinch does before each callback and media fetch.
func checkPublicURLTLS(ctx context.Context, d *run) checkResult {
	u, err := url.Parse(d.acc.PublicURL)
	if err != nil || u.Hostname() == "" {
		return fail(fixPublicURL, "publicUrl %q is not an absolute URL", d.acc.PublicURL)
	}
	host := u.Hostname()
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if isLoopbackHost(host) {
			return skip("in production "+fixPublicURL, "publicUrl %s is http on a loopback host (dev): Sinch cannot reach it and there is no certificate to check", d.acc.PublicURL)
		}
		return fail(fixPublicURL, "publicUrl %s is http: Sinch delivers callbacks and fetches media over https only", d.acc.PublicURL)
	default:
		return fail(fixPublicURL, "publicUrl %s has scheme %q: want https", d.acc.PublicURL, u.Scheme)
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if base := d.r.opts.TLSConfig; base != nil {
		cfg = base.Clone()
	}
	cfg.ServerName, cfg.InsecureSkipVerify = host, false
	dialer := tls.Dialer{Config: cfg}
	conn, err := dialer.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return tlsFailure(host, port, err)
	}
	defer conn.Close()
	state := conn.(*tls.Conn).ConnectionState()
	leaf := state.PeerCertificates[0]
	issuer := leaf.Issuer.CommonName
	if issuer == "" && len(leaf.Issuer.Organization) > 0 {
		issuer = leaf.Issuer.Organization[0]
	}
	left := leaf.NotAfter.Sub(d.now)
	if left < certRenewWithin {
		return warn(fmt.Sprintf("renew the certificate of %s on the proxy (e.g. certbot renew) before it expires; Sinch refuses expired certificates", host),
			"the certificate of %s is valid but expires on %s (in %s)", host, leaf.NotAfter.UTC().Format(time.RFC3339), left.Round(time.Hour))
	}
	return pass("verified certificate chain for %s (%s, issued by %s, expires %s)", host, tls.VersionName(state.Version), issuer, leaf.NotAfter.UTC().Format("2006-01-02"))
}

// tlsFailure explains a failed handshake.
func tlsFailure(host, port string, err error) checkResult {
	fixChain := fmt.Sprintf("install on the proxy of %s a certificate from a public CA (e.g. Let's Encrypt) for that name, with its intermediate certificates (the full chain); Sinch refuses self-signed and incomplete chains", host)
	var unknown x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	switch {
	case errors.As(err, &unknown):
		return fail(fixChain, "the certificate of %s is signed by an unknown authority (self-signed, or the intermediate certificates are missing): %v", host, err)
	case errors.As(err, &hostErr):
		return fail(fixChain, "the certificate of %s is not valid for that name: %v", host, err)
	case errors.As(err, &invalid):
		return fail(fixChain, "the certificate of %s is not valid: %v", host, err)
	case errors.As(err, &verify):
		return fail(fixChain, "the certificate of %s does not verify: %v", host, err)
	}
	return fail(fmt.Sprintf("check that %s resolves to the proxy and that port %s accepts TLS from the internet (firewall, DNS); %s", host, port, fixPublicURL),
		"no TLS handshake with %s:%s: %v", host, port, err)
}

// checkReceiveURL sends the receive probe (GET with a token signed by this
// connector's key) to the account's receive URL through the public URL.
// Only this deployment can verify the token, and the answer names the
// account, so a 200 proves the path Sinch uses reaches this connector and
// this account. A real unsigned POST would have done it too, but it would
// be recorded as a signature failure and, without a webhook secret, be
// handled as a callback.
func checkReceiveURL(ctx context.Context, d *run) checkResult {
	recv := activities.ReceiveURL(strings.TrimRight(d.acc.PublicURL, "/"), d.acc.ID)
	signer := d.deps.Signer
	if signer == nil {
		return skip("configure SECRET_KEYS on the api process", "this API has no token signer, so it cannot probe %s", recv)
	}
	tok := signer.Mint(ReceiveProbeID, d.now.Add(probeTokenTTL))
	webhookFix := fmt.Sprintf("in the Sinch dashboard (Conversation API → Apps → %s → Webhooks) the target URL must be exactly %s", d.acc.AppID, recv)
	code, body, err := d.probe(ctx, recv, map[string]string{ProbeHeader: tok})
	if err != nil {
		return fail("make sure the proxy forwards "+recv+" to the connector's HTTP_ADDR; "+webhookFix, "cannot reach the receive URL %s: %v", recv, err)
	}
	var pr ProbeResponse
	switch {
	case code == http.StatusOK && json.Unmarshal(body, &pr) == nil && pr.Probe == "receive" && pr.AccountID == d.acc.ID:
		return pass("%s reaches this connector and account %d; it is the webhook target URL to set in the Sinch app %s", recv, d.acc.ID, d.acc.AppID)
	case code >= 300 && code < 400:
		return fail("set the account's publicUrl to the final origin (no redirect): PATCH /api/whatsapp/accounts/{id} {\"publicUrl\":…}; "+webhookFix,
			"%s answers a redirect (HTTP %d): Sinch does not follow redirects", recv, code)
	}
	switch errorCode(body) {
	case "probe_token_invalid":
		return fail("the public URL must lead to this deployment: point the proxy at these api processes, and give every api process the same SECRET_KEYS",
			"%s reaches a connector that cannot verify this connector's probe token (another deployment, or other SECRET_KEYS)", recv)
	case "account_not_found":
		return fail("the public URL must lead to the connector that holds this account (same DATABASE_URL); "+webhookFix,
			"%s reaches a connector that has no account %d (another database)", recv, d.acc.ID)
	}
	return fail("make sure the proxy forwards /api/whatsapp/accounts/* of the public URL to the connector; "+webhookFix,
		"%s does not reach this connector: HTTP %d %s", recv, code, snippet(body))
}

// checkMediaProxy fetches a media probe token (signed like the links of
// agents' files, for a reserved id no attachment has) through the public
// URL, and the same token altered. The media route answers the genuine one
// 200 and the altered one 404, which only this deployment can do: no real
// attachment is needed, and a proxy answering everything fails.
func checkMediaProxy(ctx context.Context, d *run) checkResult {
	signer := d.deps.Signer
	if signer == nil {
		return skip("configure SECRET_KEYS on the api process", "this API has no media signer, so agents' files cannot be sent")
	}
	base := strings.TrimRight(d.acc.PublicURL, "/") + activities.MediaPath
	tok := signer.Mint(MediaProbeID, d.now.Add(probeTokenTTL))
	routeFix := fmt.Sprintf("make sure the proxy forwards %s* to the connector (the account's proxy url) and every api process has the same SECRET_KEYS (the proxy token's key)", base)
	code, body, err := d.probe(ctx, base+tok, nil)
	if err != nil {
		return fail(routeFix, "cannot fetch %s<token>: %v", base, err)
	}
	var pr ProbeResponse
	if code != http.StatusOK || json.Unmarshal(body, &pr) != nil || pr.Probe != "media" {
		what := "does not serve this connector's media links"
		if code == http.StatusNotFound && errorCode(body) == "not_found" {
			what = "reaches a connector that refuses this connector's token (another deployment, or other SECRET_KEYS)"
		}
		return fail(routeFix, "%s<token> %s: HTTP %d %s; Sinch would report MEDIA_NOT_REACHABLE for agents' files", base, what, code, snippet(body))
	}
	code, body, err = d.probe(ctx, base+tamper(tok), nil)
	if err != nil {
		return fail(routeFix, "cannot fetch %s<token>: %v", base, err)
	}
	if code != http.StatusNotFound || errorCode(body) != "not_found" {
		return fail(routeFix, "%s<token> answers HTTP %d to an altered token: it is not this connector's media route", base, code)
	}
	return pass("%s<token> serves this connector's signed links (a genuine token answered, an altered one was refused)", base)
}

// tamper flips the last character of a token.
func tamper(tok string) string {
	last := tok[len(tok)-1]
	repl := byte('A')
	if last == 'A' {
		repl = 'B'
	}
	return tok[:len(tok)-1] + string(repl)
}

// probe GETs target with headers (no redirects followed) and returns the
// status and the start of the body.
func (d *run) probe(ctx context.Context, target string, headers map[string]string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, nil, err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := d.r.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, probeBodyLimit))
	return resp.StatusCode, body, nil
}

// errorBody is the connector's error body (api.ErrorBody), as the probes
// read it back.
type errorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"requestId,omitempty"`
	} `json:"error"`
}

// errorCode is the code of a connector error body, "" for anything else.
func errorCode(body []byte) string {
	var eb errorBody
	if json.Unmarshal(body, &eb) != nil {
		return ""
	}
	return eb.Error.Code
}

// snippet is the start of a body for a message.
func snippet(body []byte) string {
	s := strings.TrimSpace(string(body))
	if s == "" {
		return "(empty body)"
	}
	return truncate(s, 200)
}

// isLoopbackHost reports whether host is localhost or a loopback IP (as
// api's validation decides it).
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// truncate cuts s to n bytes, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
