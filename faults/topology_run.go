package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/internal/sleep"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/workflows"
)

// Pauses of the topology run: how long a killed process stays dead, and
// the pace of the agent's replies.
const (
	engineDown = 10 * time.Second
	workerDown = 3 * time.Second
	apiDown    = 3 * time.Second
	replyEvery = 50 * time.Millisecond
)

// run drives the load and the kills, then counts.
func (t *topology) run(ctx context.Context, opts TopologyOptions, res *TopologyResult) error {
	s := t.stack
	n := opts.Messages
	conversations := contactsFor(n)
	// Agents take at most 100 conversations each.
	agents, err := s.configure(ctx, (conversations+89)/90, 100)
	if err != nil {
		return err
	}
	tokens := map[uint64]string{}
	for _, a := range agents {
		tokens[a.ID] = a.Token
	}
	res.DatabaseBytesBefore = t.databaseSizes(ctx)
	t.workBefore = t.databaseWork(ctx)
	start := time.Now()
	load := s.startLoad(ctx, "topology", n, steady(opts.Rate))
	t.progress("%d messages from %d customers at %.0f/s through both APIs", n, conversations, opts.Rate)

	// A fifth in: one engine process dies; its shards and task queues move
	// to the other, and it comes back.
	if err := load.waitSent(ctx, n/5); err != nil {
		return err
	}
	if !opts.NoKills {
		if err := t.killAndRestart(ctx, res, "engine process 1", t.engines[0], engineDown, func(ctx context.Context) error { return t.waitEngine(ctx, 0) }); err != nil {
			return err
		}
	}

	// Half in, every customer has written: one reply to each, while a
	// worker dies during the sends.
	if err := load.waitSent(ctx, n/2); err != nil {
		return err
	}
	customers := make([]string, conversations)
	for i := range customers {
		customers[i] = contactIdentity("3935", i)
	}
	its, err := s.waitAssigned(ctx, customers)
	if err != nil {
		return err
	}
	agentOf, err := t.agentsOf(ctx, its)
	if err != nil {
		return err
	}
	var replies []reply
	var replyErr error
	var mu sync.Mutex
	posted := make(chan int, len(customers))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(posted)
		for i, c := range customers {
			rp, err := t.postReply(ctx, tokens[agentOf[its[c]]], its[c], c, fmt.Sprintf("topology: the reply to %s", c))
			mu.Lock()
			if err != nil {
				replyErr = err
				mu.Unlock()
				return
			}
			replies = append(replies, rp)
			mu.Unlock()
			posted <- i + 1
			if !sleep.For(ctx, replyEvery) {
				return
			}
		}
	}()
	for k := range posted {
		if k == len(customers)/3 && !opts.NoKills {
			if err := t.killAndRestart(ctx, res, "worker 1", t.workers[0], workerDown, nil); err != nil {
				return err
			}
		}
	}
	wg.Wait()
	if replyErr != nil {
		return replyErr
	}

	// Four fifths in: one API dies; the balancer and the emulator's
	// retries carry the callbacks to the other.
	if err := load.waitSent(ctx, 4*n/5); err != nil {
		return err
	}
	if !opts.NoKills {
		if err := t.killAndRestart(ctx, res, "api 2", t.apis[1], apiDown, func(ctx context.Context) error { return t.waitAPI(ctx, 1) }); err != nil {
			return err
		}
	}
	if err := load.wait(ctx); err != nil {
		return err
	}
	t.progress("all %d messages and %d replies handed over; waiting until every one is stored and sent", n, len(replies))

	in, err := s.convergeInbound(ctx, load.messages(), true)
	res.Inbound.set(in, time.Since(start))
	if err != nil {
		return fmt.Errorf("inbound: %w", err)
	}
	out, err := s.convergeReplies(ctx, replies)
	res.Replies.set(out, time.Since(start))
	if err != nil {
		return fmt.Errorf("replies: %w", err)
	}
	if res.Conversations, res.ConversationEvents, err = t.conversationEvents(ctx); err != nil {
		return fmt.Errorf("count the conversations' history events: %w", err)
	}
	res.WebhooksPerAPI, res.RefusedPerAPI = t.httpLB.counts()
	res.ActivitiesPerWorker = t.activities.totals()
	items, err := s.outbox()
	if err != nil {
		return err
	}
	times := make([]time.Time, len(items))
	for i, it := range items {
		times[i] = it.AcceptedTime
	}
	var busiest []time.Time
	res.MaxSendsPerSecond, busiest = maxPerWindow(times, time.Second)
	var problems []string
	for i, k := range res.WebhooksPerAPI {
		if k == 0 {
			problems = append(problems, fmt.Sprintf("api %d answered no callback", i+1))
		}
	}
	for i, k := range res.ActivitiesPerWorker {
		if k == 0 {
			problems = append(problems, fmt.Sprintf("worker %d ran no activity", i+1))
		}
	}
	if res.MaxSendsPerSecond > opts.SendRate {
		offsets := make([]string, len(busiest))
		for i, at := range busiest {
			offsets[i] = fmt.Sprintf("+%dms", at.Sub(busiest[0]).Milliseconds())
		}
		problems = append(problems, fmt.Sprintf("%d sends within one second, over SINCH_SEND_RATE=%d (accepted at %s)", res.MaxSendsPerSecond, opts.SendRate, strings.Join(offsets, " ")))
	}
	if err := t.alive(); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return errors.New(joinProblems(problems))
	}
	return nil
}

// conversationEvents counts the conversation workflows and the history
// events of their current runs.
func (t *topology) conversationEvents(ctx context.Context) (int, int64, error) {
	c, err := client.DialContext(ctx, client.Options{HostPort: t.engineAddr, Namespace: namespace, Logger: quiet{}})
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	var ids []string
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace,
			Query: fmt.Sprintf("WorkflowType = '%s'", workflows.ConversationWorkflowName), NextPageToken: token})
		if err != nil {
			return 0, 0, err
		}
		for _, e := range resp.GetExecutions() {
			ids = append(ids, e.GetExecution().GetWorkflowId())
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	var events int64
	for _, id := range ids {
		d, err := c.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			return 0, 0, err
		}
		events += d.GetWorkflowExecutionInfo().GetHistoryLength()
	}
	return len(ids), events, nil
}

// agentsOf reads which agent holds each interaction.
func (t *topology) agentsOf(ctx context.Context, its map[string]uint64) (map[uint64]uint64, error) {
	ids := make([]uint64, 0, len(its))
	for _, id := range its {
		ids = append(ids, id)
	}
	var rows []models.Interaction
	if err := t.db.WithContext(ctx).Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make(map[uint64]uint64, len(rows))
	for _, r := range rows {
		if r.AgentID == nil {
			return nil, fmt.Errorf("interaction %d has no agent", r.ID)
		}
		out[r.ID] = *r.AgentID
	}
	return out, nil
}

func joinProblems(p []string) string {
	out := p[0]
	for _, s := range p[1:] {
		out += "; " + s
	}
	return out
}

// maxPerWindow is the most times within any window-long interval
// [t, t+window), and those times.
func maxPerWindow(times []time.Time, window time.Duration) (int, []time.Time) {
	ts := slices.Clone(times)
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	best, at, j := 0, 0, 0
	for i := range ts {
		for j < len(ts) && ts[j].Sub(ts[i]) < window {
			j++
		}
		if j-i > best {
			best, at = j-i, i
		}
	}
	return best, ts[at : at+best]
}

// postReply posts the agent's reply through the balancer with an
// Idempotency-Key, trying again (possibly on the other API) while an API
// is down: the key makes the retry safe, as it is for an agent's browser.
func (t *topology) postReply(ctx context.Context, token string, interaction uint64, customer, text string) (reply, error) {
	body, _ := json.Marshal(map[string]string{"text": text})
	var last string
	for attempt := 1; attempt <= 40; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("%s/api/interactions/%d/messages", t.apiURL, interaction), bytes.NewReader(body))
		if err != nil {
			return reply{}, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "topology-"+customer)
		resp, err := t.hc.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode < 300 {
				var m api.MessageResponse
				if err := json.Unmarshal(b, &m); err != nil {
					return reply{}, fmt.Errorf("reply to %s: %w", customer, err)
				}
				return reply{interaction: interaction, customer: customer, text: text, id: m.ID}, nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(b))
			if resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
				return reply{}, fmt.Errorf("reply to %s: %s", customer, last)
			}
		} else {
			last = err.Error()
		}
		if !sleep.For(ctx, 500*time.Millisecond) {
			break
		}
	}
	return reply{}, fmt.Errorf("reply to %s never accepted (last: %s)", customer, last)
}

// PrintTopology writes the run's outcome as a table.
func PrintTopology(w io.Writer, r TopologyResult) {
	PrintTable(w, []Result{r.Inbound, r.Replies})
	_, _ = fmt.Fprintf(w, "\ncallbacks answered per API: %v (refused, dropped or 5xx, then tried on the other: %v)\n", r.WebhooksPerAPI, r.RefusedPerAPI)
	_, _ = fmt.Fprintf(w, "activities run per worker: %v\n", r.ActivitiesPerWorker)
	_, _ = fmt.Fprintf(w, "most messages:send accepted in any one second: %d (SINCH_SEND_RATE=%d)\n", r.MaxSendsPerSecond, r.SendRate)
	if len(r.CPUSeconds) > 0 {
		_, _ = fmt.Fprintf(w, "CPU seconds: engine %.1f, api %.1f, worker %.1f\n", r.CPUSeconds["engine"], r.CPUSeconds["api"], r.CPUSeconds["worker"])
	}
	if r.Conversations > 0 {
		_, _ = fmt.Fprintf(w, "conversation workflows: %d, %d history events (%.1f each)\n", r.Conversations, r.ConversationEvents, float64(r.ConversationEvents)/float64(r.Conversations))
	}
	if len(r.DatabaseBytes) > 0 {
		_, _ = fmt.Fprintf(w, "database sizes before the load: %v, after: %v; Temporal: %d executions, %d history batches, %d history bytes\n",
			r.DatabaseBytesBefore, r.DatabaseBytes, r.Workflows, r.HistoryNodes, r.HistoryBytes)
		for name, d := range r.DatabaseWork {
			_, _ = fmt.Fprintf(w, "database %s during the run: %d commits, %d rows inserted, %d updated, %d deleted\n", name, d.Commits, d.Inserted, d.Updated, d.Deleted)
		}
	}
	for _, k := range r.Kills {
		_, _ = fmt.Fprintf(w, "- %s\n", k)
	}
	verdict := "PASS"
	if !r.Passed {
		verdict = "FAIL: " + r.Error
	}
	_, _ = fmt.Fprintf(w, "%s in %.0f s\n", verdict, r.Seconds)
	if r.Logs != "" {
		_, _ = fmt.Fprintf(w, "logs: %s\n", r.Logs)
	}
}
