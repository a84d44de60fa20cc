package sinchsetup_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/sinchsetup"
)

// fakeApp is an app in memory behind sinchsetup.Client: a unit test of
// this package's decisions (the emulator tests the wire).
type fakeApp struct {
	app    sinch.App
	hooks  []sinch.Webhook
	calls  []string
	refuse error
	next   int
}

func (f *fakeApp) GetApp(context.Context) (sinch.App, error) { return f.app, nil }
func (f *fakeApp) ListWebhooks(context.Context) ([]sinch.Webhook, error) {
	return slices.Clone(f.hooks), nil
}
func (f *fakeApp) CreateWebhook(_ context.Context, w sinch.Webhook) (sinch.Webhook, error) {
	f.calls = append(f.calls, "create "+w.Target)
	if f.refuse != nil {
		return sinch.Webhook{}, f.refuse
	}
	f.next++
	w.ID = fmt.Sprintf("wh%d", f.next)
	f.hooks = append(f.hooks, w)
	return w, nil
}
func (f *fakeApp) UpdateWebhook(_ context.Context, id string, w sinch.Webhook, mask []string) (sinch.Webhook, error) {
	f.calls = append(f.calls, fmt.Sprintf("update %s %v", id, mask))
	for i := range f.hooks {
		if f.hooks[i].ID == id {
			for _, m := range mask {
				switch m {
				case "triggers":
					f.hooks[i].Triggers = w.Triggers
				case "secret":
					f.hooks[i].Secret = w.Secret
				}
			}
			return f.hooks[i], nil
		}
	}
	return sinch.Webhook{}, &sinch.APIError{HTTPStatus: 404, Status: "NOT_FOUND", Message: "webhook not found", Class: sinch.ErrorClassPermanent}
}
func (f *fakeApp) DeleteWebhook(_ context.Context, id string) error {
	f.calls = append(f.calls, "delete "+id)
	f.hooks = slices.DeleteFunc(f.hooks, func(w sinch.Webhook) bool { return w.ID == id })
	return nil
}

const receive = "https://motion.example.com/api/whatsapp/accounts/7/notify"

func want(secret string) sinchsetup.Want {
	return sinchsetup.Want{ReceiveURL: receive, Secret: secret, Channels: []string{"WHATSAPP"}}
}

func newApp(hooks ...sinch.Webhook) *fakeApp {
	return &fakeApp{app: sinch.App{ID: "APP1", ProcessingMode: sinch.ProcessingModeConversation,
		ChannelCredentials: []sinch.ChannelCredential{{Channel: "WHATSAPP"}}}, hooks: hooks}
}

func codes(r sinchsetup.Report) []string {
	var out []string
	for _, p := range r.Problems {
		out = append(out, p.Code)
	}
	return out
}

// setUp runs what the connector runs: inspect, plan, apply; then inspects
// again.
func setUp(t *testing.T, f *fakeApp, w sinchsetup.Want, opts sinchsetup.Options) ([]sinchsetup.Change, sinchsetup.Report) {
	t.Helper()
	ctx := context.Background()
	st, err := sinchsetup.Inspect(ctx, f)
	require.NoError(t, err)
	done, err := sinchsetup.Apply(ctx, f, w, sinchsetup.Plan(sinchsetup.Assess(st, w), w, opts))
	require.NoError(t, err)
	st, err = sinchsetup.Inspect(ctx, f)
	require.NoError(t, err)
	return done, sinchsetup.Assess(st, w)
}

func TestSetupFromNothingThenNothingToDo(t *testing.T) {
	f := newApp()
	st, err := sinchsetup.Inspect(context.Background(), f)
	require.NoError(t, err)
	before := sinchsetup.Assess(st, want("s3cret-s3cret-s3cret"))
	assert.Equal(t, []string{sinchsetup.ProblemNoWebhook}, codes(before))
	assert.False(t, before.OK)
	assert.Equal(t, sinch.MaxWebhooksPerApp, before.FreeWebhookSlots)

	done, after := setUp(t, f, want("s3cret-s3cret-s3cret"), sinchsetup.Options{})
	require.Len(t, done, 1)
	assert.Equal(t, sinchsetup.ActionCreate, done[0].Action)
	assert.Equal(t, "wh1", done[0].WebhookID)
	require.Len(t, f.hooks, 1)
	assert.Equal(t, sinch.ConnectorTriggers, f.hooks[0].Triggers)
	assert.Equal(t, "s3cret-s3cret-s3cret", f.hooks[0].Secret)
	assert.True(t, after.OK, "problems: %v", after.Problems)
	assert.Equal(t, sinchsetup.SecretMatches, after.Webhooks[0].Secret)

	f.calls = nil
	done, _ = setUp(t, f, want("s3cret-s3cret-s3cret"), sinchsetup.Options{})
	assert.Empty(t, done, "a second setup changes nothing")
	assert.Empty(t, f.calls)
}

func TestPatchesMissingTriggersAndWrongSecretKeepingOtherTriggers(t *testing.T) {
	f := newApp(sinch.Webhook{ID: "old", Target: receive + "/", Secret: "other-secret-xxxxxxx",
		Triggers: []string{sinch.WebhookTriggerMessageInbound, sinch.WebhookTriggerRecordNotification}})
	st, _ := sinchsetup.Inspect(context.Background(), f)
	r := sinchsetup.Assess(st, want("right-secret-xxxxxxx"))
	assert.ElementsMatch(t, []string{sinchsetup.ProblemTriggersMissing, sinchsetup.ProblemSecretDiffers}, codes(r))
	assert.True(t, r.Webhooks[0].TargetsThisAccount, "a trailing slash is the same URL")
	assert.Equal(t, sinchsetup.SecretDiffers, r.Webhooks[0].Secret)
	assert.NotContains(t, fmt.Sprint(r), "other-secret", "the report never shows a secret")

	done, after := setUp(t, f, want("right-secret-xxxxxxx"), sinchsetup.Options{})
	require.Len(t, done, 1)
	assert.Equal(t, sinchsetup.ActionUpdate, done[0].Action)
	assert.Equal(t, []string{"triggers", "secret"}, done[0].Fields)
	assert.Equal(t, []string{"update old [triggers secret]"}, f.calls)
	assert.Contains(t, f.hooks[0].Triggers, sinch.WebhookTriggerRecordNotification, "a trigger the admin added stays")
	for _, tr := range sinch.ConnectorTriggers {
		assert.Contains(t, f.hooks[0].Triggers, tr)
	}
	assert.Equal(t, "right-secret-xxxxxxx", f.hooks[0].Secret)
	assert.True(t, after.OK, "problems: %v", after.Problems)
}

func TestOnlyTheSecretWhenTriggersAreRight(t *testing.T) {
	f := newApp(sinch.Webhook{ID: "a", Target: receive, Triggers: slices.Clone(sinch.ConnectorTriggers)})
	st, _ := sinchsetup.Inspect(context.Background(), f)
	assert.Equal(t, []string{sinchsetup.ProblemSecretMissing}, codes(sinchsetup.Assess(st, want("right-secret-xxxxxxx"))))
	done, _ := setUp(t, f, want("right-secret-xxxxxxx"), sinchsetup.Options{})
	require.Len(t, done, 1)
	assert.Equal(t, []string{"secret"}, done[0].Fields)
}

func TestWebhooksElsewhereAreLeftAloneStaleOnesOnlyWhenAsked(t *testing.T) {
	other := sinch.Webhook{ID: "crm", Target: "https://crm.example.com/hooks/sinch", Triggers: []string{sinch.WebhookTriggerMessageInbound}}
	stale := sinch.Webhook{ID: "stale", Target: "https://old-motion.example.com/api/whatsapp/accounts/3/notify", Triggers: []string{sinch.WebhookTriggerMessageInbound}}
	f := newApp(other, stale)
	st, _ := sinchsetup.Inspect(context.Background(), f)
	r := sinchsetup.Assess(st, want("right-secret-xxxxxxx"))
	assert.ElementsMatch(t, []string{sinchsetup.ProblemStaleWebhook, sinchsetup.ProblemNoWebhook}, codes(r))
	assert.True(t, r.Webhooks[1].Connector)
	assert.False(t, r.Webhooks[0].Connector)

	_, after := setUp(t, f, want("right-secret-xxxxxxx"), sinchsetup.Options{})
	assert.Len(t, f.hooks, 3, "without removeStale nothing is removed")
	assert.Equal(t, []string{sinchsetup.ProblemStaleWebhook}, codes(after))

	done, after := setUp(t, f, want("right-secret-xxxxxxx"), sinchsetup.Options{RemoveStale: true})
	require.Len(t, done, 1)
	assert.Equal(t, sinchsetup.Change{Action: sinchsetup.ActionDelete, WebhookID: "stale", Target: stale.Target, Reason: "a stale webhook of the connector (removeStale)"}, done[0])
	assert.True(t, after.OK)
	assert.True(t, slices.ContainsFunc(f.hooks, func(w sinch.Webhook) bool { return w.ID == "crm" }), "a webhook pointing elsewhere is never touched")
}

func TestDuplicateWebhookToTheReceiveURLIsRemoved(t *testing.T) {
	all := slices.Clone(sinch.ConnectorTriggers)
	f := newApp(sinch.Webhook{ID: "a", Target: receive, Secret: "right-secret-xxxxxxx", Triggers: all},
		sinch.Webhook{ID: "b", Target: receive, Secret: "right-secret-xxxxxxx", Triggers: all})
	st, _ := sinchsetup.Inspect(context.Background(), f)
	assert.Equal(t, []string{sinchsetup.ProblemDuplicateWebhook}, codes(sinchsetup.Assess(st, want("right-secret-xxxxxxx"))))
	done, after := setUp(t, f, want("right-secret-xxxxxxx"), sinchsetup.Options{})
	assert.Equal(t, []string{"delete b"}, f.calls)
	require.Len(t, done, 1)
	assert.True(t, after.OK)
}

func TestLimitReachedAndRefusalReported(t *testing.T) {
	var hooks []sinch.Webhook
	for i := range sinch.MaxWebhooksPerApp {
		hooks = append(hooks, sinch.Webhook{ID: fmt.Sprint(i), Target: fmt.Sprintf("https://other%d.example.com/h", i), Triggers: []string{"MESSAGE_INBOUND"}})
	}
	f := newApp(hooks...)
	st, _ := sinchsetup.Inspect(context.Background(), f)
	r := sinchsetup.Assess(st, want("right-secret-xxxxxxx"))
	assert.Equal(t, []string{sinchsetup.ProblemNoWebhook, sinchsetup.ProblemWebhookLimit}, codes(r))
	assert.Zero(t, r.FreeWebhookSlots)

	f.refuse = &sinch.APIError{HTTPStatus: 400, Status: "INVALID_ARGUMENT", Message: "app already has 5 webhooks", Class: sinch.ErrorClassPermanent}
	plan := sinchsetup.Plan(r, want("right-secret-xxxxxxx"), sinchsetup.Options{})
	done, err := sinchsetup.Apply(context.Background(), f, want("right-secret-xxxxxxx"), plan)
	var ae *sinchsetup.ApplyError
	require.ErrorAs(t, err, &ae)
	assert.Empty(t, done)
	assert.Equal(t, sinchsetup.ActionCreate, ae.Change.Action)
	apiErr, ok := sinch.AsAPIError(err)
	require.True(t, ok)
	assert.Equal(t, 400, apiErr.HTTPStatus)
	assert.True(t, errors.Is(err, f.refuse))
}

func TestAppProblems(t *testing.T) {
	f := newApp()
	f.app.ProcessingMode = sinch.ProcessingModeDispatch
	w := want("right-secret-xxxxxxx")
	w.Channels = []string{"WHATSAPP", "INSTAGRAM"}
	w.ReceiveURL = "http://motion.example.com/api/whatsapp/accounts/7/notify"
	st, _ := sinchsetup.Inspect(context.Background(), f)
	r := sinchsetup.Assess(st, w)
	assert.Equal(t, []string{sinchsetup.ProblemDispatchMode, sinchsetup.ProblemChannelMissing, sinchsetup.ProblemNotHTTPS, sinchsetup.ProblemNoWebhook}, codes(r))
	assert.Equal(t, []string{"INSTAGRAM"}, r.MissingChannels)
	for _, p := range r.Problems {
		assert.NotEmpty(t, p.Fix, p.Code)
		assert.NotEmpty(t, p.Message, p.Code)
	}
}

func TestNewSecret(t *testing.T) {
	a, err := sinchsetup.NewSecret()
	require.NoError(t, err)
	b, err := sinchsetup.NewSecret()
	require.NoError(t, err)
	assert.Len(t, a, 43, "32 bytes, base64url without padding")
	assert.NotEqual(t, a, b)
}
