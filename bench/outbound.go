package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/apiclient"
	"github.com/xcally-connector/connector/app"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinch/emulator"
)

// OutboundOptions configures RunOutbound.
type OutboundOptions struct {
	// Conversations is how many customers write first; Replies is how many
	// replies each of them gets.
	Conversations int
	Replies       int
	// DatabaseURL is the app database; empty uses SQLite in a temp dir.
	DatabaseURL string
	// TemporalDatabaseURL puts the embedded engine on Postgres.
	TemporalDatabaseURL string
	// Rate paces the replies to this many per second; 0 posts the next one
	// as soon as the previous one is answered (202).
	Rate float64
	// SendRate is the account's sendRatePerSecond (0: SINCH_SEND_RATE,
	// Sinch's default 20/s per app).
	SendRate float64
	// Timeout bounds the waits for assignments and for Sinch's accepts.
	Timeout time.Duration
}

// OutboundResult holds the measured distributions.
type OutboundResult struct {
	// API is the reply request's round trip (POST → 202).
	API []time.Duration
	// Accepted runs from just before the POST to the moment the emulator
	// accepted the messages:send (same process, same clock).
	Accepted []time.Duration
	Elapsed  time.Duration
	SendRate float64
	// EventsPerReply is the history events the conversations gained per
	// reply, counted once every reply was read (its queued, delivered and
	// read reports in) and every workflow had settled.
	EventsPerReply float64
	Histories      int
}

const outboundAppID = "01BENCHOUTAPP"

// RunOutbound starts a dev stack with its Sinch emulator, binds an account
// to an emulator app, lets Conversations customers write (each interaction
// is assigned to one agent), then posts Conversations×Replies replies in a
// sequential loop, round robin over the conversations, through the real
// API, workflow, activities and emulator.
func RunOutbound(ctx context.Context, opts OutboundOptions, log *slog.Logger) (*OutboundResult, error) {
	d, cfg, stop, err := startStack(ctx, opts.DatabaseURL, opts.TemporalDatabaseURL, true, log)
	if err != nil {
		return nil, err
	}
	defer stop()
	c := &apiclient.Client{BaseURL: d.APIURL(), Token: cfg.AdminToken}
	acc, err := c.CreateAccount(ctx, map[string]any{
		"name": "Bench", "key": "bench", "publicUrl": "https://motion.example.com", "region": "eu", "projectId": "bench",
		"appId": outboundAppID, "keyId": "k", "keySecret": "s", "webhookSecret": benchSecret, "phone": "+390200000000",
		"baseUrl": d.EmulatorURL, "authUrl": d.EmulatorURL + "/oauth2/token", "sendRatePerSecond": opts.SendRate,
	})
	if err != nil {
		return nil, err
	}
	if err := d.Emulator.CreateApp(emulator.App{AppID: outboundAppID, ProjectID: "bench", Region: "eu", ProcessingMode: "CONVERSATION",
		WebhookURL: fmt.Sprintf("%s/api/whatsapp/accounts/%d/notify", d.APIURL(), acc.ID), WebhookSecret: benchSecret,
		KeyID: "k", KeySecret: "s"}); err != nil {
		return nil, err
	}
	q, err := c.CreateQueue(ctx, "bench", "round_robin")
	if err != nil {
		return nil, err
	}
	if err := c.LinkQueueAccount(ctx, q.ID, acc.ID); err != nil {
		return nil, err
	}
	agent, err := c.AddAgent(ctx, "replier", opts.Conversations, q.ID, acc.ID)
	if err != nil {
		return nil, err
	}

	for i := 0; i < opts.Conversations; i++ {
		if _, err := d.Emulator.SendInbound(outboundAppID, emulator.Inbound{From: fmt.Sprintf("3934%08d", i), Text: "hello"}); err != nil {
			return nil, err
		}
	}
	var interactions []uint64
	if err := waitFor(opts.Timeout, func() (bool, error) {
		interactions = nil
		err := d.DB.Model(&models.Interaction{}).Where("status = ?", models.InteractionAssigned).Order("id").Pluck("id", &interactions).Error
		return len(interactions) == opts.Conversations, err
	}); err != nil {
		return nil, fmt.Errorf("assignments: %w", err)
	}
	var workflowIDs []string
	if err := d.DB.Model(&models.Interaction{}).Where("id IN ?", interactions).Order("id").Pluck("workflow_id", &workflowIDs).Error; err != nil {
		return nil, err
	}
	before, err := settledLengths(ctx, d, workflowIDs, opts.Timeout)
	if err != nil {
		return nil, fmt.Errorf("histories before the replies: %w", err)
	}

	res := &OutboundResult{SendRate: cfg.SinchSendRate}
	if opts.SendRate > 0 {
		res.SendRate = opts.SendRate
	}
	sent := map[uint64]time.Time{}
	hc := &http.Client{Timeout: 30 * time.Second}
	total := opts.Conversations * opts.Replies
	start := time.Now()
	for i := 0; i < total; i++ {
		if opts.Rate > 0 {
			if wait := time.Until(start.Add(time.Duration(float64(i) / opts.Rate * float64(time.Second)))); wait > 0 {
				time.Sleep(wait)
			}
		}
		it := interactions[i%len(interactions)]
		body, _ := json.Marshal(map[string]string{"text": fmt.Sprintf("reply %d", i)})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("%s/api/interactions/%d/messages", d.APIURL(), it), bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+agent.Token)
		t0 := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("reply %d: %w", i, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return nil, fmt.Errorf("reply %d answered %d: %s", i, resp.StatusCode, raw)
		}
		res.API = append(res.API, time.Since(t0))
		var m api.MessageResponse
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		sent[m.ID] = t0
	}

	var outbox []emulator.OutboxItem
	if err := waitFor(opts.Timeout, func() (bool, error) {
		var err error
		outbox, err = d.Emulator.Outbox(outboundAppID, "")
		return len(outbox) >= total, err
	}); err != nil {
		return nil, fmt.Errorf("accepted by the emulator: %w", err)
	}
	res.Elapsed = time.Since(start)
	if len(outbox) != total {
		return nil, fmt.Errorf("the emulator accepted %d messages for %d replies", len(outbox), total)
	}
	for _, o := range outbox {
		var meta activities.SendMetadata
		if err := json.Unmarshal([]byte(o.Metadata), &meta); err != nil {
			return nil, fmt.Errorf("outbox metadata %q: %w", o.Metadata, err)
		}
		if t0, ok := sent[meta.MessageID]; ok {
			res.Accepted = append(res.Accepted, o.AcceptedTime.Sub(t0))
		}
	}
	if err := res.countEvents(ctx, d, sent, workflowIDs, before, opts.Timeout); err != nil {
		return nil, err
	}
	return res, nil
}

// countEvents waits until every reply is read (the emulator sends queued,
// delivered and read for each, as Sinch does) and every conversation has
// settled, then divides the history events the conversations gained by
// the replies.
func (r *OutboundResult) countEvents(ctx context.Context, d *app.Dev, sent map[uint64]time.Time, workflowIDs []string, before []int64, timeout time.Duration) error {
	ids := make([]uint64, 0, len(sent))
	for id := range sent {
		ids = append(ids, id)
	}
	if err := waitFor(timeout, func() (bool, error) {
		var n int64
		err := d.DB.Model(&models.Message{}).Where("id IN ? AND status = ?", ids, models.StatusRead).Count(&n).Error
		return int(n) == len(ids), err
	}); err != nil {
		return fmt.Errorf("replies read: %w", err)
	}
	after, err := settledLengths(ctx, d, workflowIDs, timeout)
	if err != nil {
		return fmt.Errorf("histories after the replies: %w", err)
	}
	var added int64
	for i := range after {
		added += after[i] - before[i]
	}
	r.EventsPerReply, r.Histories = float64(added)/float64(len(ids)), len(workflowIDs)
	return nil
}

// settledLengths returns the history length of each workflow once it has
// settled: no workflow task and no activity pending, so every event a
// callback or a reply causes is in the count.
func settledLengths(ctx context.Context, d *app.Dev, workflowIDs []string, timeout time.Duration) ([]int64, error) {
	out := make([]int64, len(workflowIDs))
	for i, id := range workflowIDs {
		err := waitFor(timeout, func() (bool, error) {
			desc, err := d.Client.DescribeWorkflowExecution(ctx, id, "")
			if err != nil {
				return false, fmt.Errorf("describe %s: %w", id, err)
			}
			out[i] = desc.GetWorkflowExecutionInfo().GetHistoryLength()
			return desc.GetPendingWorkflowTask() == nil && len(desc.GetPendingActivities()) == 0, nil
		})
		if err != nil {
			return nil, fmt.Errorf("%s did not settle: %w", id, err)
		}
	}
	return out, nil
}

// waitFor polls done every 20 ms until it is true or timeout passes.
func waitFor(timeout time.Duration, done func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done after %s", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Print writes the distributions.
func (r *OutboundResult) Print(w io.Writer, opts OutboundOptions, engine string) {
	pace := "as fast as answered"
	if opts.Rate > 0 {
		pace = fmt.Sprintf("paced at %.0f/s", opts.Rate)
	}
	_, _ = fmt.Fprintf(w, "outbound bench: %d replies (%d conversations x %d), sequential, %s; app database %s; send rate limit %.0f/s per app\n",
		len(r.API), opts.Conversations, opts.Replies, pace, engine, r.SendRate)
	printDist(w, "reply API (202)", r.API)
	printDist(w, "reply -> Sinch accepted", r.Accepted)
	_, _ = fmt.Fprintf(w, "all accepted after %s (%.1f replies/s end to end)\n", r.Elapsed.Round(time.Millisecond), float64(len(r.Accepted))/r.Elapsed.Seconds())
	_, _ = fmt.Fprintf(w, "history events per reply (with its delivery reports): %.2f (%d histories read)\n", r.EventsPerReply, r.Histories)
}

// OutboundSummary is the JSON form of an outbound bench run.
type OutboundSummary struct {
	Database      string  `json:"database"`
	Replies       int     `json:"replies"`
	Rate          float64 `json:"rate"`
	SendRate      float64 `json:"sendRatePerSec"`
	API           Dist    `json:"replyApi"`
	Accepted      Dist    `json:"replyToAccepted"`
	RepliesPerSec float64 `json:"repliesPerSec"`
	// EventsPerReply counts a reply's queued, delivered and read reports too.
	EventsPerReply float64 `json:"historyEventsPerReply"`
}

// Summary is the run as OutboundSummary.
func (r *OutboundResult) Summary(opts OutboundOptions, engine string) OutboundSummary {
	return OutboundSummary{Database: engine, Replies: len(r.API), Rate: opts.Rate, SendRate: r.SendRate,
		API: distOf(r.API), Accepted: distOf(r.Accepted), RepliesPerSec: float64(len(r.Accepted)) / r.Elapsed.Seconds(),
		EventsPerReply: r.EventsPerReply}
}
