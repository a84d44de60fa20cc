// Package workflows holds the connector's Temporal workflows, the names and
// payloads of their signals, updates and queries (messages.go), and the
// helpers that build workflow IDs (ids.go). Workflow code is deterministic:
// it reaches the outside world only through the activities package.
package workflows
