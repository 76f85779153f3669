package broker

// occupancyClaimFor is how long a subscribe's prepaid occupancy
// (subscribeWork) stands for its topic, in nanoseconds, unless the node
// comes to hold the topic first: a subscribe that is dropped before its
// setup leaves its claim this long at most, and one set up later than
// this may see its topic's occupancy counted once more.
const occupancyClaimFor = int64(10e9)

// occupancyClaims are the new topics whose occupancy a client's subscribe
// or stream was counted as it came and the node does not hold yet, with
// when: the subscribes of such a topic that come before the node holds it
// are counted it no more, as only the first makes the node hold it (ten
// connections of one address sending subscribes of the same 20 new topics
// at once, with webhooks on, had 75 to 136 of 200 through on a burst of
// 300 without them, each counted the 3 more). Guarded by remoteSubs.mu.
type occupancyClaims struct {
	at      map[string]int64
	sweepAt int // len(at) past which expired claims are swept
}

// claimOccupancy reports whether a client's subscribe of topic at now is
// to be counted the topic's occupancy as it comes, claiming it if so:
// not when the node holds the topic, or another's claim stands.
func (r *remoteSubs) claimOccupancy(topic string, now int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.claimableLocked(topic, now) {
		return false
	}
	c := &r.claims
	if c.at == nil {
		c.at = make(map[string]int64)
	}
	if len(c.at) >= c.sweepAt {
		for t, at := range c.at {
			if now-at >= occupancyClaimFor {
				delete(c.at, t)
			}
		}
		c.sweepAt = 2*len(c.at) + 64 // swept again only once it doubled: amortised
	}
	c.at[topic] = now
	return true
}

// claimable reports whether claimOccupancy would claim topic at now,
// claiming nothing.
func (r *remoteSubs) claimable(topic string, now int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.claimableLocked(topic, now)
}

// claimableLocked is claimable with r.mu held.
func (r *remoteSubs) claimableLocked(topic string, now int64) bool {
	if r.byPat[topic] != nil {
		return false
	}
	at, ok := r.claims.at[topic]
	return !ok || now-at >= occupancyClaimFor
}

// endClaim ends topic's claim, once the node holds the topic, and
// reports whether it stood at now: then a subscribe counted the
// occupancy as it came, and the one that made the node hold the topic is
// counted it no more.
func (r *remoteSubs) endClaim(topic string, now int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.claims.at[topic]
	delete(r.claims.at, topic)
	return ok && now-at < occupancyClaimFor
}

// dropClaim ends topic's claim if it is still the one made at claimedAt:
// the subscribe that made it is given its occupancy back, no setup having
// made the node hold the topic on it, and reports whether it did.
func (r *remoteSubs) dropClaim(topic string, claimedAt int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if at, ok := r.claims.at[topic]; !ok || at != claimedAt {
		return false
	}
	delete(r.claims.at, topic)
	return true
}
