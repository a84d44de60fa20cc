package activities

import (
	"errors"

	"gorm.io/gorm"
)

// Application error types returned by activities. Permanent failures are
// returned as non-retryable application errors with one of these types, so
// workflows branch on appErr.Type() and never on message text.
const (
	// ErrTypeSchemaOutdated: the database schema is older than the binary.
	ErrTypeSchemaOutdated = "SchemaOutdated"
	// ErrTypeBadInput: the activity was called with input it can never accept.
	ErrTypeBadInput = "BadInput"
	// ErrTypeNotOpen: the interaction is closed (or gone).
	ErrTypeNotOpen = "InteractionNotOpen"
	// ErrTypeNotEligible: the agent or queue cannot take the interaction
	// (account not enabled, capacity reached, deleted, …).
	ErrTypeNotEligible = "NotEligible"
)

func isNotFound(err error) bool { return errors.Is(err, gorm.ErrRecordNotFound) }
