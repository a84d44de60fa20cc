package models

import "time"

// AgentEvent is one entry of an agent's event stream (served as Server-Sent
// Events): an interaction assigned or offered, an inbound message, a message
// status. Rows are written by activities on the worker and read by the API,
// which may run in another process; the id orders the stream and is the SSE
// event id, so a reconnecting client resumes with Last-Event-ID.
type AgentEvent struct {
	ID      uint64 `gorm:"primaryKey"`
	AgentID uint64 `gorm:"not null;index:ix_agent_events_stream,priority:1"`
	// Type is interaction.assigned, interaction.offered, interaction.closed,
	// interaction.transferred, message.inbound or message.status.
	Type          string `gorm:"size:64;not null"`
	InteractionID uint64 `gorm:"not null;default:0"`
	// Data is the JSON body of the event.
	Data string `gorm:"type:text;not null"`
	// DedupKey makes the write of a retried activity a no-op.
	DedupKey  string    `gorm:"size:255;not null;uniqueIndex"`
	CreatedAt time.Time `gorm:"index"`
}
