// Package principal is who calls the API: the admin or one agent. The API
// resolves it from a bearer token; the console, which calls the API's
// handlers in-process for a signed-in session, hands it over in the
// request's context, where no client on the wire can put it. It imports
// nothing of ours and must not: both sides of that hand-over use it.
package principal

import "context"

// Principal is the caller: the admin, or one agent.
type Principal struct {
	// Admin is true for the bearer of ADMIN_TOKEN.
	Admin bool
	// AgentID is the calling agent (0 for the admin).
	AgentID uint64
	// TokenHash is the agent token's stored hash: a long-lived stream or
	// console session checks it is still the agent's (rotation and
	// deletion end them).
	TokenHash string
}

// CanActAs reports whether the caller may act for agentID: the admin may
// act for every agent, an agent only for itself.
func (p Principal) CanActAs(agentID uint64) bool {
	return p.Admin || (p.AgentID != 0 && p.AgentID == agentID)
}

type ctxKey struct{}

// With returns ctx carrying p: a request built with it reaches the API's
// handlers as p, without a bearer token.
func With(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// From returns the Principal that With put in ctx.
func From(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}
