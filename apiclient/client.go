// Package apiclient is a small client of the connector's own admin API, used
// by `connector dev --demo` and the benchmarks to configure accounts, queues
// and agents exactly as an administrator would (through validation).
// It speaks only HTTP: it never touches the database or the engine.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/xcally-connector/connector/api"
)

// Client calls the API at BaseURL with a bearer token.
type Client struct {
	BaseURL string
	Token   string
	HTTP    *http.Client
}

// Do sends a JSON request and decodes a JSON answer into out (when non-nil).
// A status of 300 or more is an error carrying the API's error body.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(raw))
	}
	if out != nil && len(raw) > 0 {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// CreateAccount creates a WhatsApp account.
func (c *Client) CreateAccount(ctx context.Context, req map[string]any) (api.AccountResponse, error) {
	var out api.AccountResponse
	return out, c.Do(ctx, http.MethodPost, "/api/whatsapp/accounts", req, &out)
}

// CreateQueue creates a queue with a strategy.
func (c *Client) CreateQueue(ctx context.Context, name, strategy string) (api.QueueResponse, error) {
	var out api.QueueResponse
	return out, c.Do(ctx, http.MethodPost, "/api/queues", map[string]any{"name": name, "strategy": strategy}, &out)
}

// LinkQueueAccount routes an account's interactions through a queue.
func (c *Client) LinkQueueAccount(ctx context.Context, queueID, accountID uint64) error {
	return c.Do(ctx, http.MethodPut, fmt.Sprintf("/api/queues/%d/accounts/%d", queueID, accountID), nil, nil)
}

// AddAgent creates an agent and readies it (see ReadyAgent).
func (c *Client) AddAgent(ctx context.Context, name string, capacity int, queueID, accountID uint64) (api.AgentCreatedResponse, error) {
	var ag api.AgentCreatedResponse
	if err := c.Do(ctx, http.MethodPost, "/api/agents", map[string]any{"name": name, "capacity": capacity}, &ag); err != nil {
		return ag, err
	}
	return ag, c.ReadyAgent(ctx, ag.ID, queueID, accountID)
}

// ReadyAgent makes the agent a member of the queue, enables the account for
// it and sets it available: ready to receive interactions. Every step is
// idempotent.
func (c *Client) ReadyAgent(ctx context.Context, agentID, queueID, accountID uint64) error {
	steps := []struct {
		path string
		body any
	}{
		{fmt.Sprintf("/api/queues/%d/agents/%d", queueID, agentID), nil},
		{fmt.Sprintf("/api/agents/%d/accounts/%d", agentID, accountID), nil},
		{fmt.Sprintf("/api/agents/%d/presence", agentID), map[string]string{"status": "available"}},
	}
	for _, st := range steps {
		if err := c.Do(ctx, http.MethodPut, st.path, st.body, nil); err != nil {
			return err
		}
	}
	return nil
}
