package activities_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/internal/secretbox"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/sinch/emulator"
)

func TestSetUpSinchApp(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			t.Run("concurrent setups converge", func(t *testing.T) { testSetupConcurrent(t, engine) })
			t.Run("activity errors", func(t *testing.T) { testSetupActivityErrors(t, engine) })
		})
	}
}

// Setups of an account without a webhook secret, all at once: one
// webhook, one secret, the same on the account and on Sinch.
func testSetupConcurrent(t *testing.T, engine models.Engine) {
	w := newOutWorld(t, engine)
	require.Empty(t, w.acc.WebhookSecretEnc)
	const n = 4
	results := make([]activities.SinchSetupResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = w.acts.SetUpSinchApp(context.Background(), activities.SinchSetupInput{AccountID: w.acc.ID})
		})
	}
	wg.Wait()
	generated := 0
	for i := range n {
		require.NoError(t, errs[i])
		if results[i].SecretGenerated {
			generated++
		}
	}
	assert.Equal(t, 1, generated, "one setup generated the secret; the others found it stored")

	require.NoError(t, w.db.Take(&w.acc, w.acc.ID).Error)
	stored, err := w.acts.Secrets.Open(w.acc.WebhookSecretEnc, secretbox.AccountAAD(w.acc.ID, "webhook_secret"))
	require.NoError(t, err)
	require.Len(t, stored, 43)
	receive := activities.ReceiveURL(w.acc.PublicURL, w.acc.ID)
	var mine []emulator.Webhook
	hooks, err := w.em.Webhooks(outAppID)
	require.NoError(t, err)
	for _, h := range hooks {
		if h.Target == receive {
			mine = append(mine, h)
		}
	}
	require.Len(t, mine, 1, "one webhook to the Receive URL")
	assert.Equal(t, stored, mine[0].Secret, "Sinch signs with the stored secret")
	assert.Len(t, hooks, 2, "the app's other webhook is left alone")

	report, err := w.acts.InspectSinchApp(context.Background(), w.acc.ID)
	require.NoError(t, err)
	assert.True(t, report.OK, "%v", report.Problems)
}

// As an activity, a refusal of Sinch a retry cannot change is
// non-retryable (type SinchSetup, naming Sinch's status); a deleted
// account too.
func testSetupActivityErrors(t *testing.T, engine models.Engine) {
	w := newOutWorld(t, engine)
	for i := range sinch.MaxWebhooksPerApp - 1 {
		_, err := w.em.CreateWebhook(emulator.Webhook{AppID: outAppID, Target: fmt.Sprintf("https://crm%d.example.com/h", i),
			Triggers: []string{sinch.WebhookTriggerMessageInbound}})
		require.NoError(t, err)
	}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(w.acts)

	_, err := env.ExecuteActivity(w.acts.SetUpSinchApp, activities.SinchSetupInput{AccountID: w.acc.ID})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	assert.Equal(t, activities.ErrTypeSinchSetup, appErr.Type())
	assert.True(t, appErr.NonRetryable())
	assert.Contains(t, appErr.Error(), "HTTP 400 INVALID_ARGUMENT")
	require.NoError(t, w.db.Take(&w.acc, w.acc.ID).Error)
	assert.Empty(t, w.acc.WebhookSecretEnc, "nothing stored: Sinch did not take the secret")

	_, err = env.ExecuteActivity(w.acts.SetUpSinchApp, activities.SinchSetupInput{AccountID: w.acc.ID + 1000})
	require.True(t, errors.As(err, &appErr), "%v", err)
	assert.Equal(t, activities.ErrTypeSinchSetup, appErr.Type())
	assert.True(t, appErr.NonRetryable())
	assert.Contains(t, appErr.Error(), "was deleted")
}
