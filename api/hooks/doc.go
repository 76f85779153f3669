// Package hooks is Herald's outbound HTTP to the application's backend
// (docs/protocol.md section 11): the connect hook that says who a
// connection without a token is, the subscribe hook that says whether a
// subscription may start, and the webhooks that tell the backend what
// happened. Every request goes through one Client: signed, bounded in
// time and in how many run at once (on the node, and for one client
// address), over reused keep-alive connections, and counted in /metrics.
//
// The broker and the api declare the small interfaces they call
// (broker.SubscribeAuthorizer, broker.EventReporter,
// api.ConnectAuthorizer); this package implements them, so that neither
// of those knows how a backend is reached.
package hooks
