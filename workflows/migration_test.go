package workflows_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinchsetup"
	"github.com/xcally-connector/connector/workflows"
)

// fakeMigrationDB stands in for the migration's activities and records
// what the workflow asked for.
type fakeMigrationDB struct {
	mu    sync.Mutex
	calls map[string]int
	// fail makes the first call of the named step activity fail with a
	// transient error (its retry backoff lets a delayed signal land while
	// the step runs).
	fail string
	// createErr, when set, is step 1's answer.
	createErr error
	// verify answers step 2's call number n (from 1); nil: success.
	verify func(n int) error
	// inbound answers step 6's call number n; nil: a message at once.
	inbound       func(n int) (activities.FirstInboundResult, error)
	records       []activities.MigrationRecord
	reminders     []activities.RemindMigrationInput
	compensations []activities.CompensateMigrationInput
	marked        []activities.MigrationPairInput
	// bridgeCreated: step 4 created its queue (else it reused one).
	bridgeCreated bool
	// setup answers the webhook step's call number n; nil: a webhook
	// created.
	setup  func(n int) (activities.SinchSetupResult, error)
	setups []activities.SinchSetupInput
}

func (f *fakeMigrationDB) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[name]++
	return f.calls[name]
}

// transient fails the first call of a step activity when asked.
func (f *fakeMigrationDB) transient(name string, n int) error {
	if f.fail == name && n == 1 {
		return errors.New("connection reset by peer")
	}
	return nil
}

var migrationTarget = activities.MigrationTargetResult{
	AccountID: 42, Name: "Acme V2", AppID: "01HNEWAPP", ProjectID: "proj-new", Phone: "+390212345678",
	ReceiveURL: "https://motion.example.com/api/whatsapp/accounts/42/notify", SourceName: "Acme",
}

type MigrationSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env *testsuite.TestWorkflowEnvironment
	db  *fakeMigrationDB
}

func TestMigrationSuite(t *testing.T) { suite.Run(t, new(MigrationSuite)) }

func (s *MigrationSuite) SetupTest() {
	s.env = s.NewTestWorkflowEnvironment()
	s.db = &fakeMigrationDB{calls: map[string]int{}}
	f := s.db
	var a *activities.Activities
	s.env.RegisterActivity(a)
	s.env.OnActivity(a.RecordMigration, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.MigrationRecord) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		in.Steps = append([]activities.MigrationStep(nil), in.Steps...)
		f.records = append(f.records, in)
		return nil
	})
	s.env.OnActivity(a.CreateMigrationTarget, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.MigrationInput) (activities.MigrationTargetResult, error) {
		n := f.count(activities.StepCreateAccount)
		if f.createErr != nil {
			return activities.MigrationTargetResult{}, f.createErr
		}
		if err := f.transient(activities.StepCreateAccount, n); err != nil {
			return activities.MigrationTargetResult{}, err
		}
		return migrationTarget, nil
	})
	s.env.OnActivity(a.VerifyMigrationCredentials, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.MigrationAccountInput) (activities.VerifyCredentialsResult, error) {
		n := f.count(activities.StepVerifyCredentials)
		if err := f.transient(activities.StepVerifyCredentials, n); err != nil {
			return activities.VerifyCredentialsResult{}, err
		}
		if f.verify != nil {
			if err := f.verify(n); err != nil {
				return activities.VerifyCredentialsResult{}, err
			}
		}
		return activities.VerifyCredentialsResult{AuthURL: "https://auth.sinch.com/oauth2/token", KeyID: "key-new"}, nil
	})
	s.env.OnActivity(a.SetUpSinchApp, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.SinchSetupInput) (activities.SinchSetupResult, error) {
		n := f.count(activities.StepSetUpWebhook)
		f.mu.Lock()
		f.setups = append(f.setups, in)
		f.mu.Unlock()
		if err := f.transient(activities.StepSetUpWebhook, n); err != nil {
			return activities.SinchSetupResult{}, err
		}
		if f.setup != nil {
			return f.setup(n)
		}
		return activities.SinchSetupResult{Changes: []sinchsetup.Change{{Action: sinchsetup.ActionCreate, WebhookID: "wh-1",
			Target: migrationTarget.ReceiveURL, Fields: []string{"target", "triggers", "secret"}}}}, nil
	})
	s.env.OnActivity(a.CopyMigrationAccess, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.MigrationPairInput) (activities.CopyAccessResult, error) {
		n := f.count(activities.StepCopyAccess)
		return activities.CopyAccessResult{QueueIDs: []uint64{3}, AgentIDs: []uint64{5}}, f.transient(activities.StepCopyAccess, n)
	})
	s.env.OnActivity(a.EnsureMigrationBridge, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.MigrationPairInput) (activities.BridgeResult, error) {
		n := f.count(activities.StepBridgeQueue)
		return activities.BridgeResult{QueueID: 3, Name: "support", Created: f.bridgeCreated}, f.transient(activities.StepBridgeQueue, n)
	})
	s.env.OnActivity(a.RemindMigration, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RemindMigrationInput) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.reminders = append(f.reminders, in)
		return nil
	})
	s.env.OnActivity(a.AwaitFirstInbound, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.MigrationAccountInput) (activities.FirstInboundResult, error) {
		n := f.count(activities.StepAwaitFirstMessage)
		if f.inbound != nil {
			return f.inbound(n)
		}
		return activities.FirstInboundResult{MessageID: 900}, nil
	})
	s.env.OnActivity(a.MarkSourceMigrated, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.MigrationPairInput) (activities.MarkMigratedResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.marked = append(f.marked, in)
		return activities.MarkMigratedResult{}, nil
	})
	s.env.OnActivity(a.CompensateMigration, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.CompensateMigrationInput) (activities.CompensateMigrationResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.compensations = append(f.compensations, in)
		return activities.CompensateMigrationResult{TargetAccountID: 42}, nil
	})
}

func migrationInput() workflows.MigrationInput {
	return workflows.MigrationSettings{}.Input(7, 2)
}

func (s *MigrationSuite) signalAt(d time.Duration, name string) {
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(name, workflows.MigrationSignal{By: "admin"}) }, d)
}

func (s *MigrationSuite) query() workflows.MigrationProgress {
	val, err := s.env.QueryWorkflow(workflows.StateQueryName)
	s.Require().NoError(err)
	var p workflows.MigrationProgress
	s.Require().NoError(val.Get(&p))
	return p
}

// result runs the workflow to its end and returns its final progress.
func (s *MigrationSuite) result(in workflows.MigrationInput) workflows.MigrationProgress {
	s.env.ExecuteWorkflow(workflows.MigrationWorkflow, in)
	s.Require().True(s.env.IsWorkflowCompleted())
	s.Require().NoError(s.env.GetWorkflowError())
	var p workflows.MigrationProgress
	s.Require().NoError(s.env.GetWorkflowResult(&p))
	return p
}

func statuses(steps []activities.MigrationStep) []activities.StepStatus {
	out := make([]activities.StepStatus, len(steps))
	for i, st := range steps {
		out[i] = st.Status
	}
	return out
}

// last is the final record written to the migration row.
func (s *MigrationSuite) last() activities.MigrationRecord {
	s.Require().NotEmpty(s.db.records)
	return s.db.records[len(s.db.records)-1]
}

func (s *MigrationSuite) TestHappyPath() {
	var waiting workflows.MigrationProgress
	s.env.RegisterDelayedCallback(func() { waiting = s.query() }, 30*time.Minute)
	s.signalAt(time.Hour, workflows.MigrationConfirmSignalName)
	s.db.inbound = func(n int) (activities.FirstInboundResult, error) {
		if n < 4 {
			return activities.FirstInboundResult{}, temporal.NewApplicationError("no customer message yet", activities.ErrTypeMigrationNoMessageYet)
		}
		return activities.FirstInboundResult{MessageID: 900}, nil
	}
	p := s.result(migrationInput())

	s.Equal(models.MigrationAwaitingConfirmation, waiting.State)
	s.Equal("email your Sinch account manager App ID 01HNEWAPP and Project ID proj-new to move +390212345678 to the new app; "+
		"when the account manager confirms the number moved, POST /api/migrations/7/confirm", waiting.NextAction)
	s.Equal("create webhook wh-1 (https://motion.example.com/api/whatsapp/accounts/42/notify)", waiting.Steps[2].Detail)
	s.Equal([]activities.SinchSetupInput{{AccountID: 42, RemoveStale: true}}, s.db.setups)
	s.Equal(uint64(42), waiting.TargetAccountID())
	s.Equal(uint64(3), waiting.BridgeQueueID)

	s.Equal(models.MigrationCompleted, p.State)
	s.Equal([]activities.StepStatus{"done", "done", "done", "done", "done", "done", "done", "done"}, statuses(p.Steps))
	s.Equal(4, s.db.calls[activities.StepAwaitFirstMessage], "the poll retried until the message arrived")
	s.Equal(1, p.Steps[6].Attempts, "the poll is one activity: its retries are not step runs")
	s.Require().Len(s.db.marked, 1)
	s.Equal(activities.MigrationPairInput{MigrationID: 7, SourceAccountID: 2, TargetAccountID: 42}, s.db.marked[0])
	s.Empty(s.db.compensations)
	s.NotNil(p.ConfirmedAt)
	s.NotNil(p.FinishedAt)
	rec := s.last()
	s.Equal(models.MigrationCompleted, rec.State)
	s.Equal(uint64(42), rec.TargetAccountID)
	s.Contains(rec.NextAction, "nothing to do: account 2 is migrated and new interactions open on account 42")
	for _, st := range p.Steps {
		s.NotNil(st.StartedAt, st.Name)
		s.NotNil(st.FinishedAt, st.Name)
	}
}

// A confirm received while the first steps run counts: the migration never
// waits in awaiting_confirmation.
func (s *MigrationSuite) TestEarlyConfirmCounts() {
	s.db.fail = activities.StepCopyAccess
	s.signalAt(100*time.Millisecond, workflows.MigrationConfirmSignalName)
	p := s.result(migrationInput())
	s.Equal(models.MigrationCompleted, p.State)
	for _, r := range s.db.records {
		s.NotEqual(models.MigrationAwaitingConfirmation, r.State, "no wait for a confirmation already received")
	}
	s.Empty(s.db.reminders)
}

// A cancel during each of steps 1-6 compensates what was done, skips the
// rest and leaves the source alone (MarkSourceMigrated never runs).
func (s *MigrationSuite) TestCancelAtEachStep() {
	cases := []struct {
		name string
		at   time.Duration
		prep func(*fakeMigrationDB)
		want []activities.StepStatus
	}{
		{"step 1 create account", 100 * time.Millisecond, func(f *fakeMigrationDB) { f.fail = activities.StepCreateAccount },
			[]activities.StepStatus{"compensated", "skipped", "skipped", "skipped", "skipped", "skipped", "skipped", "skipped"}},
		{"step 2 verify credentials", 100 * time.Millisecond, func(f *fakeMigrationDB) { f.fail = activities.StepVerifyCredentials },
			[]activities.StepStatus{"compensated", "skipped", "skipped", "skipped", "skipped", "skipped", "skipped", "skipped"}},
		{"step 3 copy access", 100 * time.Millisecond, func(f *fakeMigrationDB) { f.fail = activities.StepCopyAccess },
			[]activities.StepStatus{"compensated", "done", "done", "compensated", "skipped", "skipped", "skipped", "skipped"}},
		{"step 4 bridge queue", 100 * time.Millisecond, func(f *fakeMigrationDB) { f.fail = activities.StepBridgeQueue },
			[]activities.StepStatus{"compensated", "done", "done", "compensated", "done", "skipped", "skipped", "skipped"}},
		{"step 5 await confirmation", 50 * time.Hour, nil,
			[]activities.StepStatus{"compensated", "done", "done", "compensated", "done", "skipped", "skipped", "skipped"}},
		{"step 5, the bridge queue created by the migration", 50 * time.Hour, func(f *fakeMigrationDB) { f.bridgeCreated = true },
			[]activities.StepStatus{"compensated", "done", "done", "compensated", "compensated", "skipped", "skipped", "skipped"}},
		{"step 6 await first message", 0, func(f *fakeMigrationDB) {
			f.inbound = func(int) (activities.FirstInboundResult, error) {
				return activities.FirstInboundResult{}, temporal.NewApplicationError("no customer message yet", activities.ErrTypeMigrationNoMessageYet)
			}
		}, []activities.StepStatus{"compensated", "done", "done", "compensated", "done", "done", "skipped", "skipped"}},
	}
	for _, tc := range cases {
		s.Run(tc.name, func() {
			s.SetupTest()
			if tc.prep != nil {
				tc.prep(s.db)
			}
			if tc.at == 0 {
				s.signalAt(time.Hour, workflows.MigrationConfirmSignalName)
				s.signalAt(2*time.Hour, workflows.MigrationCancelSignalName)
			} else {
				s.signalAt(tc.at, workflows.MigrationCancelSignalName)
			}
			p := s.result(migrationInput())
			s.Equal(models.MigrationCancelled, p.State)
			s.Equal(tc.want, statuses(p.Steps))
			s.Require().Len(s.db.compensations, 1)
			s.Contains(s.db.compensations[0].Reason, "migration 7 was cancelled by the admin")
			s.Empty(s.db.marked, "the source is left untouched")
			rec := s.last()
			s.Equal(models.MigrationCancelled, rec.State)
			s.NotNil(rec.FinishedAt)
			s.Contains(rec.NextAction, "the migration was cancelled, the new account 42 is disabled and the source account 2 is unchanged")
		})
	}
}

// A cancel interrupts a running credentials check: the step does not
// finish and shows skipped.
func (s *MigrationSuite) TestCancelInterruptsTheCredentialsCheck() {
	s.db.verify = func(int) error { return errors.New("sinch token: 503 UNAVAILABLE") }
	s.signalAt(1500*time.Millisecond, workflows.MigrationCancelSignalName)
	p := s.result(migrationInput())
	s.Equal(models.MigrationCancelled, p.State)
	s.Equal(activities.StepSkipped, p.Steps[1].Status)
	s.Less(s.db.calls[activities.StepVerifyCredentials], 5, "cancelled before the retries ran out")
}

// Without a confirmation, a reminder goes out every 24 h and the migration
// expires after 30 days, compensated.
func (s *MigrationSuite) TestConfirmationNeverArrives() {
	var mid workflows.MigrationProgress
	s.env.RegisterDelayedCallback(func() { mid = s.query() }, 3*24*time.Hour+time.Hour)
	p := s.result(migrationInput())

	s.Equal(models.MigrationAwaitingConfirmation, mid.State)
	s.Equal(3, mid.Reminders)
	s.Contains(mid.NextAction, "reminder 3: still waiting for the confirmation, the migration expires at ")
	s.Contains(mid.NextAction, "email your Sinch account manager App ID 01HNEWAPP")

	s.Equal(models.MigrationExpired, p.State)
	s.Equal(29, p.Reminders, "one a day until the 30-day limit")
	s.Require().Len(s.db.reminders, 29)
	for i, r := range s.db.reminders {
		s.Equal(i+1, r.Reminder)
		s.Equal(uint64(2), r.SourceAccountID)
	}
	s.Equal([]activities.StepStatus{"compensated", "done", "done", "compensated", "done", "failed", "skipped", "skipped"}, statuses(p.Steps))
	s.Equal("no confirmation within 720h0m0s", p.Steps[5].Error)
	s.Require().Len(s.db.compensations, 1)
	s.Contains(s.db.compensations[0].Reason, "migration 7 expired: no confirmation that the number moved within 720h0m0s")
	s.Empty(s.db.marked)
	s.Equal(29, s.last().Reminders)
	s.Equal(models.MigrationExpired, s.last().State)
}

// A refused key fails step 2 early; the migration waits (running, step
// failed, nextAction naming the fix) until the admin retries, then goes on
// without re-running step 1.
func (s *MigrationSuite) TestBadCredentialsThenCorrected() {
	s.db.verify = func(n int) error {
		if n == 1 {
			return temporal.NewNonRetryableApplicationError(`Sinch refused the key "key-new" of account 42 at https://auth.sinch.com/oauth2/token (sinch token: 401 UNAUTHENTICATED: invalid client)`, activities.ErrTypeMigrationCredentials, nil)
		}
		return nil
	}
	var waiting workflows.MigrationProgress
	copiesWhileWaiting := -1
	s.env.RegisterDelayedCallback(func() {
		waiting = s.query()
		s.db.mu.Lock()
		copiesWhileWaiting = s.db.calls[activities.StepCopyAccess]
		s.db.mu.Unlock()
	}, time.Hour)
	s.signalAt(2*time.Hour, workflows.MigrationRetrySignalName)
	s.signalAt(3*time.Hour, workflows.MigrationConfirmSignalName)
	p := s.result(migrationInput())

	s.Equal(models.MigrationRunning, waiting.State)
	s.Equal(activities.StepFailed, waiting.Steps[1].Status)
	s.Contains(waiting.Steps[1].Error, "401 UNAUTHENTICATED")
	s.Equal(`correct the new account's Sinch key (Sinch refused the key "key-new" of account 42 at https://auth.sinch.com/oauth2/token (sinch token: 401 UNAUTHENTICATED: invalid client)): `+
		"PATCH /api/whatsapp/accounts/42 with the right keyId and keySecret, then POST /api/migrations/7/retry to verify it again (or POST /api/migrations/7/cancel)", waiting.NextAction)
	s.Equal(activities.StepPending, waiting.Steps[3].Status, "nothing after the failed step ran")
	s.Equal(0, copiesWhileWaiting, "step 3 waits for the retry")

	s.Equal(models.MigrationCompleted, p.State)
	s.Equal(1, s.db.calls[activities.StepCreateAccount], "step 1 is not run again")
	s.Equal(2, s.db.calls[activities.StepVerifyCredentials])
	s.Equal(2, p.Steps[1].Attempts)
	s.Empty(p.Steps[1].Error)
	s.Empty(s.db.compensations)
	var failedRecord bool
	for _, r := range s.db.records {
		if r.State == models.MigrationRunning && r.Steps[1].Status == activities.StepFailed {
			failedRecord = true
			s.Contains(r.NextAction, "POST /api/migrations/7/retry")
			s.Contains(r.Error, "401 UNAUTHENTICATED")
		}
	}
	s.True(failedRecord, "the row shows the failed step while it waits")
}

// No first message within FirstMessageTimeout: expired and compensated.
func (s *MigrationSuite) TestFirstMessageTimeout() {
	s.db.inbound = func(int) (activities.FirstInboundResult, error) {
		return activities.FirstInboundResult{}, temporal.NewApplicationError("no customer message yet", activities.ErrTypeMigrationNoMessageYet)
	}
	s.signalAt(time.Minute, workflows.MigrationConfirmSignalName)
	in := migrationInput()
	in.FirstMessageTimeout = time.Hour
	p := s.result(in)
	s.Equal(models.MigrationExpired, p.State)
	s.Equal(activities.StepFailed, p.Steps[6].Status)
	s.Equal("no customer message within 1h0m0s", p.Steps[6].Error)
	s.Greater(s.db.calls[activities.StepAwaitFirstMessage], 50, "polled until the timeout")
	s.GreaterOrEqual(p.Steps[6].FinishedAt.Sub(*p.Steps[6].StartedAt), 59*time.Minute, "the wait lasts the timeout")
	s.Require().Len(s.db.compensations, 1)
	s.Contains(s.db.compensations[0].Reason, "no customer message reached the new account within 1h0m0s")
	s.Empty(s.db.marked)
}

// A permanent error of a step that is not the credentials check (the
// target key is taken) fails the migration, compensated.
func (s *MigrationSuite) TestPermanentErrorFails() {
	s.db.createErr = temporal.NewNonRetryableApplicationError(`target.key: an account with key "acme2" already exists`, activities.ErrTypeMigrationConflict, nil)
	p := s.result(migrationInput())
	s.Equal(models.MigrationFailed, p.State)
	s.Equal(`target.key: an account with key "acme2" already exists`, p.Error)
	s.Equal([]activities.StepStatus{"failed", "skipped", "skipped", "skipped", "skipped", "skipped", "skipped", "skipped"}, statuses(p.Steps))
	s.Equal(1, s.db.calls[activities.StepCreateAccount], "a permanent error is not retried")
	s.Require().Len(s.db.compensations, 1)
	s.Contains(s.last().NextAction, `fix the cause (target.key: an account with key "acme2" already exists) and start again with POST /api/migrations`)
}

// Sinch refuses the new app's webhook (it already has 5): the step fails
// at once, the migration waits (running, nextAction naming GET …/sinch)
// until the admin fixed the Sinch side and retries, then goes on with the
// step's detail saying what was changed.
func (s *MigrationSuite) TestWebhookRefusedThenRetried() {
	refusal := "Sinch refused to create webhook https://motion.example.com/api/whatsapp/accounts/42/notify for account 42: HTTP 400 INVALID_ARGUMENT: app 01HNEWAPP already has 5 webhooks"
	s.db.setup = func(n int) (activities.SinchSetupResult, error) {
		if n == 1 {
			return activities.SinchSetupResult{}, temporal.NewNonRetryableApplicationError(refusal, activities.ErrTypeSinchSetup, nil)
		}
		return activities.SinchSetupResult{SecretGenerated: true, Changes: []sinchsetup.Change{
			{Action: sinchsetup.ActionDelete, WebhookID: "old", Target: "https://old.example.com/api/whatsapp/accounts/9/notify"},
			{Action: sinchsetup.ActionCreate, WebhookID: "wh-2", Target: migrationTarget.ReceiveURL, Fields: []string{"target", "triggers", "secret"}},
		}}, nil
	}
	var waiting workflows.MigrationProgress
	s.env.RegisterDelayedCallback(func() { waiting = s.query() }, time.Hour)
	s.signalAt(2*time.Hour, workflows.MigrationRetrySignalName)
	s.signalAt(3*time.Hour, workflows.MigrationConfirmSignalName)
	p := s.result(migrationInput())

	s.Equal(models.MigrationRunning, waiting.State)
	s.Equal(activities.StepFailed, waiting.Steps[2].Status)
	s.Equal(refusal, waiting.Steps[2].Error)
	s.Equal("correct the new Sinch app's side ("+refusal+"): GET /api/whatsapp/accounts/42/sinch shows each problem with its fix; "+
		"then POST /api/migrations/7/retry to set up the webhook again (or POST /api/migrations/7/cancel)", waiting.NextAction)
	s.Equal(activities.StepPending, waiting.Steps[3].Status, "nothing after the failed step ran")

	s.Equal(models.MigrationCompleted, p.State)
	s.Equal(2, s.db.calls[activities.StepSetUpWebhook], "a non-retryable refusal is not retried until the admin asks")
	s.Equal(2, p.Steps[2].Attempts)
	s.Equal("delete webhook old (https://old.example.com/api/whatsapp/accounts/9/notify); create webhook wh-2 (https://motion.example.com/api/whatsapp/accounts/42/notify); "+
		"a webhook secret was generated for the new account", p.Steps[2].Detail)
	s.Equal(1, s.db.calls[activities.StepVerifyCredentials], "the credentials are not checked again")
}

// A cancel while the webhook step waits for the admin compensates the
// new account; the webhook step shows failed.
func (s *MigrationSuite) TestCancelWhileTheWebhookStepWaits() {
	s.db.setup = func(int) (activities.SinchSetupResult, error) {
		return activities.SinchSetupResult{}, temporal.NewNonRetryableApplicationError("Sinch refused to read the app of account 42: HTTP 404 NOT_FOUND: app not found", activities.ErrTypeSinchSetup, nil)
	}
	s.signalAt(time.Hour, workflows.MigrationCancelSignalName)
	p := s.result(migrationInput())
	s.Equal(models.MigrationCancelled, p.State)
	s.Equal([]activities.StepStatus{"compensated", "done", "failed", "skipped", "skipped", "skipped", "skipped", "skipped"}, statuses(p.Steps))
	s.Require().Len(s.db.compensations, 1)
	s.Empty(s.db.marked)
}

// A transient failure of the webhook step is retried by the activity's
// policy without the admin.
func (s *MigrationSuite) TestWebhookTransientFailureRetried() {
	s.db.fail = activities.StepSetUpWebhook
	s.signalAt(time.Hour, workflows.MigrationConfirmSignalName)
	p := s.result(migrationInput())
	s.Equal(models.MigrationCompleted, p.State)
	s.Equal(2, s.db.calls[activities.StepSetUpWebhook])
	s.Equal(1, p.Steps[2].Attempts, "retries of the activity are one run of the step")
}
