package broker

import "time"

// Close codes of docs/protocol.md section 6, in one place.
const (
	CloseNormal           = 1000
	CloseGoingAway        = 1001 // the server is shutting down
	CloseProtocolError    = 1002
	CloseUnsupportedData  = 1003 // a binary frame
	CloseInvalidPayload   = 1007 // text that is not UTF-8
	ClosePolicyViolation  = 1008 // a message not completed in time, an address's unfinished messages past its bound (since 1.1)
	CloseMessageTooBig    = 1009
	CloseSlowConsumer     = 4000
	CloseTokenExpired     = 4001
	CloseHeartbeatTimeout = 4002
	CloseTooManyErrors    = 4003
	CloseDisconnected     = 4004 // by the backend (docs/protocol.md section 9)
)

// Conn is one client connection as the broker sees it; transport implements
// it. Both methods are safe from any goroutine and never block.
type Conn interface {
	// Send queues one complete WebSocket frame. The frame is shared with
	// other connections: nobody may modify it after the call, and the
	// connection keeps it only until written. False means the connection is
	// closing (or its queue just overflowed and it closes with 4000).
	Send(frame []byte) bool

	// Close sends a close frame with code and reason after what is already
	// queued, then closes the connection. Calling it again does nothing.
	Close(code int, reason string)
}

// Permissions says what a client may do. A nil Permissions allows all.
type Permissions interface {
	CanSubscribe(pattern string) bool
	CanPublish(topic string) bool
}

// SubscribeComparer is what a Permissions may also be: one that tells
// whether another allows exactly the subscriptions it allows. A refresh
// re-checks every subscription of its connection, each check costing the
// length of the token's allow list, so a client resending one token, a
// hundred times a second, on 1,000 subscriptions with an allow list of 200
// patterns took 10 ms of the node's CPU a refresh. A refresh whose token
// allows the same subscriptions as the one in force (the usual renewal of
// exp) checks none.
type SubscribeComparer interface {
	// SameSubscribe reports whether other allows exactly the
	// subscriptions this allows; false when it cannot tell.
	SameSubscribe(other Permissions) bool
}

// ClientInfo is what is known of a client when it connects.
type ClientInfo struct {
	RemoteAddr string
	Subject    string      // the token's sub; empty when anonymous
	Perms      Permissions // nil: allowed everything
	Expires    time.Time   // when the token expires; zero: never
	// Framing is how the connection takes server messages; the transport
	// sets it from what the upgrade negotiated. Zero: FramingWebSocket.
	Framing Framing
	// Session is the id the connection's welcome carries, when the
	// caller chose it before connecting (the connect hook names it to the
	// backend); empty or not a uuid: Connect makes one.
	Session string
	// Info is the token's info claim: a JSON object of at most
	// MaxInfoBytes, nil when none. It is the identity the connection's
	// presence entries carry beside Subject (docs/protocol.md section 8).
	Info []byte
	// Subs are the topics or patterns the connection is subscribed to as
	// it opens, whatever Perms says (the token's subs claim, section 9).
	// CheckClient bounds them.
	Subs []string
	// Pacer is the command budget of the client's address, shared by
	// all its connections; nil: none, only the connection's own rate.
	Pacer AddressPacer
	// SubsPaid is what PaceSubs took from Pacer for Subs as the
	// WebSocket connected; Connect gives back the part of each topic it
	// does not set up. nil: nothing to give back.
	SubsPaid *SubsCharge
}

// AddressPacer is the command budget of one client address, shared by
// every connection from it (docs/protocol.md section 6); api/limits keeps
// one per address, and hands it to each connection's session. The session
// asks it once for each command and ping that its own connection's rate
// lets through, holding its mu: it must be quick and safe for concurrent
// use, and it is never asked on the fan-out path.
type AddressPacer interface {
	// AllowCommand takes one command from the budget at now (Unix
	// nanoseconds), or reports false when the budget is spent.
	AllowCommand(now int64) bool
}
