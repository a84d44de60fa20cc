package diagnostics

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/xcally-connector/connector/internal/secretbox"
	"github.com/xcally-connector/connector/sinch"
)

// checkCredentials fetches a fresh OAuth2 token with the account's access
// key (no cache, so a revoked key shows at once).
func checkCredentials(ctx context.Context, d *run) checkResult {
	const keyFix = "check the access key: in the Sinch dashboard (Settings → Access Keys) the key id must exist in project %s; its secret is shown only once, so create a new key if it is lost, then PATCH /api/whatsapp/accounts/{id} {\"keyId\":\"…\",\"keySecret\":\"…\"}"
	fix := fmt.Sprintf(keyFix, d.acc.ProjectID)
	if d.acc.KeyID == "" || len(d.acc.KeySecretEnc) == 0 {
		return fail(fix, "the account has no keyId or keySecret")
	}
	if d.deps.Secrets == nil {
		return skip("configure SECRET_KEYS on the api process", "this API has no secret box: the key secret cannot be read")
	}
	secret, err := d.deps.Secrets.Open(d.acc.KeySecretEnc, secretbox.AccountAAD(d.acc.ID, "key_secret"))
	if err != nil {
		return fail("SECRET_KEYS must hold the key the secret was stored with; otherwise "+fix, "the key secret cannot be decrypted with these SECRET_KEYS")
	}
	authURL := sinch.AuthURLOf(d.acc.AuthURL)
	_, err = sinch.NewTokenCache(d.r.client, nil).Token(ctx, authURL, d.acc.KeyID, secret)
	if err == nil {
		return pass("Sinch issued an OAuth2 token for key %s at %s", d.acc.KeyID, authURL)
	}
	if ctx.Err() != nil {
		return fail(fmt.Sprintf("check outbound https from the connector to %s (firewall, proxy)", authURL), "no answer from %s in time", authURL)
	}
	if apiErr, ok := sinch.AsAPIError(err); ok && apiErr.HTTPStatus != 0 && !apiErr.Retryable() {
		return fail(fix, "Sinch refused key %s at %s: %v", d.acc.KeyID, authURL, apiErr)
	}
	return fail(fmt.Sprintf("check outbound https from the connector to %s (firewall, proxy) and the account's authUrl; retry later if Sinch is unavailable", authURL),
		"cannot get a token from %s: %v", authURL, err)
}

// sinchRegionHost matches the Conversation API hosts: {us|eu|br}.conversation.api.sinch.com.
var sinchRegionHost = regexp.MustCompile(`^(us|eu|br)\.conversation\.api\.sinch\.com$`)

// checkBaseURLRegion checks the base URL against the region: Sinch
// answers 404 for an app of another region.
func checkBaseURLRegion(_ context.Context, d *run) checkResult {
	region := string(d.acc.Region)
	want, err := sinch.RegionBaseURL(region)
	if err != nil {
		return fail("set the region of the Sinch app: PATCH /api/whatsapp/accounts/{id} {\"region\":\"eu\"} (eu, us or br, as shown for the app in the Sinch dashboard)", "%v", err)
	}
	fix := fmt.Sprintf("set the base URL of the app's region, or clear it to use the region's: PATCH /api/whatsapp/accounts/{id} {\"baseUrl\":\"\"} (region %s uses %s); if the app is in another region, set that region instead", region, want)
	if d.acc.BaseURL == "" {
		return pass("region %s: the Conversation API base URL is %s", region, want)
	}
	u, err := url.Parse(d.acc.BaseURL)
	if err != nil || u.Hostname() == "" {
		return fail(fix, "baseUrl %q is not an absolute URL", d.acc.BaseURL)
	}
	host := strings.ToLower(u.Hostname())
	if m := sinchRegionHost.FindStringSubmatch(host); m != nil {
		if m[1] != region {
			return fail(fix, "baseUrl %s is the %s Conversation API but the account's region is %s: Sinch answers 404 for every send", d.acc.BaseURL, m[1], region)
		}
		return pass("baseUrl %s matches region %s", d.acc.BaseURL, region)
	}
	if isLoopbackHost(host) {
		// The emulator serves every region under /{region}/v1/...
		if first, _, _ := strings.Cut(strings.Trim(u.Path, "/"), "/"); first != "" {
			if _, err := sinch.RegionBaseURL(first); err == nil && first != region {
				return fail(fix, "baseUrl %s is the emulator's %s region but the account's region is %s", d.acc.BaseURL, first, region)
			}
		}
		return pass("baseUrl %s is a loopback address (the Sinch emulator in dev); in production clear it to use %s", d.acc.BaseURL, want)
	}
	return warn(fix, "baseUrl %s is not a Sinch Conversation API host (want %s for region %s)", d.acc.BaseURL, want, region)
}
