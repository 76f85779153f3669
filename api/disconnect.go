package api

import "github.com/herald-broker/herald/transport"

var _ transport.CodeReceiver = (*releasingReceiver)(nil)

// DisconnectedWith passes the close code on to the session, which reports
// it to the webhooks, then gives back the connection's slot.
func (r *releasingReceiver) DisconnectedWith(code int) {
	if cr, ok := r.Receiver.(transport.CodeReceiver); ok {
		cr.DisconnectedWith(code)
	} else {
		r.Receiver.Disconnected()
	}
	r.releaseSlots()
}
