package broker

import (
	"context"
	"net/netip"
)

// MaxInfoBytes bounds a connection's info claim, from a token or the
// connect hook (docs/protocol.md section 8): its JSON text.
const MaxInfoBytes = 1024

// MaxUserBytes bounds a connection's user (a token's sub, the connect
// hook's user), so that one presence member has a bound a presence page
// can always hold (MaxMemberBytes).
const MaxUserBytes = 256

// SubscribeAuthorizer is the subscribe hook (docs/protocol.md section 11):
// the backend says whether a subscription may start. api/hooks implements
// it over HTTP.
type SubscribeAuthorizer interface {
	// Asks reports whether a subscription to pattern must be authorized,
	// and whether that authorization replaces the permissions' check
	// (the pattern falls wholly under the hooked topics) or comes on top
	// of it (it only overlaps them).
	Asks(pattern string) (ask, replacesPerms bool)
	// AuthorizeSubscribe returns nil to accept, or a *Error: forbidden
	// when the backend refused, unavailable when it could not tell,
	// rate_limited when r.Client already waits for too many answers.
	AuthorizeSubscribe(ctx context.Context, r SubscribeRequest) error
}

// SubscribeRequest is what the subscribe hook is asked.
type SubscribeRequest struct {
	Session string `json:"session"`
	User    string `json:"user"`
	Topic   string `json:"topic"`
	// Client is the connection's address (ClientInfo.RemoteAddr; the zero
	// Addr when it has none). The backend is not sent it: the hook bounds
	// each address's share of its requests by it.
	Client netip.Addr `json:"-"`
}
