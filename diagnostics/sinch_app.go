package diagnostics

import (
	"context"
	"fmt"
	"strings"

	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/sinchsetup"
)

// failingProblems are the problems of the Sinch side that lose callbacks
// or replies; the others (a stale or duplicate webhook, a plain-http
// Receive URL) warn.
var failingProblems = map[string]bool{
	sinchsetup.ProblemDispatchMode: true, sinchsetup.ProblemChannelMissing: true, sinchsetup.ProblemNoWebhook: true,
	sinchsetup.ProblemTriggersMissing: true, sinchsetup.ProblemSecretDiffers: true, sinchsetup.ProblemSecretMissing: true,
	sinchsetup.ProblemWebhookLimit: true,
}

// checkSinchApp reads the account's Sinch app and webhooks, live, with
// the account's key: processing mode, channels, the webhook to the
// Receive URL with every trigger and the account's secret. It finds a
// DISPATCH app or a missing trigger before any callback arrives.
func checkSinchApp(ctx context.Context, d *run) checkResult {
	if d.deps.SinchApp == nil {
		return skip("run the diagnostics on an api process configured to reach Sinch", "this API process does not read Sinch apps")
	}
	r, err := d.deps.SinchApp(ctx, d.acc.ID)
	if err != nil {
		if apiErr, ok := sinch.AsAPIError(err); ok && apiErr.HTTPStatus != 0 {
			return fail(fmt.Sprintf("check the account's projectId (%s), appId (%s) and key: the key must belong to the app's project", d.acc.ProjectID, d.acc.AppID),
				"Sinch refused to read app %s: HTTP %d %s: %s", d.acc.AppID, apiErr.HTTPStatus, apiErr.Status, apiErr.Message)
		}
		return fail("check outbound https from the connector to the account's baseUrl (firewall, proxy); retry later if Sinch is unavailable",
			"cannot read Sinch app %s: %v", d.acc.AppID, err)
	}
	if r.OK {
		return pass("Sinch app %s is in %s mode with channels %s; webhook to %s has every trigger and the account's secret",
			r.AppID, r.ProcessingMode, strings.Join(r.Channels, ", "), r.ReceiveURL)
	}
	status := warn
	var msgs, fixes []string
	for _, p := range r.Problems {
		if failingProblems[p.Code] {
			status = fail
		}
		msgs = append(msgs, p.Message)
		fix := p.Fix
		if p.Code == sinchsetup.ProblemDispatchMode {
			fix += "; apps created since 16 April 2025 default to DISPATCH"
		}
		fixes = append(fixes, strings.ReplaceAll(fix, "…/sinch/setup", fmt.Sprintf("/api/whatsapp/accounts/%d/sinch/setup", d.acc.ID)))
	}
	return status(strings.Join(fixes, "; "), "%s", strings.Join(msgs, "; "))
}
