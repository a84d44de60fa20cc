package faults

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/apiclient"
	"github.com/xcally-connector/connector/internal/sleep"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinch/emulator"
)

// faultCase is one scenario of the suite.
type faultCase struct {
	name string
	// unit says what sent and stored count.
	unit string
	run  func(ctx context.Context, s *stack, r *Result) error
	// emulator configures the case's Sinch emulator.
	emulator emulator.Options
}

const (
	unitInbound = "customer messages sent vs stored in messages"
	unitReplies = "replies requested vs messages at the emulator's customer"
)

// cases is every case, in the order Run runs them.
var cases = []faultCase{
	{name: "duplicates", unit: unitInbound, run: runDuplicates},
	{name: "worker-kill", unit: unitInbound, run: runWorkerKill},
	{name: "engine-stop", unit: unitInbound, run: runEngineStop},
	{name: "db-cut", unit: unitInbound, run: runDBCut},
	// Delivery reports bring a message's Sinch id too: held back past the
	// send's retry, they leave Sinch's message list as the only way the
	// retried send can learn that the message was taken.
	{name: "reply-kill", unit: unitReplies, run: runReplyKill, emulator: emulator.Options{
		DeliveryDelays: [3]time.Duration{reportDelay, reportDelay + 100*time.Millisecond, reportDelay + 200*time.Millisecond}}},
}

// reportDelay holds reply-kill's delivery reports back: longer than the
// send activity's StartToCloseTimeout (45 s) plus its first retry.
const reportDelay = 2 * time.Minute

// Load shape of the inbound cases.
const (
	// duplicateCopies is how many times duplicates delivers each webhook,
	// from duplicateConcurrency goroutines.
	duplicateCopies      = 10
	duplicateConcurrency = 16
	loadAgents           = 4
)

// configureInbound sets the account up with agents enough for every
// conversation of an n-message load.
func (s *stack) configureInbound(ctx context.Context, n int) error {
	capacity := min(contactsFor(n)/loadAgents+1, 100)
	_, err := s.configure(ctx, loadAgents, capacity)
	return err
}

// runDuplicates delivers every webhook duplicateCopies times, shuffled
// (copyOrder) and posted concurrently, each copy signed on its own
// (distinct nonces), so copies of one message race each other and the
// messages of one customer arrive out of order.
func runDuplicates(ctx context.Context, s *stack, r *Result) error {
	n := s.opts.Messages
	if err := s.configureInbound(ctx, n); err != nil {
		return err
	}
	contacts := contactsFor(n)
	sent := make([]message, n)
	bodies := make([][]byte, n)
	at := time.Now()
	for i := range n {
		from := contactIdentity("3936", i%contacts)
		sent[i] = message{id: fmt.Sprintf("01FAULTDUP%010d", i), text: fmt.Sprintf("duplicates: message %d of %d from %s", i+1, n, from)}
		bodies[i] = inboundCallback(sent[i], from, at.Add(time.Duration(i)*time.Millisecond))
	}
	s.progress("posting %d signed webhooks: %d messages × %d copies, shuffled, %d in flight", n*duplicateCopies, n, duplicateCopies, duplicateConcurrency)
	start := time.Now()
	s.counting(func(ctx context.Context) (tally, error) { return s.countInbound(ctx, sent) })
	var got answers
	racing, err := s.deliverCopies(ctx, fmt.Sprintf("dup%d", start.UnixNano()), bodies, duplicateCopies, duplicateConcurrency, &got)
	r.note("%d messages × %d copies posted in %s (%d in flight, up to %d copies of one message at once); the webhook answered %s",
		n, duplicateCopies, time.Since(start).Round(100*time.Millisecond), duplicateConcurrency, racing, got.String())
	if err != nil {
		return err
	}
	s.progress("every copy answered 200; waiting until every message is stored")
	t, err := s.convergeInbound(ctx, sent, false)
	r.set(t, time.Since(start))
	return err
}

// runWorkerKill kills the worker process with SIGKILL once half of the
// load was made (its activities in flight are lost to Temporal, which
// retries them on the next worker), keeps it dead for the outage while the
// load goes on, and starts a new worker process.
func runWorkerKill(ctx context.Context, s *stack, r *Result) error {
	n := s.opts.Messages
	if err := s.configureInbound(ctx, n); err != nil {
		return err
	}
	s.progress("load of %d messages at %.0f/s through the emulator", n, s.opts.Rate)
	start := time.Now()
	l := s.startLoad(ctx, "worker-kill", n, steady(s.opts.Rate))
	if err := l.waitSent(ctx, n/2); err != nil {
		return err
	}
	before, err := s.countInbound(ctx, l.messages())
	if err != nil {
		return err
	}
	if err := s.worker.kill(); err != nil {
		return err
	}
	s.progress("worker killed (SIGKILL) with %d sent, %d stored", before.Sent, before.Stored)
	r.note("worker process killed with SIGKILL when %d messages were sent and %d stored", before.Sent, before.Stored)
	if !sleep.For(ctx, s.opts.Outage) {
		return ctx.Err()
	}
	if err := s.worker.start(); err != nil {
		return err
	}
	back, err := s.waitWorker(ctx)
	if err != nil {
		return fmt.Errorf("the restarted worker: %w", err)
	}
	r.note("a new worker process started after %s; it answered the diagnostics workflow %s later", s.opts.Outage, back.Round(100*time.Millisecond))
	return s.finishLoad(ctx, r, l, start, false)
}

// runEngineStop stops the embedded Temporal engine once a third of the
// load was made, keeps it down for the outage (the webhook answers 503,
// the emulator retries like Sinch) and starts it again on the same port and
// file; the API and the worker must reconnect by themselves.
func runEngineStop(ctx context.Context, s *stack, r *Result) error {
	return runOutage(ctx, s, r, "engine-stop", "Temporal engine stopped", func() { s.engine.Stop() }, func() error {
		return s.startEngine(ctx, s.engineAddr)
	})
}

// runDBCut cuts the proxy between the connector (API and worker) and
// Postgres once a third of the load was made: open connections are closed
// and new ones refused for the outage, then it listens again.
func runDBCut(ctx context.Context, s *stack, r *Result) error {
	return runOutage(ctx, s, r, "db-cut", "database cut at the proxy", s.proxy.Cut, s.proxy.Restore)
}

// runOutage sends a third of the load at Rate and injects the fault as
// soon as it is sent, while the worker still has some of it to do (its
// activities meet the fault too); the other two thirds are spread over
// twice the outage, so half of them come during it and half after. Then
// it lifts the fault, checks that the API is ready and a worker answers
// again, and counts. The webhook must have answered 503 to some callbacks
// meanwhile, or the fault never reached it.
func runOutage(ctx context.Context, s *stack, r *Result, name, what string, inject func(), lift func() error) error {
	n := s.opts.Messages
	if err := s.configureInbound(ctx, n); err != nil {
		return err
	}
	head := n / 3
	s.progress("load of %d messages: %d at %.0f/s, then %d over %s, through the emulator", n, head, s.opts.Rate, n-head, 2*s.opts.Outage)
	start := time.Now()
	l := s.startLoad(ctx, name, n, burstThenSpread(n, head, s.opts.Rate, 2*s.opts.Outage))
	if err := l.waitSent(ctx, head); err != nil {
		return err
	}
	before, err := s.countInbound(ctx, l.messages())
	if err != nil {
		return err
	}
	sentAt := len(l.messages())
	down := time.Now()
	inject()
	s.progress("%s with %d messages sent, %d stored", what, before.Sent, before.Stored)
	if !sleep.For(ctx, s.opts.Outage) {
		return ctx.Err()
	}
	if err := lift(); err != nil {
		return err
	}
	outage := time.Since(down)
	made := len(l.messages()) - sentAt
	s.progress("fault lifted after %s", outage.Round(100*time.Millisecond))
	ready, err := s.waitReady(ctx)
	if err != nil {
		return fmt.Errorf("the API after the outage: %w", err)
	}
	worker, err := s.waitWorker(ctx)
	if err != nil {
		return fmt.Errorf("the worker after the outage: %w", err)
	}
	r.note("%s for %s when %d messages were sent and %d stored; %d more were made meanwhile",
		what, outage.Round(100*time.Millisecond), before.Sent, before.Stored, made)
	r.note("after the outage the API was ready in %s and the worker answered the diagnostics workflow %s later",
		ready.Round(100*time.Millisecond), worker.Round(100*time.Millisecond))
	if err := s.finishLoad(ctx, r, l, start, true); err != nil {
		return err
	}
	if cb := s.callbacks(l.messages()); cb.Refused == 0 {
		return errors.New("no callback was answered 503 during the outage: the fault never reached the webhook")
	}
	return nil
}

// finishLoad waits for the rest of the load and for convergence, and
// records the count with the emulator's callback answers.
func (s *stack) finishLoad(ctx context.Context, r *Result, l *load, start time.Time, outage bool) error {
	if err := l.wait(ctx); err != nil {
		return err
	}
	s.progress("load sent; waiting until every message is stored")
	t, err := s.convergeInbound(ctx, l.messages(), true)
	r.set(t, time.Since(start))
	cb := s.callbacks(l.messages())
	r.note("%s", cb)
	if !outage && cb.Refused > 0 {
		r.note("%d callbacks were answered 503 although Temporal and the database were up", cb.Refused)
	}
	return err
}

// reply is one agent reply of reply-kill.
type reply struct {
	interaction uint64
	customer    string
	text        string
	id          uint64
}

// replyKillDowntime is how long reply-kill leaves the worker dead: the
// send's lost outcome is found by the next attempt, after the activity's
// StartToCloseTimeout, whatever the downtime.
const replyKillDowntime = 2 * time.Second

// runReplyKill makes Replies customers write, then their agent replies to
// each while the emulator accepts every first reply and never answers
// (hangAfterAccept: Sinch took the message, the connector never learns its
// id). The worker is killed with SIGKILL while the sends hang and a new one
// is started; a second reply to each follows. Every reply must reach its
// customer exactly once and end in the database with the Sinch id the
// customer got and a status past pending.
func runReplyKill(ctx context.Context, s *stack, r *Result) error {
	k := s.opts.Replies
	agents, err := s.configure(ctx, 1, k)
	if err != nil {
		return err
	}
	agent := &apiclient.Client{BaseURL: s.apiURL, Token: agents[0].Token, HTTP: s.hc}
	customers := make([]string, k)
	for i := range customers {
		customers[i] = contactIdentity("3937", i)
		if _, err := s.em.SendInbound(appID, emulator.Inbound{From: customers[i], Text: "hello, I need help"}); err != nil {
			return err
		}
	}
	its, err := s.waitAssigned(ctx, customers)
	if err != nil {
		return err
	}
	for _, c := range customers {
		// A 500 first: the reply's local try (decisions §22) hands the send
		// over to the regular activity, whose call is the one that hangs.
		if err := s.em.AddFault(appID, emulator.Fault{To: c, HTTPStatus: http.StatusInternalServerError}); err != nil {
			return err
		}
		if err := s.em.AddFault(appID, emulator.Fault{To: c, HangAfterAccept: true}); err != nil {
			return err
		}
	}
	start := time.Now()
	var replies []reply
	s.counting(func(context.Context) (tally, error) {
		items, err := s.outbox()
		return tallyOf(replyMessages(replies), outboxRows(items)), err
	})
	for _, c := range customers {
		rp, err := s.postReply(ctx, agent, its[c], c, "reply-kill: first reply to "+c)
		if err != nil {
			return err
		}
		replies = append(replies, rp)
	}
	s.progress("%d replies posted; waiting until Sinch accepted them (their sends hang)", k)
	if err := s.waitOutbox(ctx, replies); err != nil {
		return fmt.Errorf("the first replies at the emulator: %w", err)
	}
	held, withID, err := s.hanging(ctx, replies)
	if err != nil {
		return err
	}
	if held != k {
		return fmt.Errorf("only %d of %d sends were held by hangAfterAccept when the worker was to be killed", held, k)
	}
	if err := s.worker.kill(); err != nil {
		return err
	}
	if withID > 0 {
		return fmt.Errorf("%d of %d hanging sends already have a Sinch id: delivery reports were not held back", withID, k)
	}
	r.note("worker process killed with SIGKILL while %d sends hung after Sinch accepted them (no Sinch id recorded; delivery reports held back %s)", k, reportDelay)
	s.progress("worker killed during %d hanging sends", k)
	if !sleep.For(ctx, replyKillDowntime) {
		return ctx.Err()
	}
	if err := s.worker.start(); err != nil {
		return err
	}
	if _, err := s.waitWorker(ctx); err != nil {
		return fmt.Errorf("the restarted worker: %w", err)
	}
	for _, c := range customers {
		rp, err := s.postReply(ctx, agent, its[c], c, "reply-kill: second reply to "+c)
		if err != nil {
			return err
		}
		replies = append(replies, rp)
	}
	r.note("a new worker started %s later; then a second reply to each customer", replyKillDowntime)
	s.progress("waiting until every reply is at its customer and recorded")
	t, err := s.convergeReplies(ctx, replies)
	r.set(t, time.Since(start))
	return err
}

// waitAssigned polls the account's assigned interactions until every
// customer has one, and returns them by customer.
func (s *stack) waitAssigned(ctx context.Context, customers []string) (map[string]uint64, error) {
	path := fmt.Sprintf("/api/interactions?accountId=%d&status=assigned&limit=500", s.account)
	for {
		var list api.InteractionList
		if err := s.admin.Do(ctx, http.MethodGet, path, nil, &list); err != nil {
			return nil, err
		}
		got := map[string]uint64{}
		for _, it := range list.Items {
			got[it.Contact.Identity] = it.ID
		}
		missing := 0
		for _, c := range customers {
			if _, ok := got[c]; !ok {
				missing++
			}
		}
		if missing == 0 {
			return got, nil
		}
		if !sleep.For(ctx, pollEvery) {
			return nil, fmt.Errorf("%d of %d customers have no assigned interaction: %w", missing, len(customers), ctx.Err())
		}
	}
}

// postReply posts an agent's reply and expects 202.
func (s *stack) postReply(ctx context.Context, agent *apiclient.Client, interaction uint64, customer, text string) (reply, error) {
	var m api.MessageResponse
	err := agent.Do(ctx, http.MethodPost, fmt.Sprintf("/api/interactions/%d/messages", interaction), map[string]string{"text": text}, &m)
	if err != nil {
		return reply{}, fmt.Errorf("reply to %s: %w", customer, err)
	}
	return reply{interaction: interaction, customer: customer, text: text, id: m.ID}, nil
}

// outbox is every message the emulator accepted for the app.
func (s *stack) outbox() ([]emulator.OutboxItem, error) { return s.em.Outbox(appID, "") }

// waitOutbox returns once every reply was accepted by the emulator.
func (s *stack) waitOutbox(ctx context.Context, replies []reply) error {
	for {
		items, err := s.outbox()
		if err != nil {
			return err
		}
		t := tallyOf(replyMessages(replies), outboxRows(items))
		if t.Lost == 0 {
			return nil
		}
		if !sleep.For(ctx, pollEvery) {
			return fmt.Errorf("%d of %d accepted: %w", t.Stored, t.Sent, ctx.Err())
		}
	}
}

func replyMessages(replies []reply) []message {
	out := make([]message, len(replies))
	for i, rp := range replies {
		out[i] = message{text: rp.text}
	}
	return out
}

func outboxRows(items []emulator.OutboxItem) []stored {
	out := make([]stored, len(items))
	for i, it := range items {
		id := it.MessageID
		out[i] = stored{ProviderMessageID: &id, Text: it.Text}
	}
	return out
}

// replyRows reads the replies' rows.
func (s *stack) replyRows(ctx context.Context, replies []reply) (map[uint64]models.Message, error) {
	ids := make([]uint64, len(replies))
	for i, rp := range replies {
		ids[i] = rp.id
	}
	var rows []models.Message
	if err := s.db.WithContext(ctx).Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make(map[uint64]models.Message, len(rows))
	for _, m := range rows {
		out[m.ID] = m
	}
	return out, nil
}

// hanging counts the replies whose send is marked as started and not
// answered (send_started_at set: the activity waits for Sinch), and how many
// of them already have a Sinch id (from a delivery report).
func (s *stack) hanging(ctx context.Context, replies []reply) (held, withID int, err error) {
	rows, err := s.replyRows(ctx, replies)
	if err != nil {
		return 0, 0, err
	}
	for _, rp := range replies {
		if m, ok := rows[rp.id]; ok && m.SendStartedAt != nil {
			held++
			if m.ProviderMessageID != nil {
				withID++
			}
		}
	}
	return held, withID, nil
}

// recordedProblems lists the replies whose row does not (yet) hold the
// Sinch id their customer got, with a status past pending.
func recordedProblems(replies []reply, rows map[uint64]models.Message, items []emulator.OutboxItem) []string {
	atCustomer := map[string]string{}
	for _, it := range items {
		atCustomer[it.Text] = it.MessageID
	}
	var out []string
	for _, rp := range replies {
		m, ok := rows[rp.id]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("reply %d has no row", rp.id))
		case m.ProviderMessageID == nil:
			out = append(out, fmt.Sprintf("reply %d (%s) has no Sinch id", rp.id, m.Status))
		case *m.ProviderMessageID != atCustomer[rp.text]:
			out = append(out, fmt.Sprintf("reply %d has Sinch id %s, its customer got %q", rp.id, *m.ProviderMessageID, atCustomer[rp.text]))
		case m.Status == models.StatusPending || m.Status == models.StatusFailed:
			out = append(out, fmt.Sprintf("reply %d is %s", rp.id, m.Status))
		}
	}
	return out
}

// convergeReplies waits until every reply is at its customer and recorded
// with its Sinch id, waits settle and counts the customer's messages again.
func (s *stack) convergeReplies(ctx context.Context, replies []reply) (tally, error) {
	var t tally
	var problems []string
	for {
		if err := s.processesAlive(); err != nil {
			return t, err
		}
		items, err := s.outbox()
		if err != nil {
			return t, err
		}
		t = tallyOf(replyMessages(replies), outboxRows(items))
		rows, err := s.replyRows(ctx, replies)
		if err == nil {
			problems = recordedProblems(replies, rows, items)
		}
		if err == nil && t.Lost == 0 && len(problems) == 0 {
			break
		}
		if !sleep.For(ctx, time.Second) {
			msg := fmt.Sprintf("not converged when the case's time ran out: %d of %d replies at the customer", t.Stored, t.Sent)
			if len(problems) > 0 {
				msg += fmt.Sprintf("; %d not recorded, e.g. %s", len(problems), problems[0])
			}
			return t, errors.New(msg)
		}
	}
	if !sleep.For(ctx, settle) {
		return t, ctx.Err()
	}
	items, err := s.outbox()
	if err != nil {
		return t, err
	}
	return tallyOf(replyMessages(replies), outboxRows(items)), nil
}
