package broker

// AddressSubscriptions is an AddressPacer that also bounds the
// subscriptions all the connections of its address hold together
// (docs/protocol.md section 6; api/limits's per-address entry). Each
// connection may hold MaxSubscriptions, each about a kilobyte with a long
// topic (620 KB of heap for 1,000 topics of 255 bytes, their index
// included), and an address may hold HERALD_MAX_CONNECTIONS_PER_IP
// connections: some 620 MB for 1,000 of them. The session asks it holding its mu: it must be quick
// and safe for concurrent use.
type AddressSubscriptions interface {
	// TakeSubscription counts one more subscription of the address, or
	// reports false, counting nothing, when it holds its bound.
	TakeSubscription() bool
	// GiveSubscriptions gives back n that ended.
	GiveSubscriptions(n int)
	// MaxSubscriptions is the bound, for the refusal's message.
	MaxSubscriptions() int
}

// addressSubscriptions is the bound of s's address; nil: none.
func (s *Session) addressSubscriptions() AddressSubscriptions {
	a, _ := s.pacer.(AddressSubscriptions)
	return a
}

// takeAddressSubscription counts one more subscription of s in its
// address's bound; an error when the address holds it. Called with mu
// held, before addLocked.
func (s *Session) takeAddressSubscription() *Error {
	a := s.addressSubscriptions()
	if a == nil || a.TakeSubscription() {
		return nil
	}
	return Errorf(CodeTooManySubscriptions, "at most %d subscriptions from this address", a.MaxSubscriptions())
}

// giveAddressSubscriptions gives back n subscriptions of s that left its
// list. Called with mu held.
func (s *Session) giveAddressSubscriptions(n int) {
	if a := s.addressSubscriptions(); a != nil && n > 0 {
		a.GiveSubscriptions(n)
	}
}
