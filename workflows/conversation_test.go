package workflows_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/workflows"
)

// fakeDB stands in for the activities: it records what the workflow asked
// for and answers like the real ones would.
type fakeDB struct {
	mu           sync.Mutex
	stored       []string // Sinch ids in insertion order
	batches      [][]string
	interactions int
	routes       []activities.RouteInput
	// routeResults are returned in order; the last one repeats.
	routeResults []activities.RouteResult
	closed       []activities.CloseInteractionInput
	// storedAt is the last_message_at of a message the API stored without
	// the workflow's knowledge (zero: none); see closeIdle.
	storedAt   time.Time
	reclaims   [][]string
	moved      []activities.MoveToQueueInput
	assigned   []activities.AssignToAgentInput
	notified   []activities.NotifyInput
	deliveries []activities.ApplyDeliveryInput
	assignErr  error
	// settings are the account settings an opened interaction gets;
	// routeFn, when set, answers routing instead of routeResults.
	settings *activities.InteractionSettings
	routeFn  func(activities.RouteInput) activities.RouteResult
}

func (f *fakeDB) ingest(_ context.Context, in activities.IngestInboundInput) (activities.IngestInboundResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	res := activities.IngestInboundResult{ContactID: 7, InteractionID: in.InteractionID}
	var batch []string
	for _, m := range in.Messages {
		f.stored = append(f.stored, m.MessageID)
		batch = append(batch, m.MessageID)
		res.Stored = append(res.Stored, m.MessageID)
	}
	f.batches = append(f.batches, batch)
	if len(in.Reclaim) > 0 {
		f.reclaims = append(f.reclaims, in.Reclaim)
	}
	if in.InteractionID == 0 && len(in.Messages) > 0 {
		f.interactions++
		res.InteractionID, res.Opened, res.Settings = uint64(100+f.interactions), true, f.settings
	}
	return res, nil
}

func (f *fakeDB) route(_ context.Context, in activities.RouteInput) (activities.RouteResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes = append(f.routes, in)
	if f.routeFn != nil {
		return f.routeFn(in), nil
	}
	if len(f.routeResults) == 0 {
		return activities.RouteResult{NoQueue: true}, nil
	}
	r := f.routeResults[0]
	if len(f.routeResults) > 1 {
		f.routeResults = f.routeResults[1:]
	}
	return r, nil
}

func (f *fakeDB) close(_ context.Context, in activities.CloseInteractionInput) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = append(f.closed, in)
	return nil
}

// closeIdle closes for inactivity, unless storedAt is set: then it answers
// once, as the database would for a message the API stored without the
// workflow's knowledge, that the interaction had a message at storedAt.
func (f *fakeDB) closeIdle(_ context.Context, in activities.CloseIdleInput) (activities.CloseIdleResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if at := f.storedAt; !at.IsZero() {
		f.storedAt = time.Time{}
		return activities.CloseIdleResult{LastMessageAt: at}, nil
	}
	f.closed = append(f.closed, activities.CloseInteractionInput{InteractionID: in.InteractionID, Reason: "inactivity"})
	return activities.CloseIdleResult{Closed: true}, nil
}

func (f *fakeDB) move(_ context.Context, in activities.MoveToQueueInput) (activities.QueueInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.moved = append(f.moved, in)
	return activities.QueueInfo{ID: in.QueueID, Name: fmt.Sprintf("q%d", in.QueueID), Strategy: "round_robin"}, nil
}

func (f *fakeDB) assign(_ context.Context, in activities.AssignToAgentInput) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.assignErr != nil {
		return f.assignErr
	}
	f.assigned = append(f.assigned, in)
	return nil
}

func (f *fakeDB) notify(_ context.Context, in activities.NotifyInput) (activities.NotifyResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notified = append(f.notified, in)
	return activities.NotifyResult{Text: "From : +39"}, nil
}

func (f *fakeDB) delivery(_ context.Context, in activities.ApplyDeliveryInput) (activities.ApplyDeliveryResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deliveries = append(f.deliveries, in)
	return activities.ApplyDeliveryResult{Applied: true, Status: "delivered"}, nil
}

type ConversationSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env *testsuite.TestWorkflowEnvironment
	db  *fakeDB
}

func TestConversation(t *testing.T) { suite.Run(t, new(ConversationSuite)) }

func (s *ConversationSuite) SetupTest() {
	s.env = s.NewTestWorkflowEnvironment()
	s.db = &fakeDB{}
	var a *activities.Activities
	s.env.OnActivity(a.IngestInbound, mock.Anything, mock.Anything).Maybe().Return(s.db.ingest)
	s.env.OnActivity(a.RouteInteraction, mock.Anything, mock.Anything).Maybe().Return(s.db.route)
	s.env.OnActivity(a.CloseInteraction, mock.Anything, mock.Anything).Maybe().Return(s.db.close)
	s.env.OnActivity(a.CloseIdleInteraction, mock.Anything, mock.Anything).Maybe().Return(s.db.closeIdle)
	s.env.OnActivity(a.MoveToQueue, mock.Anything, mock.Anything).Maybe().Return(s.db.move)
	s.env.OnActivity(a.AssignToAgent, mock.Anything, mock.Anything).Maybe().Return(s.db.assign)
	s.env.OnActivity(a.NotifyAgents, mock.Anything, mock.Anything).Maybe().Return(s.db.notify)
	s.env.OnActivity(a.ApplyDelivery, mock.Anything, mock.Anything).Maybe().Return(s.db.delivery)
	s.env.OnActivity(a.PublishContactEvent, mock.Anything, mock.Anything).Maybe().Return(nil)
	s.env.RegisterWorkflowWithOptions(workflows.ConversationWorkflow, workflow.RegisterOptions{Name: workflows.ConversationWorkflowName})
}

func (s *ConversationSuite) AfterTest(_, _ string) { s.env.AssertExpectations(s.T()) }

var t0 = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

func msg(id string, offset time.Duration) workflows.InboundSignal {
	return workflows.InboundSignal{
		InboundMessage: activities.InboundMessage{MessageID: id, AcceptTime: t0.Add(offset), Kind: "text", Text: "hello " + id},
		ProcessingMode: "CONVERSATION",
	}
}

func input() workflows.ConversationInput {
	return workflows.ConversationInput{AccountID: 1, Channel: "WHATSAPP", Identity: "393331234567",
		InactivityTimeout: time.Hour, IdleTimeout: 2 * time.Hour, RoutingRecheck: time.Minute}
}

func (s *ConversationSuite) signalAt(d time.Duration, name string, arg any) {
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(name, arg) }, d)
}

func (s *ConversationSuite) state() workflows.ConversationState {
	v, err := s.env.QueryWorkflow(workflows.StateQueryName)
	s.Require().NoError(err)
	var st workflows.ConversationState
	s.Require().NoError(v.Get(&st))
	return st
}

func assignedTo(agent, queue uint64) activities.RouteResult {
	return activities.RouteResult{Assigned: true, AgentID: agent, Queue: activities.QueueInfo{ID: queue, Name: "support", Strategy: "round_robin"}}
}

func waitingIn(queue uint64, timeout int, overflow uint64) activities.RouteResult {
	return activities.RouteResult{Queue: activities.QueueInfo{ID: queue, Name: "support", Strategy: "round_robin", TimeoutSeconds: timeout, OverflowQueueID: overflow}}
}

func (s *ConversationSuite) TestDedupesRedeliveriesAndOpensOneInteraction() {
	s.db.routeResults = []activities.RouteResult{assignedTo(5, 2)}
	for i := 0; i < 5; i++ {
		s.signalAt(time.Second, workflows.InboundSignalName, msg("m1", 0))
	}
	s.signalAt(2*time.Second, workflows.InboundSignalName, msg("m2", time.Second))
	s.signalAt(3*time.Second, workflows.InboundSignalName, msg("m1", 0))
	s.env.RegisterDelayedCallback(func() {
		st := s.state()
		s.Equal([]string{"m1", "m2"}, st.Seen)
		s.Equal(5, st.Duplicates)
		s.Require().NotNil(st.Interaction)
		s.Equal("assigned", st.Interaction.Status)
		s.EqualValues(5, st.Interaction.AgentID)
		s.EqualValues(2, st.Interaction.QueueID)
	}, 4*time.Second)
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, input())
	s.True(s.env.IsWorkflowCompleted(), "completes after idle timeout")
	s.NoError(s.env.GetWorkflowError())
	s.Equal([]string{"m1", "m2"}, s.db.stored)
	s.Equal(1, s.db.interactions)
	s.Require().Len(s.db.notified, 1)
	s.Empty(s.db.notified[0].AgentIDs, "interaction.assigned to the assigned agent")
	s.Require().Len(s.db.closed, 1, "auto-closed after inactivity")
	s.Equal("inactivity", s.db.closed[0].Reason)
}

// storedIn is a message the API already stored in interaction id.
func storedIn(id string, offset time.Duration, interaction uint64) workflows.InboundSignal {
	m := msg(id, offset)
	m.StoredIn = interaction
	return m
}

// TestMessagesStoredByTheAPICostNoActivity: a message the API stored in the
// open interaction is only taken note of, and the inactivity timer armed at
// the first message is not replaced per message but re-checked when it
// fires.
func (s *ConversationSuite) TestMessagesStoredByTheAPICostNoActivity() {
	s.db.routeResults = []activities.RouteResult{assignedTo(5, 2)}
	s.signalAt(time.Second, workflows.InboundSignalName, msg("m1", 0))
	s.signalAt(10*time.Minute, workflows.InboundSignalName, storedIn("m2", 10*time.Minute, 101))
	s.signalAt(20*time.Minute, workflows.InboundSignalName, storedIn("m3", 20*time.Minute, 101))
	s.signalAt(21*time.Minute, workflows.InboundSignalName, storedIn("m3", 20*time.Minute, 101))
	s.env.RegisterDelayedCallback(func() {
		st := s.state()
		s.Require().NotNil(st.Interaction, "open 59 min after the last message, past the first message's deadline")
		s.Equal(3, st.MessagesTotal)
		s.Equal(1, st.Duplicates)
		s.Equal(t0.Add(20*time.Minute), st.LastInboundAt, "the reply window follows noted messages")
	}, 79*time.Minute)
	s.env.RegisterDelayedCallback(func() {
		s.Nil(s.state().Interaction, "closed an hour after the last message")
	}, 81*time.Minute)
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, input())
	s.NoError(s.env.GetWorkflowError())
	s.Equal([][]string{{"m1"}}, s.db.batches, "only the opening message goes through IngestInbound")
	s.Require().Len(s.db.closed, 1)
	s.Equal("inactivity", s.db.closed[0].Reason)
}

// TestTheDatabaseHasTheLastWordOnInactivity: a message stored by the API
// whose signal never came keeps the interaction open.
func (s *ConversationSuite) TestTheDatabaseHasTheLastWordOnInactivity() {
	s.db.routeResults = []activities.RouteResult{assignedTo(5, 2)}
	s.db.storedAt = s.env.Now().Add(90 * time.Minute)
	s.signalAt(time.Second, workflows.InboundSignalName, msg("m1", 0))
	s.env.RegisterDelayedCallback(func() {
		s.NotNil(s.state().Interaction, "the database reported a message at 90 min")
	}, 149*time.Minute)
	s.env.RegisterDelayedCallback(func() {
		s.Nil(s.state().Interaction, "closed an hour after the database's last message")
	}, 151*time.Minute)
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, input())
	s.NoError(s.env.GetWorkflowError())
	s.Len(s.db.closed, 1)
}

// TestReclaimsAMessageStoredInAClosedInteraction: the API stored a message
// in the interaction just before the workflow closed it; the workflow learns
// of it after the close and opens a new interaction with it.
func (s *ConversationSuite) TestReclaimsAMessageStoredInAClosedInteraction() {
	s.db.routeResults = []activities.RouteResult{assignedTo(5, 2)}
	s.signalAt(time.Second, workflows.InboundSignalName, msg("m1", 0))
	s.signalAt(90*time.Minute, workflows.InboundSignalName, storedIn("m2", time.Hour, 101))
	s.env.RegisterDelayedCallback(func() {
		st := s.state()
		s.Require().NotNil(st.Interaction)
		s.EqualValues(102, st.Interaction.ID)
	}, 91*time.Minute)
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, input())
	s.NoError(s.env.GetWorkflowError())
	s.Equal([][]string{{"m2"}}, s.db.reclaims)
	s.Equal(2, s.db.interactions)
}

func (s *ConversationSuite) TestWaitsForAnAgentThenAssignsOnNudge() {
	s.db.routeResults = []activities.RouteResult{waitingIn(2, 0, 0), assignedTo(9, 2)}
	s.signalAt(time.Second, workflows.InboundSignalName, msg("m1", 0))
	s.env.RegisterDelayedCallback(func() {
		st := s.state()
		s.Equal("queued", st.Interaction.Status)
		s.EqualValues(2, st.Interaction.QueueID)
		s.env.SignalWorkflow(workflows.RoutingNudgeSignalName, nil)
	}, 10*time.Second)
	s.env.RegisterDelayedCallback(func() {
		st := s.state()
		s.Equal("assigned", st.Interaction.Status)
		s.EqualValues(9, st.Interaction.AgentID)
	}, 11*time.Second)
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, input())
	s.NoError(s.env.GetWorkflowError())
	s.Len(s.db.routes, 2, "one attempt at open, one on the nudge (before the periodic recheck)")
	s.EqualValues(2, s.db.routes[1].QueueID, "routing stays in the queue it waits in")
}

func (s *ConversationSuite) TestPeriodicRecheckAssignsWithoutNudge() {
	s.db.routeResults = []activities.RouteResult{waitingIn(2, 0, 0), waitingIn(2, 0, 0), assignedTo(3, 2)}
	s.signalAt(time.Second, workflows.InboundSignalName, msg("m1", 0))
	s.env.RegisterDelayedCallback(func() {
		s.Equal("assigned", s.state().Interaction.Status)
	}, 3*time.Minute)
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, input())
	s.NoError(s.env.GetWorkflowError())
	s.GreaterOrEqual(len(s.db.routes), 3)
}

func (s *ConversationSuite) TestQueueTimeoutOverflowsOnceThenStaysQueued() {
	// Queue 2 times out after 60s into queue 3, which overflows back to 2.
	s.db.routeResults = []activities.RouteResult{waitingIn(2, 60, 3), waitingIn(3, 60, 2)}
	s.signalAt(time.Second, workflows.InboundSignalName, msg("m1", 0))
	s.env.RegisterDelayedCallback(func() {
		st := s.state()
		s.Equal("queued", st.Interaction.Status)
		s.EqualValues(3, st.Interaction.QueueID, "overflowed to queue 3")
		s.Equal([]uint64{2, 3}, st.Interaction.Visited, "no cycle back to 2")
	}, 5*time.Minute)
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, input())
	s.NoError(s.env.GetWorkflowError())
	s.Equal([]activities.MoveToQueueInput{{InteractionID: 101, QueueID: 3, Reason: activities.MoveOverflow}}, s.db.moved)
}

func (s *ConversationSuite) TestCloseWithDispositionThenNewMessageOpensNewInteraction() {
	s.db.routeResults = []activities.RouteResult{assignedTo(5, 2)}
	s.signalAt(time.Second, workflows.InboundSignalName, msg("m1", 0))
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(workflows.CloseUpdateName, "close-1", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { s.Fail("rejected", err.Error()) },
			OnComplete: func(v any, err error) {
				s.NoError(err)
				view := v.(workflows.InteractionView)
				s.Equal("closed", view.Status)
				s.Equal("Solved", view.Disposition)
			},
		}, workflows.CloseRequest{InteractionID: 101, Disposition: "Solved", By: "agent:5"})
	}, 5*time.Second)
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(workflows.CloseUpdateName, "close-2", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { s.Contains(err.Error(), "not open") },
			OnAccept:   func() { s.Fail("closing a closed interaction must be rejected") },
			OnComplete: func(any, error) {},
		}, workflows.CloseRequest{InteractionID: 101})
	}, 6*time.Second)
	s.signalAt(10*time.Second, workflows.InboundSignalName, msg("m2", 10*time.Second))
	s.env.RegisterDelayedCallback(func() {
		st := s.state()
		s.Require().NotNil(st.Interaction)
		s.EqualValues(102, st.Interaction.ID, "a new interaction in the same workflow")
		s.Equal(2, st.Interactions)
	}, 11*time.Second)
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, input())
	s.NoError(s.env.GetWorkflowError())
	s.Require().NotEmpty(s.db.closed)
	s.Equal(activities.CloseInteractionInput{InteractionID: 101, Disposition: "Solved", Reason: "agent"}, s.db.closed[0])
}

func (s *ConversationSuite) TestTransferToAgentAndToQueue() {
	s.db.routeResults = []activities.RouteResult{assignedTo(5, 2), waitingIn(4, 0, 0)}
	s.signalAt(time.Second, workflows.InboundSignalName, msg("m1", 0))
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(workflows.TransferUpdateName, "t1", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { s.Fail("rejected", err.Error()) },
			OnComplete: func(v any, err error) {
				s.NoError(err)
				s.EqualValues(8, v.(workflows.InteractionView).AgentID)
			},
		}, workflows.TransferRequest{InteractionID: 101, AgentID: 8, By: "agent:5"})
	}, 2*time.Second)
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(workflows.TransferUpdateName, "t2", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { s.Fail("rejected", err.Error()) },
			OnComplete: func(v any, err error) {
				s.NoError(err)
				view := v.(workflows.InteractionView)
				s.Equal("queued", view.Status)
				s.EqualValues(4, view.QueueID)
			},
		}, workflows.TransferRequest{InteractionID: 101, QueueID: 4})
	}, 3*time.Second)
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(workflows.TransferUpdateName, "t3", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { s.Contains(err.Error(), "exactly one") },
			OnAccept:   func() { s.Fail("a transfer with both targets must be rejected") },
			OnComplete: func(any, error) {},
		}, workflows.TransferRequest{InteractionID: 101, QueueID: 4, AgentID: 1})
	}, 4*time.Second)
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, input())
	s.NoError(s.env.GetWorkflowError())
	s.Equal([]activities.AssignToAgentInput{{InteractionID: 101, AccountID: 1, AgentID: 8, Transfer: true}}, s.db.assigned)
	s.Equal([]activities.MoveToQueueInput{{InteractionID: 101, QueueID: 4, Reason: activities.MoveTransfer}}, s.db.moved)
}

func (s *ConversationSuite) TestTransferToIneligibleAgentFailsTheUpdate() {
	s.db.routeResults = []activities.RouteResult{assignedTo(5, 2)}
	s.db.assignErr = temporal.NewNonRetryableApplicationError("agent 8 has not enabled account 1", activities.ErrTypeNotEligible, nil)
	s.signalAt(time.Second, workflows.InboundSignalName, msg("m1", 0))
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(workflows.TransferUpdateName, "t1", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { s.Fail("rejected", err.Error()) },
			OnComplete: func(_ any, err error) {
				s.Require().Error(err)
				s.Contains(err.Error(), "has not enabled")
			},
		}, workflows.TransferRequest{InteractionID: 101, AgentID: 8})
	}, 2*time.Second)
	s.env.RegisterDelayedCallback(func() {
		st := s.state()
		s.EqualValues(5, st.Interaction.AgentID, "still with the first agent")
	}, 3*time.Second)
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, input())
	s.NoError(s.env.GetWorkflowError())
}

func (s *ConversationSuite) TestRingAllOffersThenFirstAcceptWins() {
	s.db.routeResults = []activities.RouteResult{{Queue: activities.QueueInfo{ID: 2, Strategy: "ring_all"}, Offered: []uint64{5, 6}}}
	s.signalAt(time.Second, workflows.InboundSignalName, msg("m1", 0))
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(workflows.AcceptUpdateName, "a7", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { s.Contains(err.Error(), "not offered") },
			OnAccept:   func() { s.Fail("agent 7 was not offered the interaction") },
			OnComplete: func(any, error) {},
		}, workflows.AcceptRequest{InteractionID: 101, AgentID: 7})
		s.env.UpdateWorkflow(workflows.AcceptUpdateName, "a6", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { s.Fail("rejected", err.Error()) },
			OnComplete: func(v any, err error) { s.NoError(err); s.EqualValues(6, v.(workflows.InteractionView).AgentID) },
		}, workflows.AcceptRequest{InteractionID: 101, AgentID: 6})
	}, 2*time.Second)
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(workflows.AcceptUpdateName, "a5", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { s.Contains(err.Error(), "already assigned") },
			OnAccept:   func() { s.Fail("second acceptance must be rejected") },
			OnComplete: func(any, error) {},
		}, workflows.AcceptRequest{InteractionID: 101, AgentID: 5})
	}, 3*time.Second)
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, input())
	s.NoError(s.env.GetWorkflowError())
	s.Require().NotEmpty(s.db.notified)
	s.Equal([]uint64{5, 6}, s.db.notified[0].AgentIDs, "offered to every eligible agent")
	last := s.db.notified[len(s.db.notified)-1]
	s.Empty(last.AgentIDs, "the acceptor gets interaction.assigned")
	s.Equal([]uint64{5}, last.Withdrawn, "the other offered agent is told the offer is void")
	s.Equal([]activities.AssignToAgentInput{{InteractionID: 101, AccountID: 1, AgentID: 6, QueueID: 2}}, s.db.assigned)
}

func (s *ConversationSuite) TestDeliveryReportsAreApplied() {
	s.signalAt(time.Second, workflows.DeliverySignalName, workflows.DeliverySignal{DeliveryReport: activities.DeliveryReport{MessageID: "out-1", Status: "DELIVERED"}})
	s.signalAt(2*time.Second, workflows.DeliverySignalName, workflows.DeliverySignal{DeliveryReport: activities.DeliveryReport{MessageID: "out-1", Status: "FAILED", ReasonCode: "RATE_LIMITED"}})
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, input())
	s.NoError(s.env.GetWorkflowError())
	s.Require().Len(s.db.deliveries, 2)
	s.Equal("RATE_LIMITED", s.db.deliveries[1].ReasonCode)
	s.EqualValues(1, s.db.deliveries[0].AccountID)
}

func (s *ConversationSuite) TestContinueAsNewCarriesDedupState() {
	s.db.routeResults = []activities.RouteResult{assignedTo(5, 2)}
	in := input()
	in.MaxHistoryEvents = 5000
	for i := 0; i < 30; i++ {
		s.signalAt(time.Duration(i+1)*time.Second, workflows.InboundSignalName, msg(fmt.Sprintf("m%02d", i), time.Duration(i)*time.Second))
	}
	// The server suggests continue-as-new once history grows large.
	s.env.RegisterDelayedCallback(func() { s.env.SetCurrentHistoryLength(6000) }, 10500*time.Millisecond)
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, in)
	s.True(s.env.IsWorkflowCompleted())
	err := s.env.GetWorkflowError()
	s.Require().Error(err)
	var can *workflow.ContinueAsNewError
	s.Require().ErrorAs(err, &can, "history limit reached: continue-as-new")
	var next workflows.ConversationInput
	s.Require().NoError(converterDecode(can, &next))
	s.Require().NotNil(next.State)
	// m10 arrives in the workflow task that notices the suggestion.
	s.Equal([]string{"m00", "m01", "m02", "m03", "m04", "m05", "m06", "m07", "m08", "m09", "m10"}, next.State.Seen)
	s.Require().NotNil(next.State.Interaction, "the open interaction is carried over")
	s.EqualValues(101, next.State.Interaction.ID)
	s.Equal(5000, next.MaxHistoryEvents, "settings are carried over")
}

func (s *ConversationSuite) TestDedupWindowIsBounded() {
	s.db.routeResults = []activities.RouteResult{assignedTo(5, 2)}
	in := input()
	in.DedupWindow = 3
	for i := 0; i < 5; i++ {
		s.signalAt(time.Duration(i+1)*time.Second, workflows.InboundSignalName, msg(fmt.Sprintf("m%d", i), time.Duration(i)*time.Second))
	}
	s.env.RegisterDelayedCallback(func() {
		s.Equal([]string{"m2", "m3", "m4"}, s.state().Seen)
	}, 10*time.Second)
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, in)
	s.NoError(s.env.GetWorkflowError())
}

// converterDecode decodes the input of a continue-as-new error.
func converterDecode(can *workflow.ContinueAsNewError, out any) error {
	return converter.GetDefaultDataConverter().FromPayloads(can.Input, out)
}
