// Package ptr holds helpers for optional values given as pointers (JSON
// fields that may be absent, nullable columns). It is a leaf library: it
// imports nothing of the connector.
package ptr

// Value is the value p points to, or T's zero value when p is nil.
func Value[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

// To returns a pointer to a copy of v (for optional fields of rows and
// payloads).
func To[T any](v T) *T { return &v }
