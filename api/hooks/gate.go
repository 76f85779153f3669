package hooks

// gate bounds how many requests of one hook run at once, so that a flood
// of connections or subscriptions cannot open unbounded outbound requests:
// past the bound a request is refused at once (unavailable), which costs
// the backend nothing.
type gate chan struct{}

// DefaultMaxInFlight is how many connect (and, apart, subscribe) hook
// requests a node runs at once. At the default 3 s timeout it still lets
// through about 170 requests a second to a backend that hangs, and
// thousands to one that answers in milliseconds.
const DefaultMaxInFlight = 512

func newGate(n int) gate {
	if n <= 0 {
		n = DefaultMaxInFlight
	}
	return make(gate, n)
}

// enter takes a place, or says there is none.
func (g gate) enter() bool {
	select {
	case g <- struct{}{}:
		return true
	default:
		return false
	}
}

func (g gate) leave() { <-g }
