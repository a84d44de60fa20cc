package faults

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xcally-connector/connector/internal/sleep"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/sinch/emulator"
)

// settle is how long a converged case waits before its final count, so a
// late duplicate (a signal or an activity still queued) is counted.
const settle = 5 * time.Second

// message is one customer message (or reply) of a case: its Sinch id when
// known, and a text no other message of the run has.
type message struct {
	id, text string
}

// perContact is how many messages each customer of a load sends.
const perContact = 10

// contactsFor is the number of customers sharing n messages: a new
// conversation for every perContact messages, so a load both opens
// conversations and writes into open ones.
func contactsFor(n int) int { return max(1, n/perContact) }

func contactIdentity(prefix string, i int) string { return fmt.Sprintf("%s%07d", prefix, i) }

// load makes customers write through the emulator (as POST
// /emulator/apps/{appId}/inbound does), on a schedule, in the
// background. Each message is a MESSAGE_INBOUND callback the emulator posts
// to the webhook and retries, like Sinch, until it is answered 2xx.
type load struct {
	total int

	mu   sync.Mutex
	sent []message
	err  error
	done chan struct{}
}

// schedule gives the time of message i from the start of a load.
type schedule func(i int) time.Duration

// steady sends rate messages per second.
func steady(rate float64) schedule {
	return func(i int) time.Duration { return time.Duration(float64(i) / rate * float64(time.Second)) }
}

// burstThenSpread sends the first head messages at rate, then spreads the
// rest of n evenly over span.
func burstThenSpread(n, head int, rate float64, span time.Duration) schedule {
	burst := steady(rate)
	return func(i int) time.Duration {
		if i < head {
			return burst(i)
		}
		return burst(head) + time.Duration(float64(i-head)/float64(n-head)*float64(span))
	}
}

// startLoad sends n messages from contactsFor(n) customers, round robin, on
// schedule at.
func (s *stack) startLoad(ctx context.Context, name string, n int, at schedule) *load {
	l := &load{total: n, done: make(chan struct{})}
	s.counting(func(ctx context.Context) (tally, error) { return s.countInbound(ctx, l.messages()) })
	contacts := contactsFor(n)
	go func() {
		defer close(l.done)
		start := time.Now()
		for i := range n {
			if !sleep.For(ctx, time.Until(start.Add(at(i)))) {
				l.fail(ctx.Err())
				return
			}
			from := contactIdentity("3935", i%contacts)
			text := fmt.Sprintf("%s: message %d of %d from %s", name, i+1, n, from)
			id, err := s.em.SendInbound(appID, emulator.Inbound{From: from, Text: text})
			if err != nil {
				l.fail(fmt.Errorf("emulator inbound %d: %w", i, err))
				return
			}
			l.mu.Lock()
			l.sent = append(l.sent, message{id: id, text: text})
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *load) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.err = err
}

// messages is a copy of what was sent so far.
func (l *load) messages() []message {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.sent)
}

// waitSent returns once at least k messages were sent.
func (l *load) waitSent(ctx context.Context, k int) error {
	for {
		l.mu.Lock()
		n, err := len(l.sent), l.err
		l.mu.Unlock()
		switch {
		case n >= k:
			return nil
		case err != nil:
			return err
		}
		select {
		case <-l.done:
			return fmt.Errorf("the load ended after %d of %d messages", n, k)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// wait returns once every message was sent.
func (l *load) wait(ctx context.Context) error {
	select {
	case <-l.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// tally is what a case counts.
type tally struct {
	// Sent is how many messages were handed to the connector.
	Sent int
	// Stored is how many of them are stored (at least once).
	Stored int
	// Lost is Sent − Stored.
	Lost int
	// Duplicated is how many of them are stored more than once.
	Duplicated int
	// Unexpected counts stored rows that match no sent message.
	Unexpected int
}

// stored is one stored row: a message's Sinch id (nil while unknown) and
// its text.
type stored struct {
	ProviderMessageID *string
	Text              string
}

// tallyOf matches stored rows to the sent messages. A row matches a
// message by Sinch id or, failing that, by text (each text is unique in a
// run), so a copy stored under another id, or none, still counts as a
// duplicate; the unique index on (account, Sinch id) cannot hide it.
func tallyOf(sent []message, rows []stored) tally {
	byID := make(map[string]int, len(sent))
	byText := make(map[string]int, len(sent))
	for i, m := range sent {
		if m.id != "" {
			byID[m.id] = i
		}
		byText[m.text] = i
	}
	copies := make([]int, len(sent))
	t := tally{Sent: len(sent)}
	for _, r := range rows {
		i, ok := -1, false
		if r.ProviderMessageID != nil {
			i, ok = byID[*r.ProviderMessageID]
		}
		if !ok {
			i, ok = byText[r.Text]
		}
		if !ok {
			t.Unexpected++
			continue
		}
		copies[i]++
	}
	for _, c := range copies {
		if c > 0 {
			t.Stored++
		}
		if c > 1 {
			t.Duplicated++
		}
	}
	t.Lost = t.Sent - t.Stored
	return t
}

// inboundRows reads every inbound message stored for the case's account.
func (s *stack) inboundRows(ctx context.Context) ([]stored, error) {
	var rows []stored
	err := s.db.WithContext(ctx).Model(&models.Message{}).Select("provider_message_id", "text").
		Where("account_id = ? AND direction = ?", s.account, models.DirectionInbound).Scan(&rows).Error
	return rows, err
}

// countInbound tallies the sent messages against the stored ones.
func (s *stack) countInbound(ctx context.Context, sent []message) (tally, error) {
	rows, err := s.inboundRows(ctx)
	if err != nil {
		return tally{}, err
	}
	return tallyOf(sent, rows), nil
}

// callbackStats summarises the emulator's MESSAGE_INBOUND callbacks of the
// sent messages: how many are still unanswered (no 2xx yet: in flight or
// waiting for a retry), how many the emulator gave up, and every answer
// by status ("no answer" for timeouts and refused connections).
type callbackStats struct {
	Pending  int
	GivenUp  int
	Answers  map[string]int
	Refused  int // attempts answered 503
	Attempts int
}

func (s *stack) callbacks(sent []message) callbackStats {
	st := callbackStats{Answers: map[string]int{}}
	last := map[string]emulator.Attempt{}
	for _, a := range s.em.CallbackAttempts(appID) {
		if a.Trigger != sinch.TriggerMessageInbound {
			continue
		}
		st.Attempts++
		key := strconv.Itoa(a.StatusCode)
		if a.StatusCode == 0 {
			key = "no answer"
		}
		st.Answers[key]++
		if a.StatusCode == 503 {
			st.Refused++
		}
		last[a.MessageID] = a // attempts of one callback end one after the other
	}
	retries := len(emulator.DefaultRetrySchedule)
	for _, m := range sent {
		a, ok := last[m.id]
		switch {
		case ok && a.StatusCode >= 200 && a.StatusCode < 300:
		case ok && a.Number > retries:
			st.GivenUp++
		default:
			st.Pending++
		}
	}
	return st
}

// String lists the answers, most frequent first.
func (c callbackStats) String() string {
	keys := slices.Collect(maps.Keys(c.Answers))
	slices.SortFunc(keys, func(a, b string) int { return c.Answers[b] - c.Answers[a] })
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s×%d", k, c.Answers[k]))
	}
	return fmt.Sprintf("%d callback attempts answered %s", c.Attempts, strings.Join(parts, ", "))
}

// convergeInbound waits until every sent message is stored and, for
// emulator loads, every callback was answered 2xx; then it waits settle and
// counts once more. When ctx ends first the last count is returned with an
// error.
func (s *stack) convergeInbound(ctx context.Context, sent []message, viaEmulator bool) (tally, error) {
	var t tally
	var err error
	for {
		if perr := s.processesAlive(); perr != nil {
			return t, perr
		}
		t, err = s.countInbound(ctx, sent)
		done := err == nil && t.Lost == 0
		if done && viaEmulator {
			cb := s.callbacks(sent)
			done = cb.Pending == 0 && cb.GivenUp == 0
		}
		if done {
			break
		}
		if !sleep.For(ctx, time.Second) {
			return s.finalCount(sent, t), s.notConverged(ctx, t, err, sent, viaEmulator)
		}
	}
	if !sleep.For(ctx, settle) {
		return s.finalCount(sent, t), ctx.Err()
	}
	t, err = s.countInbound(ctx, sent)
	return t, err
}

// finalCount counts once more outside the case's (ended) context.
func (s *stack) finalCount(sent []message, last tally) tally {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if t, err := s.countInbound(ctx, sent); err == nil {
		return t
	}
	return last
}

func (s *stack) notConverged(ctx context.Context, t tally, countErr error, sent []message, viaEmulator bool) error {
	msg := fmt.Sprintf("not converged when the case's time ran out (%v): %d of %d stored", ctx.Err(), t.Stored, t.Sent)
	if countErr != nil {
		msg += fmt.Sprintf(" (last count failed: %v)", countErr)
	}
	if viaEmulator {
		cb := s.callbacks(sent)
		msg += fmt.Sprintf("; callbacks still unanswered %d, given up by the emulator %d", cb.Pending, cb.GivenUp)
	}
	return fmt.Errorf("%s", msg)
}

// processesAlive fails when the API or the worker exited by itself.
func (s *stack) processesAlive() error {
	if err := s.api.alive(); err != nil {
		return err
	}
	return s.worker.alive()
}
