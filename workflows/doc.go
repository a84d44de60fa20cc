// Package workflows holds the connector's Temporal workflows, the names and
// payloads of their signals, updates and queries (messages.go), and the
// helpers that build workflow IDs (ids.go). Workflow code is deterministic:
// it reaches the outside world only through the activities package. It
// imports the Temporal SDK's workflow packages, its own payloads and the
// activities' names and types; never gorm or the Temporal client (the
// hand-over of inbound messages is the inbound package's).
package workflows
