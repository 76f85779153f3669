package transport

// Other nodes behind. In a cluster a message published on one node is
// delivered on every node with subscribers, so a node behind holds the
// other nodes' publishers too (internal/node shares the word through the
// engine). It holds only the publishes to the topics it is busy
// delivering, when it can say which: a publish to a topic it does not
// deliver adds nothing to its backlog.

// OthersBehind is what the other nodes of a cluster that are behind are
// busy delivering; the zero value: no other node is behind.
type OthersBehind struct {
	// All: a node behind did not say which topics (its backlog spans
	// too many, or its release says nothing of topics): every publish
	// waits for it.
	All bool
	// Topics: the publishes to these wait. Without repeats: a list
	// with some is taken as a change each time it is set.
	Topics []string
}

// othersHold is an OthersBehind as Wait checks it: a lookup that
// allocates nothing. It is replaced whole, never changed.
type othersHold struct {
	all    bool
	topics map[string]struct{}
}

// holds reports whether a publish to topic waits for another node; a nil
// hold holds nothing.
func (h *othersHold) holds(topic string) bool {
	if h == nil {
		return false
	}
	if h.all {
		return true
	}
	_, ok := h.topics[topic]
	return ok
}

// same reports whether h holds exactly what o says.
func (h *othersHold) same(o OthersBehind) bool {
	if h == nil {
		return !o.All && len(o.Topics) == 0
	}
	if h.all || o.All {
		return h.all == o.All
	}
	for _, t := range o.Topics {
		if _, ok := h.topics[t]; !ok {
			return false
		}
	}
	return len(h.topics) == len(o.Topics)
}

func newOthersHold(o OthersBehind) *othersHold {
	switch {
	case o.All:
		return &othersHold{all: true}
	case len(o.Topics) == 0:
		return nil
	}
	h := &othersHold{topics: make(map[string]struct{}, len(o.Topics))}
	for _, t := range o.Topics {
		h.topics[t] = struct{}{}
	}
	return h
}

// SetOthersBehind says what the other nodes of the cluster that are
// behind deliver, so that this node's publishes to those topics wait for
// them too. Called by one goroutine at a time, as often as the word is
// read: what did not change costs a comparison, and what did wakes the
// publishers waiting for other nodes to look again.
func (s *Server) SetOthersBehind(o OthersBehind) {
	if s.othersBehind.Load().same(o) {
		return
	}
	if s.othersBehind.Swap(newOthersHold(o)) != nil {
		s.othersGate.open()
	}
}
