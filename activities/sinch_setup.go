package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/xcally-connector/connector/internal/secretbox"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/sinchsetup"
)

// ErrTypeSinchSetup is the application error type of a Sinch side that
// cannot be set up without the admin (Sinch refused a change, the app is
// unknown, the key is wrong); the message names Sinch's status and text.
const ErrTypeSinchSetup = "SinchSetup"

// SinchSetupInput names the account whose Sinch side to set up.
type SinchSetupInput struct {
	AccountID uint64
	// DryRun plans without changing anything (no webhook, no secret).
	DryRun bool
	// RemoveStale also removes webhooks of the connector that point at
	// another Receive URL.
	RemoveStale bool
}

// SinchSetupResult is the Sinch side after the setup (before it, on a
// dry run) and what was changed (would be, on a dry run).
type SinchSetupResult struct {
	Report  sinchsetup.Report   `json:"report"`
	Changes []sinchsetup.Change `json:"changes"`
	DryRun  bool                `json:"dryRun"`
	// SecretGenerated: the account had no webhook secret and one was
	// generated and stored (would be, on a dry run). It is never returned.
	SecretGenerated bool `json:"secretGenerated"`
}

// SinchSetupError is a setup Sinch refused part of, with what was done
// before the refusal.
type SinchSetupError struct {
	AccountID uint64
	Change    sinchsetup.Change
	Done      []sinchsetup.Change
	// Sinch is Sinch's error (nil for a failure on the way).
	Sinch *sinch.APIError
	Err   error
}

func (e *SinchSetupError) Error() string {
	what := e.Change.Action + " " + e.Change.Target
	if e.Sinch != nil {
		return fmt.Sprintf("Sinch refused to %s for account %d: HTTP %d %s: %s", strings.ReplaceAll(what, "_", " "), e.AccountID, e.Sinch.HTTPStatus, e.Sinch.Status, e.Sinch.Message)
	}
	return fmt.Sprintf("%s for account %d: %v", strings.ReplaceAll(what, "_", " "), e.AccountID, e.Err)
}
func (e *SinchSetupError) Unwrap() error { return e.Err }

// sinchWant loads an account and what it needs of its Sinch app, with its
// Sinch client.
func (a *Activities) sinchWant(ctx context.Context, accountID uint64) (models.Account, sinchsetup.Want, *sinch.Client, error) {
	var acc models.Account
	if err := a.DB.WithContext(ctx).Take(&acc, accountID).Error; err != nil {
		return acc, sinchsetup.Want{}, nil, err
	}
	secret, err := a.Secrets.Open(acc.WebhookSecretEnc, secretbox.AccountAAD(acc.ID, "webhook_secret"))
	if err != nil {
		return acc, sinchsetup.Want{}, nil, fmt.Errorf("decrypt the webhook secret of account %d: %w", acc.ID, err)
	}
	c, err := a.sinchClient(acc)
	if err != nil {
		return acc, sinchsetup.Want{}, nil, err
	}
	var channels []string
	for _, ch := range strings.Split(acc.Channels, ",") {
		if ch = strings.TrimSpace(ch); ch != "" {
			channels = append(channels, strings.ToUpper(ch))
		}
	}
	return acc, sinchsetup.Want{ReceiveURL: ReceiveURL(acc.PublicURL, acc.ID), Secret: secret, Channels: channels}, c, nil
}

// InspectSinchApp reads the account's Sinch app and webhooks, live, with
// the account's key, and reports what is wrong. It changes nothing.
func (a *Activities) InspectSinchApp(ctx context.Context, accountID uint64) (sinchsetup.Report, error) {
	_, want, c, err := a.sinchWant(ctx, accountID)
	if err != nil {
		return sinchsetup.Report{}, err
	}
	st, err := sinchsetup.Inspect(ctx, c)
	if err != nil {
		return sinchsetup.Report{}, err
	}
	return sinchsetup.Assess(st, want), nil
}

// SetUpSinchApp makes the account's Sinch side right: a webhook to its
// Receive URL with every trigger the connector needs and the account's
// webhook secret, generated (32 random bytes) and stored when the account
// has none. Sinch is changed first and the secret stored after, so a
// failure on the way never leaves the account refusing callbacks its
// webhook signs otherwise; a setup that loses a race to store a secret
// sets the stored one on Sinch instead. Repeating it changes nothing.
//
// As an activity (the migration's webhook step) a refusal of Sinch that a
// retry cannot change is a non-retryable ErrTypeSinchSetup error; called
// directly (the API) the error is a *SinchSetupError or Sinch's.
func (a *Activities) SetUpSinchApp(ctx context.Context, in SinchSetupInput) (SinchSetupResult, error) {
	// One setup of an account at a time in this process: two at once
	// would both see no webhook and both create one (Sinch refuses the
	// second as a duplicate target).
	unlock := lockSetup(in.AccountID)
	defer unlock()
	res, err := a.setUpSinchApp(ctx, in, true)
	if err != nil && activity.IsActivity(ctx) {
		return res, activityError(in.AccountID, err)
	}
	return res, err
}

func (a *Activities) setUpSinchApp(ctx context.Context, in SinchSetupInput, mayRetry bool) (SinchSetupResult, error) {
	acc, want, c, err := a.sinchWant(ctx, in.AccountID)
	if err != nil {
		return SinchSetupResult{}, err
	}
	st, err := sinchsetup.Inspect(ctx, c)
	if err != nil {
		return SinchSetupResult{}, err
	}
	res := SinchSetupResult{DryRun: in.DryRun, Report: sinchsetup.Assess(st, want)}
	if want.Secret == "" {
		if want.Secret, err = sinchsetup.NewSecret(); err != nil {
			return res, err
		}
		res.SecretGenerated = true
	}
	plan := sinchsetup.Plan(sinchsetup.Assess(st, want), want, sinchsetup.Options{RemoveStale: in.RemoveStale})
	if res.SecretGenerated {
		for i := range plan {
			if plan[i].Action == sinchsetup.ActionUpdate && slices.Contains(plan[i].Fields, "secret") {
				plan[i].Reason += " (the account had no secret: one is generated)"
			}
		}
	}
	if in.DryRun {
		res.Changes = plan
		return res, nil
	}
	done, err := sinchsetup.Apply(ctx, c, want, plan)
	res.Changes = done
	if err != nil {
		var ae *sinchsetup.ApplyError
		if errors.As(err, &ae) {
			se := &SinchSetupError{AccountID: acc.ID, Change: ae.Change, Done: ae.Done, Err: ae.Err}
			se.Sinch, _ = sinch.AsAPIError(ae.Err)
			return res, se
		}
		return res, err
	}
	if res.SecretGenerated {
		stored, err := a.storeGeneratedSecret(ctx, acc.ID, want.Secret)
		if err != nil {
			return res, err
		}
		if !stored {
			// Another setup stored its secret first: set that one.
			if !mayRetry {
				return res, fmt.Errorf("account %d: the webhook secret changed twice during the setup", acc.ID)
			}
			again, err := a.setUpSinchApp(ctx, in, false)
			again.Changes = append(done, again.Changes...)
			return again, err
		}
	}
	if len(done) > 0 {
		a.log(ctx, acc.ID).Info("Sinch side set up", "changes", len(done), "secret_generated", res.SecretGenerated)
		if st, err = sinchsetup.Inspect(ctx, c); err != nil {
			return res, err
		}
		res.Report = sinchsetup.Assess(st, want)
	}
	return res, nil
}

// storeGeneratedSecret stores a generated webhook secret on an account
// that still has none; stored is false when another one got there first.
func (a *Activities) storeGeneratedSecret(ctx context.Context, accountID uint64, secret string) (stored bool, err error) {
	sealed, err := a.Secrets.Seal(secret, secretbox.AccountAAD(accountID, "webhook_secret"))
	if err != nil {
		return false, err
	}
	r := a.DB.WithContext(ctx).Model(&models.Account{}).
		Where("id = ? AND (webhook_secret_enc IS NULL OR length(webhook_secret_enc) = 0)", accountID).
		Update("webhook_secret_enc", sealed)
	return r.RowsAffected == 1, r.Error
}

// activityError turns a setup failure into the activity's error: Sinch's
// refusals that a retry cannot change, and a deleted account, are
// non-retryable.
func activityError(accountID uint64, err error) error {
	if isNotFound(err) {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("account %d was deleted", accountID), ErrTypeSinchSetup, err)
	}
	var se *SinchSetupError
	if errors.As(err, &se) && se.Sinch != nil && !se.Sinch.Retryable() {
		return temporal.NewNonRetryableApplicationError(se.Error(), ErrTypeSinchSetup, err)
	}
	if apiErr, ok := sinch.AsAPIError(err); ok && !apiErr.Retryable() {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("Sinch refused to read the app of account %d: HTTP %d %s: %s", accountID, apiErr.HTTPStatus, apiErr.Status, apiErr.Message), ErrTypeSinchSetup, err)
	}
	return err
}

// setupLocks holds a *sync.Mutex per account being set up.
var setupLocks sync.Map

// lockSetup serializes the setups of one account in this process.
func lockSetup(accountID uint64) (unlock func()) {
	m, _ := setupLocks.LoadOrStore(accountID, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}
