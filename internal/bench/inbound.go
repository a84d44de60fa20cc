// Package bench measures the connector on this machine with the real stack:
// the embedded Temporal engine, the worker and the API in one process, fed
// with signed Sinch callbacks over loopback HTTP.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/internal/apiclient"
	"github.com/xcally-connector/connector/internal/app"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinch"
)

// InboundOptions configures RunInbound.
type InboundOptions struct {
	// Messages is how many signed webhooks to send, each from a new contact.
	Messages int
	// Agents share the load; each has capacity Messages/Agents+1.
	Agents int
	// DatabaseURL is the app database; empty uses SQLite in a temp dir.
	DatabaseURL string
	// Timeout bounds the wait for every interaction to be assigned.
	Timeout time.Duration
	// Rate paces the loop to this many webhooks per second; 0 sends the next
	// one as soon as the previous one is answered.
	Rate float64
	// Concurrency is how many webhooks are in flight at once (default 1);
	// the engine baseline uses the same.
	Concurrency int
}

// InboundResult holds the measured distributions.
type InboundResult struct {
	Ack        []time.Duration
	Assignment []time.Duration
	// AckElapsed is how long sending every webhook took; Elapsed until
	// every interaction was assigned.
	AckElapsed time.Duration
	Elapsed    time.Duration
	// Engine is the engine alone on the same server, same count and
	// concurrency.
	Engine *EngineResult
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

// RunInbound starts a dev stack in a temporary directory, configures one
// account (with a webhook secret), one round-robin queue and Agents
// available agents, then posts Messages signed MESSAGE_INBOUND callbacks in a
// simple sequential loop. Ack latency is the HTTP round trip of each
// webhook; assignment time runs from just before the webhook was sent to the
// interaction's assigned_at, both on this machine's clock.
func RunInbound(ctx context.Context, opts InboundOptions, log *slog.Logger) (*InboundResult, error) {
	d, cfg, stop, err := startStack(ctx, opts.DatabaseURL, false, log)
	if err != nil {
		return nil, err
	}
	defer stop()
	c := &apiclient.Client{BaseURL: d.APIURL(), Token: cfg.AdminToken}
	accountID, err := setup(ctx, c, opts)
	if err != nil {
		return nil, err
	}

	res := &InboundResult{}
	sent := make(map[string]time.Time, opts.Messages)
	hc := &http.Client{Timeout: 30 * time.Second}
	conc := max(opts.Concurrency, 1)
	var mu sync.Mutex
	var firstErr error
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				identity := fmt.Sprintf("3933%08d", i)
				t0, ack, err := postInbound(ctx, hc, c.BaseURL, accountID, i, identity)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if err == nil {
					res.Ack = append(res.Ack, ack)
					sent[identity] = t0
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < opts.Messages; i++ {
		if opts.Rate > 0 {
			if wait := time.Until(start.Add(time.Duration(float64(i) / opts.Rate * float64(time.Second)))); wait > 0 {
				time.Sleep(wait)
			}
		}
		next <- i
	}
	close(next)
	wg.Wait()
	res.AckElapsed = time.Since(start)
	if firstErr != nil {
		return nil, firstErr
	}
	deadline := time.Now().Add(opts.Timeout)
	for {
		var n int64
		if err := d.DB.Model(&models.Interaction{}).Where("status = ?", models.InteractionAssigned).Count(&n).Error; err != nil {
			return nil, err
		}
		if int(n) == opts.Messages {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("only %d of %d interactions assigned after %s", n, opts.Messages, opts.Timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.Elapsed = time.Since(start)
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
	if res.Engine, err = RunEngine(ctx, d.Client, opts.Messages, max(opts.Concurrency, 1)); err != nil {
		return nil, err
	}
	return res, nil
}

// startStack starts a dev stack in a temporary directory on databaseURL
// (SQLite there when empty), with the Sinch emulator on a free port when
// emulator is true. stop stops it and removes the directory.
func startStack(ctx context.Context, databaseURL string, emulator bool, log *slog.Logger) (d *app.Dev, cfg *config.Config, stop func(), err error) {
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

// Print writes the distributions.
func (r *InboundResult) Print(w io.Writer, opts InboundOptions, engine string) {
	p := func(name string, ds []time.Duration) { printDist(w, name, ds) }
	pace := "as fast as answered"
	if opts.Rate > 0 {
		pace = fmt.Sprintf("paced at %.0f/s", opts.Rate)
	}
	_, _ = fmt.Fprintf(w, "inbound bench: %d signed webhooks, one per contact, %d in flight, %s; app database %s; %d agents\n",
		opts.Messages, max(opts.Concurrency, 1), pace, engine, opts.Agents)
	p("webhook ack", r.Ack)
	p("webhook -> assigned", r.Assignment)
	acked := float64(len(r.Ack)) / r.AckElapsed.Seconds()
	assigned := float64(len(r.Assignment)) / r.Elapsed.Seconds()
	_, _ = fmt.Fprintf(w, "webhooks acked %.0f/s; all assigned after %s (%.0f interactions/s end to end)\n", acked, r.Elapsed.Round(time.Millisecond), assigned)
	if e := r.Engine; e != nil {
		e.Print(w)
		_, _ = fmt.Fprintf(w, "ratio to the engine: acked %.2f (webhook vs SignalWithStart), new conversations to assignment %.2f (vs workflows completed)\n",
			acked/e.Accepted, assigned/e.Completed)
	}
}

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

// Main runs `connector bench inbound|outbound [flags]` and prints the
// result. DATABASE_URL selects the app database (SQLite in a temp dir when
// unset or a SQLite path; a postgres DSN uses that database).
func Main(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	const usage = "usage: connector bench inbound [-n 500] [-agents 10] [-rate 0] | outbound [-conversations 20] [-replies 10] [-rate 0] [-send-rate 0]"
	if len(args) == 0 {
		return fmt.Errorf(usage)
	}
	dsn, engine := "", "sqlite"
	if v := os.Getenv("DATABASE_URL"); v != "" {
		if t, err := config.ParseDatabaseURL(v); err == nil && t.Engine == config.Postgres {
			fresh, cleanup, err := freshSchema(v)
			if err != nil {
				return err
			}
			defer cleanup()
			dsn, engine = fresh, "postgres"
		}
	}
	switch args[0] {
	case "inbound":
		fs := flag.NewFlagSet("bench inbound", flag.ContinueOnError)
		n := fs.Int("n", 500, "signed webhooks to send, one per contact")
		agents := fs.Int("agents", 10, "available agents sharing the interactions")
		timeout := fs.Duration("timeout", 5*time.Minute, "wait at most this long for every assignment")
		rate := fs.Float64("rate", 0, "webhooks per second (0: next one as soon as one is answered)")
		conc := fs.Int("concurrency", 1, "webhooks in flight at once (and SignalWithStart calls in the engine baseline)")
		asJSON := fs.Bool("json", false, "print the result as JSON instead of a table")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *n < 1 || *agents < 1 || *conc < 1 {
			return fmt.Errorf("-n, -agents and -concurrency must be positive")
		}
		opts := InboundOptions{Messages: *n, Agents: *agents, Timeout: *timeout, Rate: *rate, Concurrency: *conc, DatabaseURL: dsn}
		res, err := RunInbound(ctx, opts, log)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(stdout, res.Summary(opts, engine))
		}
		res.Print(stdout, opts, engine)
		return nil
	case "outbound":
		fs := flag.NewFlagSet("bench outbound", flag.ContinueOnError)
		convs := fs.Int("conversations", 20, "customers who write first, each assigned to the replying agent")
		replies := fs.Int("replies", 10, "replies per conversation")
		rate := fs.Float64("rate", 0, "replies per second (0: next one as soon as the previous is answered)")
		sendRate := fs.Float64("send-rate", 0, "the account's sendRatePerSecond (0: SINCH_SEND_RATE, 20/s)")
		asJSON := fs.Bool("json", false, "print the result as JSON instead of a table")
		timeout := fs.Duration("timeout", 5*time.Minute, "wait at most this long for assignments and accepts")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *convs < 1 || *replies < 1 || *sendRate < 0 {
			return fmt.Errorf("-conversations and -replies must be positive, -send-rate not negative")
		}
		opts := OutboundOptions{Conversations: *convs, Replies: *replies, Rate: *rate, SendRate: *sendRate, Timeout: *timeout, DatabaseURL: dsn}
		res, err := RunOutbound(ctx, opts, log)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(stdout, res.Summary(opts, engine))
		}
		res.Print(stdout, opts, engine)
		return nil
	}
	return fmt.Errorf(usage)
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
	Messages    int     `json:"messages"`
	Concurrency int     `json:"concurrency"`
	Rate        float64 `json:"rate"`
	Ack         Dist    `json:"webhookAck"`
	Assignment  Dist    `json:"webhookToAssigned"`
	AckedPerSec float64 `json:"webhooksAckedPerSec"`
	// AssignedPerSec is new conversations to assignment per second.
	AssignedPerSec float64 `json:"assignedPerSec"`
	Engine         struct {
		Ack          Dist    `json:"signalWithStartAck"`
		AcceptedPerS float64 `json:"acceptedPerSec"`
		CompletedPer float64 `json:"completedPerSec"`
	} `json:"engine"`
	AckRatio        float64 `json:"ackRatio"`
	AssignmentRatio float64 `json:"assignmentRatio"`
}

// Summary is the run as InboundSummary.
func (r *InboundResult) Summary(opts InboundOptions, engine string) InboundSummary {
	out := InboundSummary{Database: engine, Messages: opts.Messages, Concurrency: max(opts.Concurrency, 1), Rate: opts.Rate,
		Ack: distOf(r.Ack), Assignment: distOf(r.Assignment),
		AckedPerSec: float64(len(r.Ack)) / r.AckElapsed.Seconds(), AssignedPerSec: float64(len(r.Assignment)) / r.Elapsed.Seconds()}
	if e := r.Engine; e != nil {
		out.Engine.Ack, out.Engine.AcceptedPerS, out.Engine.CompletedPer = distOf(e.Ack), e.Accepted, e.Completed
		out.AckRatio, out.AssignmentRatio = out.AckedPerSec/e.Accepted, out.AssignedPerSec/e.Completed
	}
	return out
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
