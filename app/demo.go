package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/apiclient"
	"github.com/xcally-connector/connector/sinch/emulator"
)

// Demo names: stable, so a restarted `dev --demo` reuses its account.
const (
	demoKey       = "demo"
	demoAppID     = "01DEMOAPP0000000000000000A"
	demoProjectID = "demo-project"
	demoKeyID     = "demo-key"
	demoQueue     = "demo"
	demoAgent     = "Demo Agent"
	// DemoCustomer is the WhatsApp number of the demo's customer.
	DemoCustomer = "393331234567"
)

// Demo is what SetupDemo configured.
type Demo struct {
	AccountID uint64
	QueueID   uint64
	AgentID   uint64
	AppID     string
	// AgentToken is the demo agent's token, for the console's sign-in:
	// the new agent's, or, when the agent exists from an earlier run
	// (the API never shows a token twice), a rotated one.
	AgentToken string
	// WebhookChanges counts what the setup changed on the demo app's
	// webhooks (0 when a restart found them right).
	WebhookChanges int
}

// SetupDemo registers the demo app on the emulator (its access key rotated
// at every start, since the API never returns the stored one) and
// configures, through the connector's own admin API, an account bound to
// it, a queue and an available agent; then the connector sets up the app's
// webhook itself (POST …/sinch/setup), as an admin does on a real Sinch
// app. The emulator keeps its apps and webhooks in DATA_DIR, so a restart
// finds the webhook right and changes nothing.
func (d *Dev) SetupDemo(ctx context.Context) (*Demo, error) {
	if d.Emulator == nil {
		return nil, fmt.Errorf("--demo needs the Sinch emulator: EMULATOR_ADDR is off")
	}
	c := &apiclient.Client{BaseURL: d.APIURL(), Token: d.cfg.AdminToken}
	keySecret := randomSecret()
	// The app first: the account's key must work when the setup runs.
	err := d.Emulator.CreateApp(emulator.App{
		AppID: demoAppID, ProjectID: demoProjectID, Region: "eu", ProcessingMode: "CONVERSATION",
		KeyID: demoKeyID, KeySecret: keySecret,
	})
	if err != nil {
		return nil, fmt.Errorf("register the demo app on the emulator: %w", err)
	}
	fields := map[string]any{
		"name": "Demo WhatsApp", "publicUrl": d.APIURL(), "region": "eu",
		"baseUrl": d.EmulatorURL, "authUrl": d.EmulatorURL + "/oauth2/token",
		"projectId": demoProjectID, "appId": demoAppID, "keyId": demoKeyID, "keySecret": keySecret,
		"phone": "+390212345678", "channels": []string{"WHATSAPP", "INSTAGRAM"},
	}
	var accounts []api.AccountResponse
	if err := c.Do(ctx, http.MethodGet, "/api/whatsapp/accounts", nil, &accounts); err != nil {
		return nil, err
	}
	demo := &Demo{AppID: demoAppID}
	for _, a := range accounts {
		if a.Key == demoKey {
			demo.AccountID = a.ID
		}
	}
	if demo.AccountID == 0 {
		// The webhook secret is made here and set on the webhook by the
		// setup below; nobody needs to see it.
		fields["key"], fields["generateWebhookSecret"] = demoKey, true
		acc, err := c.CreateAccount(ctx, fields)
		if err != nil {
			return nil, err
		}
		demo.AccountID = acc.ID
	} else if err := c.Do(ctx, http.MethodPatch, fmt.Sprintf("/api/whatsapp/accounts/%d", demo.AccountID), fields, nil); err != nil {
		return nil, err
	}

	var queues []api.QueueResponse
	if err := c.Do(ctx, http.MethodGet, "/api/queues", nil, &queues); err != nil {
		return nil, err
	}
	for _, q := range queues {
		if q.Name == demoQueue {
			demo.QueueID = q.ID
		}
	}
	if demo.QueueID == 0 {
		q, err := c.CreateQueue(ctx, demoQueue, "round_robin")
		if err != nil {
			return nil, err
		}
		demo.QueueID = q.ID
	}
	if err := c.LinkQueueAccount(ctx, demo.QueueID, demo.AccountID); err != nil {
		return nil, err
	}

	var agents []api.AgentResponse
	if err := c.Do(ctx, http.MethodGet, "/api/agents", nil, &agents); err != nil {
		return nil, err
	}
	for _, a := range agents {
		if a.Name == demoAgent {
			demo.AgentID = a.ID
		}
	}
	if demo.AgentID == 0 {
		ag, err := c.AddAgent(ctx, demoAgent, 10, demo.QueueID, demo.AccountID)
		if err != nil {
			return nil, err
		}
		demo.AgentID, demo.AgentToken = ag.ID, ag.Token
	} else {
		var ag api.AgentCreatedResponse
		if err := c.Do(ctx, http.MethodPost, fmt.Sprintf("/api/agents/%d/token", demo.AgentID), nil, &ag); err != nil {
			return nil, fmt.Errorf("rotate the demo agent's token: %w", err)
		}
		demo.AgentToken = ag.Token
		if err := c.ReadyAgent(ctx, demo.AgentID, demo.QueueID, demo.AccountID); err != nil {
			return nil, err
		}
	}

	// The demo app is the connector's alone: a webhook of an earlier run
	// on another address is stale and goes.
	var setup api.SinchSetupResponse
	if err := c.Do(ctx, http.MethodPost, fmt.Sprintf("/api/whatsapp/accounts/%d/sinch/setup", demo.AccountID),
		api.SinchSetupRequest{RemoveStale: true}, &setup); err != nil {
		return nil, fmt.Errorf("set up the demo app's webhook: %w", err)
	}
	demo.WebhookChanges = len(setup.Changes)
	return demo, nil
}

func (d *Dev) printDemo(out io.Writer, demo *Demo) {
	p := func(format string, args ...any) { _, _ = fmt.Fprintf(out, format, args...) }
	p("Demo: account %d (Sinch app %s on the emulator), queue %d, agent %d (available).\n\n", demo.AccountID, demo.AppID, demo.QueueID, demo.AgentID)
	p("Console: %s/console/\n  sign in as the demo agent with its token: %s\n  or as the admin with the admin token:     %s\n\n", d.APIURL(), demo.AgentToken, d.cfg.AdminToken)
	p("Make a customer say hello:\n\n  curl -s -X POST %s/emulator/apps/%s/inbound -H 'Content-Type: application/json' -d '{\"from\":\"%s\",\"text\":\"Hello, I need help\"}'\n\n",
		d.EmulatorURL, demo.AppID, DemoCustomer)
	p("Then see the assigned interaction:\n\n  curl -s -H 'Authorization: Bearer %s' '%s/api/interactions?accountId=%d'\n\n", d.cfg.AdminToken, d.APIURL(), demo.AccountID)
	p("Reply to it (ID is the interaction's id), then watch the reply go pending, accepted, queued, delivered, read,\nand see it at the customer in the emulator's outbox:\n\n")
	p("  curl -s -X POST -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -d '{\"text\":\"Hi, how can I help?\"}' %s/api/interactions/ID/messages\n", d.cfg.AdminToken, d.APIURL())
	p("  curl -s %s/emulator/apps/%s/outbox\n\n", d.EmulatorURL, demo.AppID)
	p("Make the customer send a photo (the connector keeps a copy: its message lists attachments[].url to download),\nand send a file back (checked against WhatsApp's attachment matrix; the emulator fetches it):\n\n")
	p("  curl -s -X POST %s/emulator/apps/%s/inbound -H 'Content-Type: application/json' -d '{\"from\":\"%s\",\"mediaUrl\":\"sample.jpg\"}'\n",
		d.EmulatorURL, demo.AppID, DemoCustomer)
	p("  curl -s -H 'Authorization: Bearer %s' %s/api/attachments/ATTACHMENT_ID -o photo.jpg\n", d.cfg.AdminToken, d.APIURL())
	p("  curl -s -X POST -H 'Authorization: Bearer %s' -F file=@photo.jpg -F text='Here it is' %s/api/interactions/ID/messages\n\n", d.cfg.AdminToken, d.APIURL())
	if u := d.Temporal.UIURL(); u != "" {
		p("and its workflow: %s/namespaces/%s/workflows\n\n", u, d.cfg.TemporalNamespace)
	}
}

func randomSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
