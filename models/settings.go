package models

import (
	"encoding/json"
	"fmt"
)

// TransferOptions limit where an agent may transfer an account's
// interactions. A nil list allows any target of that kind, an empty one
// none. ReturnToQueueAfterSeconds > 0 makes a transfer to an agent wait
// for that agent to accept it: when the agent has not accepted in time,
// the interaction goes back to its queue.
type TransferOptions struct {
	Queues                    []uint64 `json:"queues"`
	Agents                    []uint64 `json:"agents"`
	ReturnToQueueAfterSeconds int      `json:"returnToQueueAfterSeconds"`
}

// FlowStep is one step of an account's action flow: wait in Queue for
// Seconds (0: until an agent takes it), or send Reply to the customer.
type FlowStep struct {
	Queue   uint64 `json:"queue,omitempty"`
	Seconds int    `json:"seconds,omitempty"`
	Reply   string `json:"reply,omitempty"`
}

// Transfer decodes the account's transfer options (nil when not set).
func (a Account) Transfer() (*TransferOptions, error) {
	if a.TransferOptions == "" {
		return nil, nil
	}
	var t TransferOptions
	if err := json.Unmarshal([]byte(a.TransferOptions), &t); err != nil {
		return nil, fmt.Errorf("account %d: transfer options: %w", a.ID, err)
	}
	return &t, nil
}

// Flow decodes the account's action flow (nil when not set).
func (a Account) Flow() ([]FlowStep, error) {
	if a.ActionFlow == "" {
		return nil, nil
	}
	var steps []FlowStep
	if err := json.Unmarshal([]byte(a.ActionFlow), &steps); err != nil {
		return nil, fmt.Errorf("account %d: action flow: %w", a.ID, err)
	}
	return steps, nil
}
