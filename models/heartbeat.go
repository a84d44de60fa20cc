package models

import "time"

// Heartbeat is the last time a role of the connector was known alive.
// The API writes "webhook" while it serves Sinch's callbacks; at start-up
// a gap longer than RECONCILE_AFTER_OUTAGE means callbacks may have been
// given up by Sinch, and a reconciliation is started.
type Heartbeat struct {
	Name   string    `gorm:"primaryKey;size:64"`
	SeenAt time.Time `gorm:"not null"`
}
