package activities

// Application error types returned by activities. Permanent failures are
// returned as non-retryable application errors with one of these types, so
// workflows branch on appErr.Type() and never on message text.
const (
	// ErrTypeSchemaOutdated: the database schema is older than the binary.
	ErrTypeSchemaOutdated = "SchemaOutdated"
)
