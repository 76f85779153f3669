package broker

import "time"

// chargeClose takes from the budget of s's address one command for each
// of the n subscriptions its close ends, as many as unsubscribing from
// them would have taken: the engine unsubscribes each (in Redis, as much
// work as subscribing) and leaves its presence. Left uncounted, an
// address that subscribed to its budget's worth of new topics, closed
// and connected again had Redis do twice the work its budget counts,
// over and over. What an empty budget cannot take is owed, one burst at
// most (AddressSpender), so that the address's next commands wait; the
// close itself is never refused nor cut short: every subscription is
// released, whatever the budget holds. Called once, by the call that
// ends s, before its connection gives its address's slot back, so that
// an address whose last connection this was is remembered with what it
// owes (api/limits).
func (s *Session) chargeClose(n int) {
	s.chargeAddress(time.Now().UnixNano(), n)
}
