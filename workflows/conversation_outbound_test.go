package workflows_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/workflows"
)

// fakeOutbound plays the outbound activities: it numbers messages, records
// every send attempt and failure, and answers delivery reports through a
// per-test function.
type fakeOutbound struct {
	mu      sync.Mutex
	nextID  uint64
	created []activities.CreateOutboundInput
	sends   []activities.SendOutboundInput
	// local says, for each of sends, whether it ran as a local activity.
	local    []bool
	failures []activities.RecordOutboundFailureInput
	splits   []activities.SplitOutboundInput
	// sendErr, when set, decides each send's error.
	sendErr func(activities.SendOutboundInput) error
	// report answers ApplyDelivery; nil applies the status.
	report func(activities.ApplyDeliveryInput) activities.ApplyDeliveryResult
	// stored are replies a lost workflow task stored: their first create
	// answers Created false, as the repeated update finds them.
	stored map[string]bool
	// settled are the messages the database shows delivered, read or
	// failed (the API applied their reports).
	settled map[uint64]bool
}

func (f *fakeOutbound) create(_ context.Context, in activities.CreateOutboundInput) (activities.CreateOutboundResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var settled []uint64
	for _, id := range in.Outstanding {
		if f.settled[id] {
			settled = append(settled, id)
		}
	}
	for i, c := range f.created {
		if c.ClientRef == in.ClientRef {
			id := 501 + uint64(i)
			return activities.CreateOutboundResult{MessageID: id, Status: f.statusOf(id), Settled: settled}, nil
		}
	}
	f.created = append(f.created, in)
	res := activities.CreateOutboundResult{MessageID: 500 + uint64(len(f.created)), Status: "pending", Created: !f.stored[in.ClientRef],
		Settled: settled}
	if in.Attachment != nil && in.Text != "" {
		// The text follows the file as a message of its own.
		text := in
		text.ClientRef, text.Attachment = in.ClientRef+"#text", nil
		f.created = append(f.created, text)
		res.TextMessageID, res.TextStatus = 500+uint64(len(f.created)), "pending"
	}
	return res, nil
}

// statusOf is a stored message's status: pending until a send of it.
func (f *fakeOutbound) statusOf(id uint64) string {
	if f.settled[id] {
		return "delivered"
	}
	for _, snd := range f.sends {
		if snd.MessageID == id {
			return "accepted"
		}
	}
	return "pending"
}

func (f *fakeOutbound) send(ctx context.Context, in activities.SendOutboundInput) (activities.SendOutboundResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sends = append(f.sends, in)
	f.local = append(f.local, activity.GetInfo(ctx).IsLocalActivity)
	if f.sendErr != nil {
		if err := f.sendErr(in); err != nil {
			return activities.SendOutboundResult{}, err
		}
	}
	return activities.SendOutboundResult{ProviderMessageID: fmt.Sprintf("sinch-%d-%d", in.MessageID, in.Attempt)}, nil
}

func (f *fakeOutbound) fail(_ context.Context, in activities.RecordOutboundFailureInput) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures = append(f.failures, in)
	return nil
}

func (f *fakeOutbound) split(_ context.Context, in activities.SplitOutboundInput) (activities.SplitOutboundResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.splits = append(f.splits, in)
	var res activities.SplitOutboundResult
	for i := range in.Parts {
		res.PartIDs = append(res.PartIDs, 600+uint64(i))
	}
	return res, nil
}

func (f *fakeOutbound) delivery(_ context.Context, in activities.ApplyDeliveryInput) (activities.ApplyDeliveryResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	latest := 0
	for _, snd := range f.sends {
		if snd.MessageID == in.RefMessageID && snd.Attempt > latest {
			latest = snd.Attempt
		}
	}
	if in.RefAttempt < latest {
		// As the real activity: a report of an earlier attempt is stale.
		return activities.ApplyDeliveryResult{MessageID: in.RefMessageID, Stale: true, Attempt: latest}, nil
	}
	if f.report != nil {
		return f.report(in), nil
	}
	return activities.ApplyDeliveryResult{Applied: true, MessageID: in.RefMessageID, Status: strings.ToLower(in.Status), Attempt: in.RefAttempt}, nil
}

// failing answers FAILED reports with the classified reason code.
func failing(in activities.ApplyDeliveryInput) activities.ApplyDeliveryResult {
	res := activities.ApplyDeliveryResult{MessageID: in.RefMessageID, Attempt: in.RefAttempt}
	if in.Status == "FAILED" {
		f := activities.ClassifyReason(in.ReasonCode, in.ReasonSubCode, in.ReasonDescription)
		res.Failure = &f
		return res
	}
	res.Applied, res.Status = true, strings.ToLower(in.Status)
	return res
}

type OutboundSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env *testsuite.TestWorkflowEnvironment
	db  *fakeDB
	out *fakeOutbound
}

func TestOutbound(t *testing.T) { suite.Run(t, new(OutboundSuite)) }

func (s *OutboundSuite) SetupTest() { s.setup(0) }

// setup builds a fresh environment whose send activity takes sendAfter.
func (s *OutboundSuite) setup(sendAfter time.Duration) {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.SetStartTime(t0)
	s.db = &fakeDB{routeResults: []activities.RouteResult{assignedTo(5, 2)}}
	s.out = &fakeOutbound{}
	var a *activities.Activities
	s.env.OnActivity(a.IngestInbound, mock.Anything, mock.Anything).Maybe().Return(s.db.ingest)
	s.env.OnActivity(a.RouteInteraction, mock.Anything, mock.Anything).Maybe().Return(s.db.route)
	s.env.OnActivity(a.CloseInteraction, mock.Anything, mock.Anything).Maybe().Return(s.db.close)
	s.env.OnActivity(a.CloseIdleInteraction, mock.Anything, mock.Anything).Maybe().Return(s.db.closeIdle)
	s.env.OnActivity(a.NotifyAgents, mock.Anything, mock.Anything).Maybe().Return(s.db.notify)
	s.env.OnActivity(a.CreateOutbound, mock.Anything, mock.Anything).Maybe().Return(s.out.create)
	s.env.OnActivity(a.SendOutbound, mock.Anything, mock.Anything).After(sendAfter).Maybe().Return(s.out.send)
	s.env.OnActivity(a.RecordOutboundFailure, mock.Anything, mock.Anything).Maybe().Return(s.out.fail)
	s.env.OnActivity(a.SplitOutbound, mock.Anything, mock.Anything).Maybe().Return(s.out.split)
	s.env.OnActivity(a.ApplyDelivery, mock.Anything, mock.Anything).Maybe().Return(s.out.delivery)
	s.env.RegisterWorkflowWithOptions(workflows.ConversationWorkflow, workflow.RegisterOptions{Name: workflows.ConversationWorkflowName})
}

func (s *OutboundSuite) AfterTest(_, _ string) { s.env.AssertExpectations(s.T()) }

func outInput() workflows.ConversationInput {
	in := input()
	in.InactivityTimeout, in.IdleTimeout = 72*time.Hour, 96*time.Hour
	in.MaxResends, in.ResendBackoff = 2, 15*time.Second
	return in
}

// reply sends the reply update at d and checks how it ends: wantErr ""
// expects 202-like success, otherwise a rejection containing it.
func (s *OutboundSuite) reply(d time.Duration, req workflows.ReplyRequest, wantErr string) {
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(workflows.ReplyUpdateName, fmt.Sprintf("reply-%s", d), &testsuite.TestUpdateCallback{
			OnReject: func(err error) {
				if wantErr == "" {
					s.Fail("reply rejected", err.Error())
					return
				}
				s.Contains(err.Error(), wantErr)
			},
			OnAccept: func() {},
			OnComplete: func(v any, err error) {
				if wantErr != "" {
					// Refused by the main loop rather than the validator.
					if s.Error(err, "want %q", wantErr) {
						s.Contains(err.Error(), wantErr)
					}
					return
				}
				s.NoError(err)
				res := v.(workflows.ReplyResult)
				// A repeated update answers the stored reply as it is.
				s.Contains([]string{"pending", "accepted"}, res.Status)
				s.NotZero(res.MessageID)
			},
		}, req)
	}, d)
}

func report(d time.Duration, s *OutboundSuite, msgID uint64, attempt int, status, code string) {
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(workflows.DeliverySignalName, workflows.DeliverySignal{DeliveryReport: activities.DeliveryReport{
			MessageID: fmt.Sprintf("sinch-%d-%d", msgID, attempt), Status: status, ReasonCode: code,
			RefMessageID: msgID, RefAttempt: attempt,
		}})
	}, d)
}

func (s *OutboundSuite) outbox() []workflows.OutboundState {
	v, err := s.env.QueryWorkflow(workflows.StateQueryName)
	s.Require().NoError(err)
	var st workflows.ConversationState
	s.Require().NoError(v.Get(&st))
	return st.Outbox
}

func (s *OutboundSuite) TestReplyIsSentOnceThenDelivered() {
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(workflows.InboundSignalName, msg("m1", time.Second)) }, time.Second)
	s.reply(2*time.Second, workflows.ReplyRequest{InteractionID: 101, AgentID: 5, Text: "Hello, how can I help?"}, "")
	report(3*time.Second, s, 501, 1, "QUEUED_ON_CHANNEL", "")
	s.env.RegisterDelayedCallback(func() {
		out := s.outbox()
		s.Require().Len(out, 1, "waiting for the outcome")
		s.Equal(1, out[0].Attempt)
	}, 3500*time.Millisecond)
	report(4*time.Second, s, 501, 1, "DELIVERED", "")
	s.env.RegisterDelayedCallback(func() { s.Empty(s.outbox(), "delivered: done") }, 5*time.Second)
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, outInput())
	s.NoError(s.env.GetWorkflowError())
	s.Require().Len(s.out.created, 1)
	s.Equal(activities.CreateOutboundInput{AccountID: 1, InteractionID: 101, ContactID: 7, AgentID: 5, Text: "Hello, how can I help?",
		ClientRef: s.out.created[0].ClientRef}, s.out.created[0])
	s.True(strings.HasPrefix(s.out.created[0].ClientRef, "reply:101:"))
	s.Equal([]activities.SendOutboundInput{{WorkflowID: "default-test-workflow-id", AccountID: 1, MessageID: 501, Attempt: 1}}, s.out.sends)
	s.Empty(s.out.failures)
}

func (s *OutboundSuite) TestRepliesAreSentInOrder() {
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(workflows.InboundSignalName, msg("m1", time.Second)) }, time.Second)
	for i := 0; i < 3; i++ {
		s.reply(2*time.Second+time.Duration(i)*time.Millisecond, workflows.ReplyRequest{InteractionID: 101, AgentID: 5, Text: fmt.Sprintf("part %d", i)}, "")
	}
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, outInput())
	s.NoError(s.env.GetWorkflowError())
	s.Require().Len(s.out.sends, 3)
	for i, snd := range s.out.sends {
		s.EqualValues(501+i, snd.MessageID, "sent in the order the agent wrote them")
	}
}

func (s *OutboundSuite) TestReplyRefusals() {
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(workflows.InboundSignalName, msg("m1", time.Second)) }, time.Second)
	s.reply(2*time.Second, workflows.ReplyRequest{InteractionID: 101, AgentID: 5, Text: "  "}, "text is empty")
	s.reply(3*time.Second, workflows.ReplyRequest{InteractionID: 101, AgentID: 5, Text: strings.Repeat("x", 4097)}, "over WhatsApp's limit of 4096")
	s.reply(4*time.Second, workflows.ReplyRequest{InteractionID: 101, AgentID: 6, Text: "hi"}, "not assigned to agent 6")
	s.reply(5*time.Second, workflows.ReplyRequest{InteractionID: 999, AgentID: 5, Text: "hi"}, "interaction 999 is not open")
	// An admin (AgentID 0) may reply; then the window closes 24 h after the
	// customer's message at t0+1s.
	s.reply(6*time.Second, workflows.ReplyRequest{InteractionID: 101, Text: "admin here"}, "")
	s.reply(24*time.Hour+2*time.Second, workflows.ReplyRequest{InteractionID: 101, AgentID: 5, Text: "too late"}, workflows.ErrOutsideWindow)
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, outInput())
	s.NoError(s.env.GetWorkflowError())
	s.Require().Len(s.out.created, 1, "only the admin's reply was stored")
	s.Zero(s.out.created[0].AgentID)
}

func (s *OutboundSuite) TestWindowReopensWhenTheCustomerWritesAgain() {
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(workflows.InboundSignalName, msg("m1", time.Second)) }, time.Second)
	s.reply(25*time.Hour, workflows.ReplyRequest{InteractionID: 101, AgentID: 5, Text: "late"}, workflows.ErrOutsideWindow)
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(workflows.InboundSignalName, msg("m2", 26*time.Hour)) }, 26*time.Hour)
	s.reply(26*time.Hour+time.Second, workflows.ReplyRequest{InteractionID: 101, AgentID: 5, Text: "now it works"}, "")
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, outInput())
	s.NoError(s.env.GetWorkflowError())
	s.Require().Len(s.out.created, 1)
	s.Equal("now it works", s.out.created[0].Text)
}

func (s *OutboundSuite) TestNetworkFailuresAreResentBoundedThenFail() {
	s.out.report = failing
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(workflows.InboundSignalName, msg("m1", time.Second)) }, time.Second)
	s.reply(2*time.Second, workflows.ReplyRequest{InteractionID: 101, AgentID: 5, Text: "hello"}, "")
	// Attempt 1 fails at 5s; resent after 15 s; attempt 2 fails at 25s;
	// resent after 30 s; attempt 3 fails at 60s: MaxResends (2) reached.
	report(5*time.Second, s, 501, 1, "FAILED", "RATE_LIMITED")
	s.env.RegisterDelayedCallback(func() {
		s.Len(s.out.sends, 1, "backoff before the resend")
	}, 19*time.Second)
	report(25*time.Second, s, 501, 2, "FAILED", "DELIVERY_TIMED_OUT")
	// A stale report of attempt 1 arriving late changes nothing.
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(workflows.DeliverySignalName, workflows.DeliverySignal{DeliveryReport: activities.DeliveryReport{
			MessageID: "sinch-501-1", Status: "FAILED", ReasonCode: "RATE_LIMITED", RefMessageID: 501, RefAttempt: 1}})
	}, 40*time.Second)
	report(60*time.Second, s, 501, 3, "FAILED", "MESSAGE_EXPIRED")
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, outInput())
	s.NoError(s.env.GetWorkflowError())
	s.Require().Len(s.out.sends, 3, "sent once and resent twice")
	for i, snd := range s.out.sends {
		s.Equal(i+1, snd.Attempt)
	}
	s.Require().Len(s.out.failures, 1)
	f := s.out.failures[0]
	s.EqualValues(501, f.MessageID)
	s.Equal(3, f.Attempts)
	s.Equal(models.ErrorClassNetwork, f.Failure.Class)
	s.Equal("MESSAGE_EXPIRED", f.Failure.Code)
	s.Contains(f.Failure.Message, "try again later")
}

// TestEachClassFailsWithoutResend covers the classes that are never resent.
func (s *OutboundSuite) TestEachClassFailsWithoutResend() {
	cases := []struct {
		code   string
		class  models.ErrorClass
		advice string
	}{
		{"RECIPIENT_NOT_OPTED_IN", models.ErrorClassPolicy, "may be blocked by Meta"},
		{"OUTSIDE_ALLOWED_SENDING_WINDOW", models.ErrorClassPolicy, "24 hours"},
		{"INACTIVE_CREDENTIAL", models.ErrorClassPolicy, "may be blocked by Meta"},
		{"RECIPIENT_NOT_REACHABLE", models.ErrorClassConfig, "check the Sinch account settings"},
		{"TEMPLATE_NOT_FOUND", models.ErrorClassConfig, "check the Sinch account settings"},
		{"CHANNEL_FAILURE", models.ErrorClassSupport, "contact support"},
		{"BAD_REQUEST", models.ErrorClassSupport, "malformed or invalid"},
		{"SOMETHING_NEW_FROM_SINCH", models.ErrorClassSupport, "unknown Sinch error code"},
		{"MEDIA_TYPE_UNSUPPORTED", models.ErrorClassMedia, ".DOC"},
		{"MEDIA_TOO_LARGE", models.ErrorClassMedia, "size limits"},
		{"MEDIA_NOT_REACHABLE", models.ErrorClassMedia, "proxy"},
	}
	for _, tc := range cases {
		s.Run(tc.code, func() {
			s.SetupTest()
			s.out.report = failing
			s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(workflows.InboundSignalName, msg("m1", time.Second)) }, time.Second)
			s.reply(2*time.Second, workflows.ReplyRequest{InteractionID: 101, AgentID: 5, Text: "hello"}, "")
			report(5*time.Second, s, 501, 1, "FAILED", tc.code)
			s.env.ExecuteWorkflow(workflows.ConversationWorkflow, outInput())
			s.NoError(s.env.GetWorkflowError())
			s.Len(s.out.sends, 1, "no resend")
			s.Require().Len(s.out.failures, 1)
			f := s.out.failures[0].Failure
			s.Equal(tc.code, f.Code, "kept verbatim")
			s.Equal(tc.class, f.Class)
			s.Contains(f.Message, tc.advice)
		})
	}
}

func (s *OutboundSuite) TestSynchronousRefusalFailsAtOnce() {
	s.out.sendErr = func(activities.SendOutboundInput) error {
		return temporal.NewNonRetryableApplicationError("UNAUTHENTICATED: check", activities.ErrTypeSinchConfig, nil,
			activities.Failure{Code: "UNAUTHENTICATED", Class: models.ErrorClassConfig, Message: "UNAUTHENTICATED: check the Sinch account settings"})
	}
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(workflows.InboundSignalName, msg("m1", time.Second)) }, time.Second)
	s.reply(2*time.Second, workflows.ReplyRequest{InteractionID: 101, AgentID: 5, Text: "hello"}, "")
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, outInput())
	s.NoError(s.env.GetWorkflowError())
	s.Len(s.out.sends, 1, "a classified refusal is not retried")
	s.Require().Len(s.out.failures, 1)
	s.Equal("UNAUTHENTICATED", s.out.failures[0].Failure.Code)
	s.Equal(models.ErrorClassConfig, s.out.failures[0].Failure.Class)
}

func (s *OutboundSuite) TestRateLimitedSendIsRetriedByTheActivityPolicy() {
	calls := 0
	s.out.sendErr = func(activities.SendOutboundInput) error {
		calls++
		if calls <= 2 {
			return temporal.NewApplicationErrorWithOptions("sinch send: 429", activities.ErrTypeSinchRetryable,
				temporal.ApplicationErrorOptions{NextRetryDelay: 3 * time.Second})
		}
		return nil
	}
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(workflows.InboundSignalName, msg("m1", time.Second)) }, time.Second)
	s.reply(2*time.Second, workflows.ReplyRequest{InteractionID: 101, AgentID: 5, Text: "hello"}, "")
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, outInput())
	s.NoError(s.env.GetWorkflowError())
	s.Len(s.out.sends, 3, "two 429s then accepted")
	for _, snd := range s.out.sends {
		s.Equal(1, snd.Attempt, "activity retries are one attempt of the message")
	}
	s.Empty(s.out.failures)
}

func (s *OutboundSuite) TestSplitRequiredResendsInParts() {
	s.out.report = failing
	text := strings.Repeat("word ", 300) // 1500 characters
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(workflows.InboundSignalName, msg("m1", time.Second)) }, time.Second)
	s.reply(2*time.Second, workflows.ReplyRequest{InteractionID: 101, AgentID: 5, Text: text}, "")
	report(5*time.Second, s, 501, 1, "FAILED", activities.ReasonSplitRequired)
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, outInput())
	s.NoError(s.env.GetWorkflowError())
	s.Require().Len(s.out.splits, 1)
	parts := s.out.splits[0].Parts
	s.Require().Len(parts, 2)
	s.Equal(strings.TrimSpace(text), parts[0]+" "+parts[1], "nothing lost at the cut")
	for _, p := range parts {
		s.LessOrEqual(len(p), workflows.DefaultSplitLength)
		s.False(strings.HasSuffix(p, "wor"), "cut at a word boundary")
	}
	s.Require().Len(s.out.sends, 3)
	s.EqualValues(600, s.out.sends[1].MessageID, "part 1 first")
	s.EqualValues(601, s.out.sends[2].MessageID, "then part 2")
	s.Empty(s.out.failures)
}

func (s *OutboundSuite) TestReportThatOvertakesTheSendResult() {
	// The send takes 5 s to return; its FAILED (network) report lands at
	// 3 s: the resend decision stands when the result arrives.
	s.setup(5 * time.Second)
	s.out.report = failing
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(workflows.InboundSignalName, msg("m1", time.Second)) }, time.Second)
	s.reply(2*time.Second, workflows.ReplyRequest{InteractionID: 101, AgentID: 5, Text: "hello"}, "")
	report(3*time.Second, s, 501, 1, "FAILED", "RATE_LIMITED")
	report(40*time.Second, s, 501, 2, "DELIVERED", "")
	s.env.RegisterDelayedCallback(func() { s.Empty(s.outbox()) }, 41*time.Second)
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, outInput())
	s.NoError(s.env.GetWorkflowError())
	s.Require().Len(s.out.sends, 2)
	s.Equal(2, s.out.sends[1].Attempt)
	s.Empty(s.out.failures)
}

func (s *OutboundSuite) TestIdempotentReplyIsStoredAndSentOnce() {
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(workflows.InboundSignalName, msg("m1", time.Second)) }, time.Second)
	req := workflows.ReplyRequest{InteractionID: 101, AgentID: 5, Text: "hello", IdempotencyKey: "k-1"}
	s.reply(2*time.Second, req, "")
	s.reply(3*time.Second, req, "")
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, outInput())
	s.NoError(s.env.GetWorkflowError())
	s.Len(s.out.created, 1)
	s.Len(s.out.sends, 1, "the repeated request sends nothing")
}

// TestTextIsSentLocallyInTheUpdatesTask: a text's first send runs as a
// local activity (in the reply update's workflow task), a file's as the
// regular activity.
func (s *OutboundSuite) TestTextIsSentLocallyInTheUpdatesTask() {
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(workflows.InboundSignalName, msg("m1", time.Second)) }, time.Second)
	s.reply(2*time.Second, workflows.ReplyRequest{InteractionID: 101, AgentID: 5, Text: "see the file",
		Attachment: &activities.OutboundAttachment{Key: "k", Filename: "a.pdf"}}, "")
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, outInput())
	s.NoError(s.env.GetWorkflowError())
	s.Require().Len(s.out.sends, 2)
	s.EqualValues(501, s.out.sends[0].MessageID, "the file first")
	s.Equal([]bool{false, true}, s.out.local, "the file by the regular activity, its text locally")
}

// TestLocalSendGoesOnAsTheActivity: a local try that Sinch answers 429 is
// not retried locally: the regular activity takes the same attempt over,
// after Retry-After, with its retry policy.
func (s *OutboundSuite) TestLocalSendGoesOnAsTheActivity() {
	calls := 0
	s.out.sendErr = func(activities.SendOutboundInput) error {
		calls++
		if calls == 1 {
			return temporal.NewApplicationErrorWithOptions("sinch send: 429", activities.ErrTypeSinchRetryable,
				temporal.ApplicationErrorOptions{NextRetryDelay: 3 * time.Second})
		}
		return nil
	}
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(workflows.InboundSignalName, msg("m1", time.Second)) }, time.Second)
	s.reply(2*time.Second, workflows.ReplyRequest{InteractionID: 101, AgentID: 5, Text: "hello"}, "")
	s.env.RegisterDelayedCallback(func() {
		s.Len(s.out.sends, 1, "waiting out Retry-After")
	}, 4*time.Second)
	s.env.RegisterDelayedCallback(func() {
		out := s.outbox()
		s.Require().Len(out, 1)
		s.Equal("sent", out[0].Phase)
	}, 6*time.Second)
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, outInput())
	s.NoError(s.env.GetWorkflowError())
	s.Require().Len(s.out.sends, 2)
	s.Equal([]bool{true, false}, s.out.local)
	s.Equal(1, s.out.sends[1].Attempt, "the same attempt")
	s.Empty(s.out.failures)
}

// TestClassifiedLocalRefusalFailsAtOnce: a classified refusal of the local
// try is final, as from the regular activity.
func (s *OutboundSuite) TestClassifiedLocalRefusalFailsAtOnce() {
	s.out.sendErr = func(activities.SendOutboundInput) error {
		return temporal.NewNonRetryableApplicationError("RECIPIENT_NOT_OPTED_IN", activities.ErrTypeMetaPolicy, nil,
			activities.Failure{Code: "RECIPIENT_NOT_OPTED_IN", Class: models.ErrorClassPolicy, Message: "RECIPIENT_NOT_OPTED_IN: blocked"})
	}
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(workflows.InboundSignalName, msg("m1", time.Second)) }, time.Second)
	s.reply(2*time.Second, workflows.ReplyRequest{InteractionID: 101, AgentID: 5, Text: "hello"}, "")
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, outInput())
	s.NoError(s.env.GetWorkflowError())
	s.Equal([]bool{true}, s.out.local, "not handed to the regular activity")
	s.Require().Len(s.out.failures, 1)
	s.Equal(models.ErrorClassPolicy, s.out.failures[0].Failure.Class)
}

// TestReplyOfALostTaskIsSent: the update's first workflow task stored the
// reply and was lost with its worker (it also ran the send); the update
// comes again and finds the reply stored, never sent: it is queued and
// sent (the send reconciles with Sinch), once.
func (s *OutboundSuite) TestReplyOfALostTaskIsSent() {
	req := workflows.ReplyRequest{InteractionID: 101, AgentID: 5, Text: "hello", IdempotencyKey: "k-1"}
	s.out.stored = map[string]bool{"reply:101:k-1": true}
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(workflows.InboundSignalName, msg("m1", time.Second)) }, time.Second)
	s.reply(2*time.Second, req, "")
	s.reply(3*time.Second, req, "")
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, outInput())
	s.NoError(s.env.GetWorkflowError())
	s.Require().Len(s.out.sends, 1, "sent once")
	s.EqualValues(501, s.out.sends[0].MessageID)
}

// TestSettledRepliesLeaveTheOutbox: delivered and read reports no longer
// reach the workflow (the API applies them), so the next reply's create
// names the replies the database shows settled, and the outbox drops them.
func (s *OutboundSuite) TestSettledRepliesLeaveTheOutbox() {
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(workflows.InboundSignalName, msg("m1", time.Second)) }, time.Second)
	s.reply(2*time.Second, workflows.ReplyRequest{InteractionID: 101, AgentID: 5, Text: "one"}, "")
	s.reply(3*time.Second, workflows.ReplyRequest{InteractionID: 101, AgentID: 5, Text: "two"}, "")
	s.env.RegisterDelayedCallback(func() {
		s.Len(s.outbox(), 2, "both sent, their outcome unknown to the workflow")
		s.out.mu.Lock()
		s.out.settled = map[uint64]bool{501: true}
		s.out.mu.Unlock()
	}, 4*time.Second)
	s.reply(5*time.Second, workflows.ReplyRequest{InteractionID: 101, AgentID: 5, Text: "three"}, "")
	s.env.RegisterDelayedCallback(func() {
		var ids []uint64
		for _, o := range s.outbox() {
			ids = append(ids, o.MessageID)
		}
		s.Equal([]uint64{502, 503}, ids)
	}, 6*time.Second)
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, outInput())
	s.NoError(s.env.GetWorkflowError())
	s.Require().Len(s.out.created, 3)
	s.Empty(s.out.created[0].Outstanding)
	s.Equal([]uint64{501}, s.out.created[1].Outstanding)
	s.Equal([]uint64{501, 502}, s.out.created[2].Outstanding)
}

func (s *OutboundSuite) TestContinueAsNewCarriesTheOutbox() {
	in := outInput()
	in.MaxHistoryEvents = 5000
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(workflows.InboundSignalName, msg("m1", time.Second)) }, time.Second)
	s.reply(2*time.Second, workflows.ReplyRequest{InteractionID: 101, AgentID: 5, Text: "hello"}, "")
	s.env.RegisterDelayedCallback(func() { s.env.SetCurrentHistoryLength(6000) }, 3*time.Second)
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(workflows.InboundSignalName, msg("m2", 4*time.Second)) }, 4*time.Second)
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, in)
	var can *workflow.ContinueAsNewError
	s.Require().ErrorAs(s.env.GetWorkflowError(), &can)
	var next workflows.ConversationInput
	s.Require().NoError(converterDecode(can, &next))
	s.Require().Len(next.State.Outbox, 1, "the reply waiting for its outcome is carried over")
	s.Equal(uint64(501), next.State.Outbox[0].MessageID)
	s.Equal(1, next.State.Outbox[0].Attempt)
	s.Equal(t0.Add(4*time.Second), next.State.LastInboundAt, "the latest customer message opens the window")
	s.Equal(2, next.MaxResends)
}

func TestSplitText(t *testing.T) {
	cases := []struct {
		text  string
		limit int
		want  []string
	}{
		{"hello world", 20, []string{"hello world"}},
		{"hello big world", 9, []string{"hello big", "world"}},
		{"aaaaaaaaaa bb", 4, []string{"aaaa", "aaaa", "aa", "bb"}},
		{"  spaced   out  ", 6, []string{"spaced", "out"}},
		{"ciao così è", 6, []string{"ciao", "così è"}},
	}
	for _, tc := range cases {
		got := workflows.SplitText(tc.text, tc.limit)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("SplitText(%q, %d) = %q, want %q", tc.text, tc.limit, got, tc.want)
		}
	}
}
