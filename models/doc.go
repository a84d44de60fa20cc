// Package models holds the connector's gorm entities, one file per table,
// their typed status enums, and the versioned schema migrations that run
// identically on PostgreSQL and SQLite. It imports nothing of this module.
package models
