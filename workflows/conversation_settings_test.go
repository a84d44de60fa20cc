package workflows_test

import (
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/workflows"
)

// settingsSetup adds the outbound activities (for flow replies) to the
// conversation suite and makes the account's settings those given.
func (s *ConversationSuite) settingsSetup(st activities.InteractionSettings) *fakeOutbound {
	s.env.SetStartTime(t0)
	s.db.settings = &st
	out := &fakeOutbound{}
	var a *activities.Activities
	s.env.OnActivity(a.CreateOutbound, mock.Anything, mock.Anything).Maybe().Return(out.create)
	s.env.OnActivity(a.SendOutbound, mock.Anything, mock.Anything).Maybe().Return(out.send)
	return out
}

// waitInRequestedQueue routes like a database where every queue exists and
// no agent is eligible: the interaction waits in the queue asked for. The
// queues' own timeout (999 s, overflow to 9) must never apply to a flow.
func waitInRequestedQueue(in activities.RouteInput) activities.RouteResult {
	return waitingIn(in.QueueID, 999, 9)
}

func (s *ConversationSuite) TestActionFlowStepsRunInOrderWithTheirWaits() {
	out := s.settingsSetup(activities.InteractionSettings{Flow: []models.FlowStep{
		{Queue: 3, Seconds: 60}, {Queue: 5, Seconds: 120}, {Reply: "All our agents are busy, we will answer soon"}, {Queue: 5},
	}})
	s.db.routeFn = waitInRequestedQueue
	s.signalAt(time.Second, workflows.InboundSignalName, msg("m1", 0))
	check := func(at time.Duration, queue uint64, next int, replies int) {
		s.env.RegisterDelayedCallback(func() {
			st := s.state()
			s.Require().NotNil(st.Interaction, "at %s", at)
			s.EqualValues(queue, st.Interaction.QueueID, "queue at %s", at)
			s.Equal(next, st.Interaction.FlowNext, "next step at %s", at)
			out.mu.Lock()
			s.Len(out.created, replies, "flow replies at %s", at)
			out.mu.Unlock()
		}, at)
	}
	check(30*time.Second, 3, 1, 0)          // step 1: queue 3 for 60 s
	check(90*time.Second, 5, 2, 0)          // step 2: queue 5 for 120 s
	check(190*time.Second, 5, 4, 1)         // step 3 replied, step 4: queue 5 until taken
	check(2*time.Hour-time.Minute, 5, 4, 1) // no timeout on the last step (the queue's 999 s is ignored)
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, workflows.ConversationInput{AccountID: 1, Channel: "WHATSAPP", Identity: "393331234567",
		InactivityTimeout: 3 * time.Hour, IdleTimeout: time.Hour, RoutingRecheck: time.Hour})
	s.NoError(s.env.GetWorkflowError())
	s.Equal([]activities.MoveToQueueInput{{InteractionID: 101, QueueID: 5, Reason: activities.MoveFlow}}, s.db.moved, "one move, 3 → 5; the last step stays in 5")
	s.Require().Len(out.created, 1)
	s.Equal("All our agents are busy, we will answer soon", out.created[0].Text)
	s.Zero(out.created[0].AgentID, "an automatic message, no agent")
	s.Equal("flow:101:2", out.created[0].ClientRef, "once per interaction and step")
	s.Require().NotEmpty(out.sends, "the reply is sent")
	s.EqualValues(3, s.db.routes[0].QueueID, "the first route goes to the flow's first queue, not the account's")
}

func (s *ConversationSuite) TestActionFlowSkipsAQueueThatIsGone() {
	s.settingsSetup(activities.InteractionSettings{Flow: []models.FlowStep{{Queue: 3, Seconds: 60}, {Queue: 5}}})
	s.db.routeFn = func(in activities.RouteInput) activities.RouteResult {
		if in.QueueID == 3 {
			return activities.RouteResult{NoQueue: true} // deleted
		}
		return assignedTo(7, in.QueueID)
	}
	s.signalAt(time.Second, workflows.InboundSignalName, msg("m1", 0))
	s.env.RegisterDelayedCallback(func() {
		st := s.state()
		s.Equal("assigned", st.Interaction.Status)
		s.EqualValues(5, st.Interaction.QueueID)
	}, 5*time.Second)
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, input())
	s.NoError(s.env.GetWorkflowError())
}

func (s *ConversationSuite) TestAccountRoutingParameters() {
	s.settingsSetup(activities.InteractionSettings{
		Strategy: "ring_all", InactivityTimeout: 10 * time.Minute, NotifyTimeout: 30 * time.Second,
		Flow: []models.FlowStep{{Queue: 3, Seconds: 600}, {Queue: 5}},
	})
	s.db.routeFn = func(in activities.RouteInput) activities.RouteResult {
		return activities.RouteResult{Queue: activities.QueueInfo{ID: in.QueueID, Strategy: "ring_all"}, Offered: []uint64{5, 6}}
	}
	s.signalAt(time.Second, workflows.InboundSignalName, msg("m1", 0))
	s.env.RegisterDelayedCallback(func() {
		s.EqualValues(3, s.state().Interaction.QueueID, "offered in queue 3")
	}, 20*time.Second)
	s.env.RegisterDelayedCallback(func() {
		s.EqualValues(5, s.state().Interaction.QueueID, "nobody accepted within the 30 s notify timeout: next step, long before the step's 600 s")
	}, 40*time.Second)
	s.env.RegisterDelayedCallback(func() {
		s.Nil(s.state().Interaction, "closed after the account's 10 min inactivity, not the conversation's hour")
	}, 11*time.Minute)
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, input())
	s.NoError(s.env.GetWorkflowError())
	s.Require().NotEmpty(s.db.routes)
	for _, r := range s.db.routes {
		s.Equal("ring_all", r.Strategy, "the account's strategy is passed to every routing attempt")
	}
	s.Require().Len(s.db.closed, 1)
	s.Equal("inactivity", s.db.closed[0].Reason)
}

func (s *ConversationSuite) TestTransferNotAcceptedInTimeReturnsToTheQueue() {
	s.db.routeResults = []activities.RouteResult{assignedTo(5, 2), waitingIn(2, 0, 0)}
	s.signalAt(time.Second, workflows.InboundSignalName, msg("m1", 0))
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(workflows.TransferUpdateName, "t1", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { s.Fail("rejected", err.Error()) },
			OnComplete: func(v any, err error) { s.NoError(err); s.EqualValues(8, v.(workflows.InteractionView).AgentID) },
		}, workflows.TransferRequest{InteractionID: 101, AgentID: 8, By: "agent:5", ReturnAfter: time.Minute})
	}, 2*time.Second)
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(workflows.AcceptUpdateName, "a9", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { s.Contains(err.Error(), "already assigned") },
			OnAccept:   func() { s.Fail("only the transfer's target may accept it") },
			OnComplete: func(any, error) {},
		}, workflows.AcceptRequest{InteractionID: 101, AgentID: 9})
		st := s.state()
		s.EqualValues(8, st.Interaction.AgentID)
		s.False(st.Interaction.ReturnAt.IsZero(), "waiting for agent 8 to accept")
	}, 30*time.Second)
	s.env.RegisterDelayedCallback(func() {
		st := s.state()
		s.Equal("queued", st.Interaction.Status, "agent 8 did not accept within 60 s")
		s.EqualValues(2, st.Interaction.QueueID, "back in the queue it came from")
		s.Zero(st.Interaction.AgentID)
	}, 70*time.Second)
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, input())
	s.NoError(s.env.GetWorkflowError())
	s.Equal([]activities.MoveToQueueInput{{InteractionID: 101, QueueID: 2, Reason: activities.MoveTakeBack}}, s.db.moved)
	s.GreaterOrEqual(len(s.db.routes), 2, "routed again after the return")
	var acceptBy []time.Time
	for _, n := range s.db.notified {
		if !n.AcceptBy.IsZero() {
			acceptBy = append(acceptBy, n.AcceptBy)
		}
	}
	s.Len(acceptBy, 1, "the target's interaction.assigned says by when to accept")
}

func (s *ConversationSuite) TestTransferAcceptedInTimeStays() {
	s.db.routeResults = []activities.RouteResult{assignedTo(5, 2)}
	s.signalAt(time.Second, workflows.InboundSignalName, msg("m1", 0))
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(workflows.TransferUpdateName, "t1", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { s.Fail("rejected", err.Error()) },
			OnComplete: func(_ any, err error) { s.NoError(err) },
		}, workflows.TransferRequest{InteractionID: 101, AgentID: 8, ReturnAfter: time.Minute})
	}, 2*time.Second)
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(workflows.AcceptUpdateName, "a8", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { s.Fail("rejected", err.Error()) },
			OnComplete: func(v any, err error) { s.NoError(err); s.EqualValues(8, v.(workflows.InteractionView).AgentID) },
		}, workflows.AcceptRequest{InteractionID: 101, AgentID: 8})
	}, 20*time.Second)
	s.env.RegisterDelayedCallback(func() {
		st := s.state()
		s.Equal("assigned", st.Interaction.Status)
		s.EqualValues(8, st.Interaction.AgentID, "accepted: it stays with agent 8")
		s.True(st.Interaction.ReturnAt.IsZero())
	}, 5*time.Minute)
	s.env.ExecuteWorkflow(workflows.ConversationWorkflow, input())
	s.NoError(s.env.GetWorkflowError())
	s.Empty(s.db.moved, "never taken back")
	s.Len(s.db.assigned, 1, "the acceptance changes nothing in the database")
}
