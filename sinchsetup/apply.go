package sinchsetup

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/xcally-connector/connector/sinch"
)

// Change actions.
const (
	ActionCreate = "create_webhook"
	ActionUpdate = "update_webhook"
	ActionDelete = "delete_webhook"
)

// Change is one change to the Sinch side: planned, or made.
type Change struct {
	Action    string `json:"action"`
	WebhookID string `json:"webhookId,omitempty"`
	Target    string `json:"target"`
	// Fields are the fields an update changes (triggers, secret).
	Fields []string `json:"fields,omitempty"`
	Reason string   `json:"reason"`
	// Triggers are the triggers a create or update sets.
	Triggers []string `json:"triggers,omitempty"`
}

// Options choose what Plan may change beyond the account's own webhook.
type Options struct {
	// RemoveStale removes webhooks of the connector that point at another
	// Receive URL (an old address, another account's).
	RemoveStale bool
}

// Plan lists the changes that make the account's webhook right: extra
// copies of it removed (and stale connector webhooks, when asked), the
// first one patched when its triggers or secret differ, or one created
// when there is none. want.Secret must be set (the caller generates one
// first, so the report compares the webhook with it). A plan with no
// changes means the webhooks are right.
func Plan(r Report, want Want, opts Options) []Change {
	var changes []Change
	var mine *Webhook
	for i := range r.Webhooks {
		w := &r.Webhooks[i]
		switch {
		case w.TargetsThisAccount && mine == nil:
			mine = w
		case w.TargetsThisAccount:
			changes = append(changes, Change{Action: ActionDelete, WebhookID: w.ID, Target: w.Target,
				Reason: "a second webhook to the Receive URL: every callback would arrive twice"})
		case w.Connector && opts.RemoveStale:
			changes = append(changes, Change{Action: ActionDelete, WebhookID: w.ID, Target: w.Target,
				Reason: "a stale webhook of the connector (removeStale)"})
		}
	}
	triggers := slices.Clone(sinch.ConnectorTriggers)
	if mine == nil {
		return append(changes, Change{Action: ActionCreate, Target: want.ReceiveURL, Triggers: triggers,
			Fields: []string{"target", "triggers", "secret"}, Reason: "the app has no webhook to the Receive URL"})
	}
	var fields []string
	var reasons []string
	if len(mine.MissingTriggers) > 0 {
		fields = append(fields, "triggers")
		reasons = append(reasons, fmt.Sprintf("%d triggers missing", len(mine.MissingTriggers)))
	}
	if mine.Secret != SecretMatches {
		fields = append(fields, "secret")
		reasons = append(reasons, "secret "+mine.Secret)
	}
	if len(fields) > 0 {
		// The account's webhook keeps the triggers it has beyond ours.
		keep := mine.Triggers
		for _, t := range triggers {
			if !slices.Contains(keep, t) {
				keep = append(slices.Clone(keep), t)
			}
		}
		changes = append(changes, Change{Action: ActionUpdate, WebhookID: mine.ID, Target: mine.Target,
			Fields: fields, Triggers: keep, Reason: strings.Join(reasons, ", ")})
	}
	return changes
}

// ApplyError is a change Sinch refused (or that failed on the way), with
// the changes made before it.
type ApplyError struct {
	Change Change
	Done   []Change
	Err    error
}

func (e *ApplyError) Error() string {
	return fmt.Sprintf("%s %s: %v", e.Change.Action, cmp.Or(e.Change.WebhookID, e.Change.Target), e.Err)
}
func (e *ApplyError) Unwrap() error { return e.Err }

// Apply makes the changes in order (deletions first, as Plan lists them,
// so a slot is free before a create) with the account's secret. It stops
// at the first failure, returned as *ApplyError with the changes made.
// A created webhook's id is filled in the returned changes.
func Apply(ctx context.Context, c Client, want Want, changes []Change) ([]Change, error) {
	done := make([]Change, 0, len(changes))
	for _, ch := range changes {
		var err error
		switch ch.Action {
		case ActionDelete:
			err = c.DeleteWebhook(ctx, ch.WebhookID)
		case ActionUpdate:
			w := sinch.Webhook{Triggers: ch.Triggers, Secret: want.Secret}
			_, err = c.UpdateWebhook(ctx, ch.WebhookID, w, ch.Fields)
		case ActionCreate:
			var created sinch.Webhook
			created, err = c.CreateWebhook(ctx, sinch.Webhook{Target: want.ReceiveURL, TargetType: sinch.WebhookTargetTypeHTTP,
				Secret: want.Secret, Triggers: ch.Triggers})
			ch.WebhookID = created.ID
		default:
			err = fmt.Errorf("unknown change %q", ch.Action)
		}
		if err != nil {
			return done, &ApplyError{Change: ch, Done: done, Err: err}
		}
		done = append(done, ch)
	}
	return done, nil
}
