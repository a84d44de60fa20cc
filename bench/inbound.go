// Package bench measures the connector on this machine with the real stack:
// the embedded Temporal engine, the worker and the API in one process, fed
// with signed Sinch callbacks over loopback HTTP. It only measures: it
// talks to loopback addresses only, changes no code path of the connector,
// and is imported by nothing but cmd/connector.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/xcally-connector/connector/apiclient"
	"github.com/xcally-connector/connector/app"
	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/workflows"
)

// InboundOptions configures RunInbound.
type InboundOptions struct {
	// Messages is how many new conversations to open: one signed webhook
	// each, from a new contact.
	Messages int
	// FollowUps is how many more messages each open conversation then gets,
	// in rounds (every conversation one message per round), so that the
	// messages of one conversation arrive seconds apart.
	FollowUps int
	// Agents share the load; each has capacity Messages/Agents+1.
	Agents int
	// DatabaseURL is the app database; empty uses SQLite in a temp dir.
	DatabaseURL string
	// TemporalDatabaseURL puts the embedded engine on Postgres (the
	// production shape) instead of SQLite.
	TemporalDatabaseURL string
	// Timeout bounds the wait for every interaction to be assigned (and
	// every follow-up stored).
	Timeout time.Duration
	// Rate paces the loop to this many webhooks per second; 0 sends the next
	// one as soon as the previous one is answered.
	Rate float64
	// Concurrency is how many webhooks are in flight at once (default 1);
	// the engine baseline uses the same.
	Concurrency int
	// HistorySample is how many conversations' histories are read to count
	// history events per follow-up message.
	HistorySample int
	// WorkerBinary, when set, is the connector binary run as the worker
	// process (instead of the in-process worker), whose memory is then
	// measured alone.
	WorkerBinary string
}

// InboundResult holds the measured distributions.
type InboundResult struct {
	Ack        []time.Duration
	Assignment []time.Duration
	// AckElapsed is how long sending every webhook took; Elapsed until
	// every interaction was assigned.
	AckElapsed time.Duration
	Elapsed    time.Duration
	// FollowUpAck is the ack latency of the messages into open
	// conversations; FollowUpAckElapsed how long sending them took, and
	// FollowUpElapsed until every one of them was stored.
	FollowUpAck        []time.Duration
	FollowUpAckElapsed time.Duration
	FollowUpElapsed    time.Duration
	// EventsPerFollowUp is the history events the sampled conversations
	// gained per follow-up message; Sampled how many were read.
	EventsPerFollowUp float64
	Sampled           int
	// Memory is the process's memory before and after opening the
	// conversations (all held in the worker's workflow cache): the worker
	// process's RSS with WorkerBinary, else the whole bench process's
	// (engine included) RSS and Go heap.
	MemoryBefore, MemoryOpen MemSample
	WorkerProcess            bool
	// Engine is the engine alone on the same server, same count and
	// concurrency, run before and after the connector (the machine's load
	// drifts; ratios use the mean).
	Engine []*EngineResult
}

// MemSample is the process's memory at one point, after a GC.
type MemSample struct {
	RSS  uint64 `json:"rssBytes"`
	Heap uint64 `json:"heapBytes"`
}

// sampleMemory collects garbage, then reads the Go heap and the RSS.
func sampleMemory() MemSample {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return MemSample{RSS: rss(), Heap: ms.HeapAlloc}
}

// rss is the resident set size from /proc (0 where there is none).
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	return parseVmRSS(string(b))
}

// postInbound posts one signed MESSAGE_INBOUND callback from identity and
// returns when it was sent and how long the 200 took.
func postInbound(ctx context.Context, hc *http.Client, base string, accountID uint64, i int, identity string) (time.Time, time.Duration, error) {
	body := inbound(fmt.Sprintf("01BENCH%08d", i), identity)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("%s/api/whatsapp/accounts/%d/notify", base, accountID), bytes.NewReader(body))
	if err != nil {
		return time.Time{}, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	t0 := time.Now()
	sinch.SetSignatureHeaders(req.Header, benchSecret, body, fmt.Sprintf("bench-nonce-%d", i), t0)
	resp, err := hc.Do(req)
	if err != nil {
		return t0, 0, fmt.Errorf("webhook %d: %w", i, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return t0, 0, fmt.Errorf("webhook %d answered %d", i, resp.StatusCode)
	}
	return t0, time.Since(t0), nil
}

const benchSecret = "bench-webhook-secret"

// webhook is one callback to post: message number and sender.
type webhook struct {
	n        int
	identity string
}

// postAll posts the webhooks from concurrency goroutines, paced at rate
// per second when rate > 0. It returns each webhook's send time (by
// identity, the last one wins) and ack latency.
func postAll(ctx context.Context, base string, accountID uint64, hooks []webhook, rate float64, concurrency int) (map[string]time.Time, []time.Duration, time.Duration, error) {
	sent := make(map[string]time.Time, len(hooks))
	var acks []time.Duration
	hc := &http.Client{Timeout: 30 * time.Second}
	var mu sync.Mutex
	var firstErr error
	next := make(chan webhook)
	var wg sync.WaitGroup
	start := time.Now()
	for g := 0; g < max(concurrency, 1); g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h := range next {
				t0, ack, err := postInbound(ctx, hc, base, accountID, h.n, h.identity)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if err == nil {
					acks = append(acks, ack)
					sent[h.identity] = t0
				}
				mu.Unlock()
			}
		}()
	}
	for i, h := range hooks {
		if rate > 0 {
			if wait := time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))); wait > 0 {
				time.Sleep(wait)
			}
		}
		next <- h
	}
	close(next)
	wg.Wait()
	return sent, acks, time.Since(start), firstErr
}

// waitCount polls a count query until it reaches want.
func waitCount(d *app.Dev, timeout time.Duration, what string, want int, query func(*gorm.DB) *gorm.DB) error {
	deadline := time.Now().Add(timeout)
	for {
		var n int64
		if err := query(d.DB).Count(&n).Error; err != nil {
			return err
		}
		if int(n) >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d %s after %s", n, want, what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func identityOf(i int) string { return fmt.Sprintf("3933%08d", i) }

// RunInbound starts a dev stack in a temporary directory, configures one
// account (with a webhook secret), one round-robin queue and Agents
// available agents, and measures in phases:
//  1. the engine alone (SignalWithStart into do-nothing workflows);
//  2. Messages signed MESSAGE_INBOUND callbacks, each from a new contact,
//     until every interaction is assigned (ack latency: the HTTP round
//     trip; assignment: from just before the webhook to assigned_at);
//  3. the process memory with those conversations open;
//  4. FollowUps more messages into each open conversation, in rounds,
//     until all are stored, and the history events they added;
//  5. the engine alone again.
func RunInbound(ctx context.Context, opts InboundOptions, log *slog.Logger) (*InboundResult, error) {
	d, cfg, stop, err := startStack(ctx, opts.DatabaseURL, opts.TemporalDatabaseURL, false, log)
	if err != nil {
		return nil, err
	}
	defer stop()
	c := &apiclient.Client{BaseURL: d.APIURL(), Token: cfg.AdminToken}
	accountID, err := setup(ctx, c, opts)
	if err != nil {
		return nil, fmt.Errorf("set up the account, queue and agents: %w", err)
	}
	conc := max(opts.Concurrency, 1)
	res := &InboundResult{}
	before, err := RunEngine(ctx, d.Client, opts.Messages, conc)
	if err != nil {
		return nil, err
	}
	res.Engine = append(res.Engine, before)
	memory := func() (MemSample, error) { return sampleMemory(), nil }
	if opts.WorkerBinary != "" {
		wp, err := startWorkerProcess(opts.WorkerBinary, d, cfg)
		if err != nil {
			return nil, err
		}
		defer wp.stop()
		res.WorkerProcess = true
		memory = func() (MemSample, error) {
			r, err := wp.rss()
			return MemSample{RSS: r}, err
		}
		time.Sleep(2 * time.Second) // let it connect and start polling
	}
	if res.MemoryBefore, err = memory(); err != nil {
		return nil, err
	}

	hooks := make([]webhook, opts.Messages)
	for i := range hooks {
		hooks[i] = webhook{n: i, identity: identityOf(i)}
	}
	sent, acks, ackElapsed, err := postAll(ctx, c.BaseURL, accountID, hooks, opts.Rate, conc)
	if err != nil {
		return nil, err
	}
	res.Ack, res.AckElapsed = acks, ackElapsed
	err = waitCount(d, opts.Timeout, "interactions assigned", opts.Messages, func(db *gorm.DB) *gorm.DB {
		return db.Model(&models.Interaction{}).Where("status = ?", models.InteractionAssigned)
	})
	if err != nil {
		return nil, err
	}
	res.Elapsed = time.Since(earliest(sent))
	var rows []struct {
		Identity   string
		AssignedAt time.Time
	}
	if err := d.DB.Table("interactions").Select("contacts.identity AS identity, interactions.assigned_at AS assigned_at").
		Joins("JOIN contacts ON contacts.id = interactions.contact_id").Scan(&rows).Error; err != nil {
		return nil, err
	}
	for _, r := range rows {
		if t0, ok := sent[r.Identity]; ok {
			res.Assignment = append(res.Assignment, r.AssignedAt.Sub(t0))
		}
	}
	time.Sleep(time.Second) // let the last notifications and timers settle
	if res.MemoryOpen, err = memory(); err != nil {
		return nil, err
	}

	if opts.FollowUps > 0 {
		if err := followUps(ctx, d, c.BaseURL, accountID, opts, res); err != nil {
			return nil, fmt.Errorf("follow-ups: %w", err)
		}
	}
	after, err := RunEngine(ctx, d.Client, opts.Messages, conc)
	if err != nil {
		return nil, err
	}
	res.Engine = append(res.Engine, after)
	return res, nil
}

// followUps sends opts.FollowUps messages into every open conversation and
// reads the history events they cost from a sample of the histories.
func followUps(ctx context.Context, d *app.Dev, base string, accountID uint64, opts InboundOptions, res *InboundResult) error {
	sample := min(max(opts.HistorySample, 1), opts.Messages)
	lengths := make([]int64, sample)
	for i := range lengths {
		n, err := historyLength(ctx, d, accountID, identityOf(i))
		if err != nil {
			return err
		}
		lengths[i] = n
	}
	hooks := make([]webhook, 0, opts.Messages*opts.FollowUps)
	for r := 1; r <= opts.FollowUps; r++ {
		for i := 0; i < opts.Messages; i++ {
			hooks = append(hooks, webhook{n: r*opts.Messages + i, identity: identityOf(i)})
		}
	}
	start := time.Now()
	_, acks, ackElapsed, err := postAll(ctx, base, accountID, hooks, opts.Rate, max(opts.Concurrency, 1))
	if err != nil {
		return err
	}
	res.FollowUpAck, res.FollowUpAckElapsed = acks, ackElapsed
	err = waitCount(d, opts.Timeout, "messages stored", opts.Messages*(opts.FollowUps+1), func(db *gorm.DB) *gorm.DB {
		return db.Model(&models.Message{}).Where("direction = ?", models.DirectionInbound)
	})
	if err != nil {
		return err
	}
	res.FollowUpElapsed = time.Since(start)
	// Every follow-up's signal must have reached its workflow before its
	// history is read: wait until the sampled ones have taken note of all.
	var added int64
	for i := range lengths {
		wfID := workflows.ConversationWorkflowID(accountID, "WHATSAPP", identityOf(i))
		deadline := time.Now().Add(opts.Timeout)
		for {
			// A loaded worker may answer a query late: retry until the deadline.
			noted, err := notedMessages(ctx, d, wfID)
			if err == nil && noted >= opts.FollowUps+1 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s noted %d of %d messages after %s (last query error: %v)", wfID, noted, opts.FollowUps+1, opts.Timeout, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		n, err := historyLength(ctx, d, accountID, identityOf(i))
		if err != nil {
			return err
		}
		added += n - lengths[i]
	}
	res.Sampled = sample
	res.EventsPerFollowUp = float64(added) / float64(sample*opts.FollowUps)
	return nil
}

// notedMessages asks a conversation how many messages it has taken note of.
func notedMessages(ctx context.Context, d *app.Dev, wfID string) (int, error) {
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := d.Client.QueryWorkflow(qctx, wfID, "", workflows.StateQueryName)
	if err != nil {
		return 0, fmt.Errorf("query %s: %w", wfID, err)
	}
	var st workflows.ConversationState
	if err := v.Get(&st); err != nil {
		return 0, fmt.Errorf("query %s: %w", wfID, err)
	}
	return st.MessagesTotal, nil
}

// historyLength is the event count of a conversation's current run.
func historyLength(ctx context.Context, d *app.Dev, accountID uint64, identity string) (int64, error) {
	desc, err := d.Client.DescribeWorkflowExecution(ctx, workflows.ConversationWorkflowID(accountID, "WHATSAPP", identity), "")
	if err != nil {
		return 0, fmt.Errorf("describe conversation of %s: %w", identity, err)
	}
	return desc.GetWorkflowExecutionInfo().GetHistoryLength(), nil
}

func earliest(sent map[string]time.Time) time.Time {
	var first time.Time
	for _, t := range sent {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	return first
}

// startStack starts a dev stack in a temporary directory on databaseURL
// (SQLite there when empty), its engine on temporalURL (SQLite when
// empty), with the Sinch emulator on a free port when emulator is true.
// stop stops it and removes the directory.
func startStack(ctx context.Context, databaseURL, temporalURL string, emulator bool, log *slog.Logger) (d *app.Dev, cfg *config.Config, stop func(), err error) {
	dir, err := os.MkdirTemp("", "connector-bench-")
	if err != nil {
		return nil, nil, nil, err
	}
	emulatorAddr := "off"
	if emulator {
		emulatorAddr = "127.0.0.1:0"
	}
	vars := map[string]string{
		"DATA_DIR": dir, "TEMPORAL_ADDRESS": "127.0.0.1:0", "TEMPORAL_UI_ADDR": "127.0.0.1:0",
		"HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error", "DATABASE_URL": databaseURL, "EMULATOR_ADDR": emulatorAddr,
		"TEMPORAL_DATABASE_URL": temporalURL,
	}
	if cfg, err = config.Load(func(k string) string { return vars[k] }); err == nil {
		err = cfg.Validate(config.RoleDev)
	}
	if err == nil {
		d, err = app.StartDev(ctx, cfg, log)
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, nil, err
	}
	return d, cfg, func() { d.Stop(); _ = os.RemoveAll(dir) }, nil
}

// printDist writes the quantiles of one distribution on a line.
func printDist(w io.Writer, name string, ds []time.Duration) {
	if len(ds) == 0 {
		_, _ = fmt.Fprintf(w, "%-24s n=0\n", name)
		return
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(f float64) time.Duration { return s[int(f*float64(len(s)-1))] }
	_, _ = fmt.Fprintf(w, "%-24s n=%d p50=%s p90=%s p99=%s max=%s\n", name, len(s),
		q(0.5).Round(10*time.Microsecond), q(0.9).Round(10*time.Microsecond), q(0.99).Round(10*time.Microsecond), s[len(s)-1].Round(10*time.Microsecond))
}

// engineMean is the mean of the engine runs' accepted and completed rates.
func (r *InboundResult) engineMean() (accepted, completed float64) {
	for _, e := range r.Engine {
		accepted += e.Accepted / float64(len(r.Engine))
		completed += e.Completed / float64(len(r.Engine))
	}
	return accepted, completed
}

// rates are the connector's measured rates.
func (r *InboundResult) rates() (acked, assigned, followAcked, followStored float64) {
	acked = float64(len(r.Ack)) / r.AckElapsed.Seconds()
	assigned = float64(len(r.Assignment)) / r.Elapsed.Seconds()
	if n := len(r.FollowUpAck); n > 0 {
		followAcked = float64(n) / r.FollowUpAckElapsed.Seconds()
		followStored = float64(n) / r.FollowUpElapsed.Seconds()
	}
	return acked, assigned, followAcked, followStored
}

// perConversation is the memory the open conversations added, per
// conversation.
func (r *InboundResult) perConversation(n int) (rssPer, heapPer float64) {
	d := func(a, b uint64) float64 {
		if b < a {
			return 0
		}
		return float64(b-a) / float64(n)
	}
	return d(r.MemoryBefore.RSS, r.MemoryOpen.RSS), d(r.MemoryBefore.Heap, r.MemoryOpen.Heap)
}

// Print writes the distributions, the rates and their ratios to the engine.
func (r *InboundResult) Print(w io.Writer, opts InboundOptions, engine string) {
	p := func(name string, ds []time.Duration) { printDist(w, name, ds) }
	pace := "as fast as answered"
	if opts.Rate > 0 {
		pace = fmt.Sprintf("paced at %.0f/s", opts.Rate)
	}
	_, _ = fmt.Fprintf(w, "inbound bench: %d new conversations then %d follow-ups each, %d webhooks in flight, %s; app database %s; %s; %d agents\n",
		opts.Messages, opts.FollowUps, max(opts.Concurrency, 1), pace, engine, shapeOf(opts.TemporalDatabaseURL, opts.WorkerBinary), opts.Agents)
	acked, assigned, followAcked, followStored := r.rates()
	p("webhook ack (new)", r.Ack)
	p("webhook -> assigned", r.Assignment)
	_, _ = fmt.Fprintf(w, "new conversations: webhooks acked %.0f/s; all assigned after %s (%.0f/s end to end)\n", acked, r.Elapsed.Round(time.Millisecond), assigned)
	if len(r.FollowUpAck) > 0 {
		p("webhook ack (open)", r.FollowUpAck)
		_, _ = fmt.Fprintf(w, "messages into open conversations: acked %.0f/s, all stored after %s (%.0f/s sustained)\n",
			followAcked, r.FollowUpElapsed.Round(time.Millisecond), followStored)
		_, _ = fmt.Fprintf(w, "history events per message into an open conversation: %.2f (%d histories read)\n", r.EventsPerFollowUp, r.Sampled)
	}
	rssPer, heapPer := r.perConversation(opts.Messages)
	if r.WorkerProcess {
		_, _ = fmt.Fprintf(w, "worker process memory with %d open conversations: RSS %s -> %s: %.1f KiB per conversation\n",
			opts.Messages, mib(r.MemoryBefore.RSS), mib(r.MemoryOpen.RSS), rssPer/1024)
	} else {
		_, _ = fmt.Fprintf(w, "process memory (API, worker and engine in one) with %d open conversations: RSS %s -> %s, Go heap %s -> %s: %.1f KiB RSS (%.1f KiB heap) per conversation\n",
			opts.Messages, mib(r.MemoryBefore.RSS), mib(r.MemoryOpen.RSS), mib(r.MemoryBefore.Heap), mib(r.MemoryOpen.Heap), rssPer/1024, heapPer/1024)
	}
	for i, e := range r.Engine {
		_, _ = fmt.Fprintf(w, "[run %d of %d] ", i+1, len(r.Engine))
		e.Print(w)
	}
	if len(r.Engine) > 0 {
		eAcc, eDone := r.engineMean()
		_, _ = fmt.Fprintf(w, "ratio to the engine (mean of its runs: accepted %.0f/s, completed %.0f/s): new conversations acked %.2f, to assignment %.2f (vs completed)",
			eAcc, eDone, acked/eAcc, assigned/eDone)
		if len(r.FollowUpAck) > 0 {
			_, _ = fmt.Fprintf(w, ", messages into open conversations stored %.2f (vs SignalWithStart accepted)", followStored/eAcc)
		}
		_, _ = fmt.Fprintln(w)
		if opts.Rate > 0 {
			_, _ = fmt.Fprintln(w, "(the connector was paced and the engine was not: the ratios compare rates only in an unpaced run, -rate 0)")
		}
	}
}

func mib(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func inbound(id, identity string) []byte {
	ts := time.Now().UTC().Format(time.RFC3339Nano)
	b, _ := json.Marshal(map[string]any{
		"app_id": "01BENCHAPP", "project_id": "bench", "accepted_time": ts, "event_time": ts,
		"message": map[string]any{
			"id": id, "direction": "TO_APP", "accept_time": ts, "processing_mode": "CONVERSATION",
			"contact_message":  map[string]any{"text_message": map[string]any{"text": "hello from the bench"}},
			"channel_identity": map[string]any{"channel": "WHATSAPP", "identity": identity, "app_id": ""},
			"conversation_id":  "conv-" + identity, "contact_id": "contact-" + identity,
		},
	})
	return b
}

// setup creates the account, queue and agents through the API.
func setup(ctx context.Context, c *apiclient.Client, opts InboundOptions) (uint64, error) {
	acc, err := c.CreateAccount(ctx, map[string]any{
		"name": "Bench", "key": "bench", "publicUrl": "https://motion.example.com", "region": "eu", "projectId": "bench",
		"appId": "01BENCHAPP", "keyId": "k", "keySecret": "s", "webhookSecret": benchSecret, "phone": "+390200000000",
	})
	if err != nil {
		return 0, err
	}
	q, err := c.CreateQueue(ctx, "bench", "round_robin")
	if err != nil {
		return 0, err
	}
	if err := c.LinkQueueAccount(ctx, q.ID, acc.ID); err != nil {
		return 0, err
	}
	capacity := min(opts.Messages/opts.Agents+1, 100)
	for i := 0; i < opts.Agents; i++ {
		if _, err := c.AddAgent(ctx, fmt.Sprintf("agent-%d", i), capacity, q.ID, acc.ID); err != nil {
			return 0, err
		}
	}
	return acc.ID, nil
}

// freshSchema gives the bench its own schema in the Postgres database of
// dsn (a postgres:// URL), so runs never meet each other's rows nor leave
// tables in the database's public schema; cleanup drops it.
func freshSchema(dsn string) (string, func(), error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, fmt.Errorf("DATABASE_URL: the bench needs a postgres:// URL, got %q", dsn)
	}
	admin, err := models.Open(models.OpenOptions{Engine: models.Postgres, DSN: dsn, MaxOpenConns: 1})
	if err != nil {
		return "", nil, err
	}
	schema := fmt.Sprintf("bench_%d", time.Now().UnixNano())
	if err := admin.Exec(fmt.Sprintf(`CREATE SCHEMA %q`, schema)).Error; err != nil {
		_ = models.Close(admin)
		return "", nil, fmt.Errorf("create bench schema: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), func() {
		_ = admin.Exec(fmt.Sprintf(`DROP SCHEMA IF EXISTS %q CASCADE`, schema)).Error
		_ = models.Close(admin)
	}, nil
}

// Dist is a latency distribution in milliseconds.
type Dist struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50Ms"`
	P95 float64 `json:"p95Ms"`
	P99 float64 `json:"p99Ms"`
	Max float64 `json:"maxMs"`
}

func distOf(ds []time.Duration) Dist {
	if len(ds) == 0 {
		return Dist{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	ms := func(f float64) float64 { return float64(s[int(f*float64(len(s)-1))].Microseconds()) / 1000 }
	return Dist{N: len(s), P50: ms(0.5), P95: ms(0.95), P99: ms(0.99), Max: float64(s[len(s)-1].Microseconds()) / 1000}
}

// InboundSummary is the JSON form of an inbound bench run.
type InboundSummary struct {
	Database    string  `json:"database"`
	Messages    int     `json:"newConversations"`
	FollowUps   int     `json:"followUpsPerConversation"`
	Concurrency int     `json:"concurrency"`
	Rate        float64 `json:"rate"`
	Ack         Dist    `json:"webhookAck"`
	Assignment  Dist    `json:"webhookToAssigned"`
	AckedPerSec float64 `json:"webhooksAckedPerSec"`
	// AssignedPerSec is new conversations to assignment per second.
	AssignedPerSec float64 `json:"assignedPerSec"`
	FollowUpAck    Dist    `json:"openConversationWebhookAck"`
	// FollowUpStoredPerSec is the sustained rate of messages into open
	// conversations, acked and stored.
	FollowUpAckedPerSec  float64         `json:"openConversationAckedPerSec"`
	FollowUpStoredPerSec float64         `json:"openConversationStoredPerSec"`
	EventsPerMessage     float64         `json:"historyEventsPerOpenConversationMessage"`
	HistoriesRead        int             `json:"historiesRead"`
	MemoryBefore         MemSample       `json:"memoryBefore"`
	MemoryOpen           MemSample       `json:"memoryOpen"`
	WorkerProcess        bool            `json:"workerProcess"`
	RSSPerConversation   float64         `json:"rssBytesPerOpenConversation"`
	HeapPerConversation  float64         `json:"heapBytesPerOpenConversation"`
	Engine               []EngineSummary `json:"engine"`
	AckRatio             float64         `json:"ackRatio"`
	AssignmentRatio      float64         `json:"assignmentRatio"`
	FollowUpRatio        float64         `json:"openConversationRatio"`
}

// EngineSummary is one engine baseline run.
type EngineSummary struct {
	Ack          Dist    `json:"signalWithStartAck"`
	AcceptedPerS float64 `json:"acceptedPerSec"`
	CompletedPer float64 `json:"completedPerSec"`
}

// Summary is the run as InboundSummary.
func (r *InboundResult) Summary(opts InboundOptions, engine string) InboundSummary {
	acked, assigned, followAcked, followStored := r.rates()
	out := InboundSummary{Database: engine, Messages: opts.Messages, FollowUps: opts.FollowUps, Concurrency: max(opts.Concurrency, 1), Rate: opts.Rate,
		Ack: distOf(r.Ack), Assignment: distOf(r.Assignment), AckedPerSec: acked, AssignedPerSec: assigned,
		FollowUpAck: distOf(r.FollowUpAck), FollowUpAckedPerSec: followAcked, FollowUpStoredPerSec: followStored,
		EventsPerMessage: r.EventsPerFollowUp, HistoriesRead: r.Sampled, MemoryBefore: r.MemoryBefore, MemoryOpen: r.MemoryOpen,
		WorkerProcess: r.WorkerProcess}
	out.RSSPerConversation, out.HeapPerConversation = r.perConversation(opts.Messages)
	for _, e := range r.Engine {
		out.Engine = append(out.Engine, EngineSummary{Ack: distOf(e.Ack), AcceptedPerS: e.Accepted, CompletedPer: e.Completed})
	}
	if len(r.Engine) > 0 {
		eAcc, eDone := r.engineMean()
		out.AckRatio, out.AssignmentRatio, out.FollowUpRatio = acked/eAcc, assigned/eDone, followStored/eAcc
	}
	return out
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
