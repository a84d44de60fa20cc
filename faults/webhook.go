package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xcally-connector/connector/internal/sleep"
	"github.com/xcally-connector/connector/sinch"
)

// webhookRetryDelay is how long a copy answered 503 (or not answered)
// waits before it is posted again, signed afresh, as Sinch would.
const webhookRetryDelay = time.Second

// inboundCallback is a signed-to-be MESSAGE_INBOUND callback body as Sinch
// sends it in CONVERSATION mode.
func inboundCallback(m message, from string, at time.Time) []byte {
	ts := at.UTC().Format(time.RFC3339Nano)
	b, _ := json.Marshal(map[string]any{
		"app_id": appID, "project_id": projectID, "accepted_time": ts, "event_time": ts,
		"message_metadata": "", "correlation_id": "",
		"message": map[string]any{
			"id": m.id, "direction": "TO_APP", "accept_time": ts, "processing_mode": "CONVERSATION",
			"contact_message":  map[string]any{"text_message": map[string]any{"text": m.text}},
			"channel_identity": map[string]any{"channel": "WHATSAPP", "identity": from, "app_id": ""},
			"conversation_id":  "01FAULTCONV" + from, "contact_id": "01FAULTCONT" + from,
			"metadata": "", "sender_id": "390200000000", "injected": false,
		},
	})
	return b
}

// delivery is one copy of one callback.
type delivery struct {
	msg, copy int
}

// answers counts the webhook's answers by status ("no answer" for transport
// errors), safe for concurrent use.
type answers struct {
	mu sync.Mutex
	n  map[string]int
}

func (a *answers) add(code int) {
	key := strconv.Itoa(code)
	if code == 0 {
		key = "no answer"
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n == nil {
		a.n = map[string]int{}
	}
	a.n[key]++
}

func (a *answers) String() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	keys := slices.Sorted(maps.Keys(a.n))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s×%d", k, a.n[k]))
	}
	return strings.Join(parts, ", ")
}

// copyOrder is the order copies are posted in: the copies of a block of
// blockSize messages shuffled together, so that with conc in flight copies
// of one message race each other, and the blocks in a random order, so
// that a customer's messages arrive out of order.
func copyOrder(n, copies, blockSize int) []delivery {
	var blocks [][]delivery
	for start := 0; start < n; start += blockSize {
		var b []delivery
		for i := start; i < min(start+blockSize, n); i++ {
			for c := range copies {
				b = append(b, delivery{msg: i, copy: c})
			}
		}
		rand.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
		blocks = append(blocks, b)
	}
	rand.Shuffle(len(blocks), func(i, j int) { blocks[i], blocks[j] = blocks[j], blocks[i] })
	return slices.Concat(blocks...)
}

// deliverCopies posts every copy of every body in copyOrder from conc
// goroutines, each copy signed on its own with a distinct nonce. A copy
// answered 503 or not answered is posted again (new nonce, new
// timestamp) until it is answered 200; any other answer is a refusal of a
// valid callback and is returned as an error once every copy was tried.
// It returns the most copies of one message that were in flight at once.
func (s *stack) deliverCopies(ctx context.Context, run string, bodies [][]byte, copies, conc int, got *answers) (int, error) {
	jobs := copyOrder(len(bodies), copies, max(1, conc/4))
	inFlight := make([]atomic.Int32, len(bodies))
	var maxInFlight atomic.Int32
	hc := &http.Client{Timeout: requestBound, Transport: &http.Transport{MaxIdleConnsPerHost: conc}}
	defer hc.CloseIdleConnections()
	next := make(chan delivery)
	var mu sync.Mutex
	var refused []string
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for d := range next {
				for attempt := 1; ctx.Err() == nil; attempt++ {
					nonce := fmt.Sprintf("%s-%d-%d-%d", run, d.msg, d.copy, attempt)
					now := inFlight[d.msg].Add(1)
					for m := maxInFlight.Load(); now > m && !maxInFlight.CompareAndSwap(m, now); m = maxInFlight.Load() {
					}
					code, body := s.postCallback(ctx, hc, bodies[d.msg], nonce)
					inFlight[d.msg].Add(-1)
					got.add(code)
					if code == http.StatusOK {
						break
					}
					if code != 0 && code != http.StatusServiceUnavailable {
						mu.Lock()
						refused = append(refused, fmt.Sprintf("message %d copy %d: %d %s", d.msg, d.copy, code, body))
						mu.Unlock()
						break
					}
					sleep.For(ctx, webhookRetryDelay)
				}
			}
		})
	}
	for _, d := range jobs {
		select {
		case next <- d:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
	if len(refused) > 0 {
		return int(maxInFlight.Load()), fmt.Errorf("the webhook refused %d valid signed copies, e.g. %s", len(refused), refused[0])
	}
	return int(maxInFlight.Load()), ctx.Err()
}

// postCallback posts one signed callback to the account's webhook and
// returns the status (0 when there was no answer) and the body.
func (s *stack) postCallback(ctx context.Context, hc *http.Client, body []byte, nonce string) (int, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.webhookURL(), bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	sinch.SetSignatureHeaders(req.Header, webhookSecret, body, nonce, time.Now())
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, strings.TrimSpace(string(raw))
}
