package broker

// A client that keeps a member list for long asks presence again now and
// then to set it right (docs/protocol.md section 8): it takes the answer,
// with the joins and leaves that come while it reads, for its list. An
// answer read while Redis lacks a join this node sent (a failover lost
// it, and the node that made it has not added it again yet) leaves the
// user out, and one read while Redis still holds what a leave removed
// lists the user; the repeat that sets Redis right later is not sent to
// a subscription that was sent the first (presence_watchers.go), so its
// list would stay wrong. So an answer to a session that holds a
// presence:true subscription of the topic is checked against what was
// sent: each user within the page whose last change sent before the read
// says otherwise than the page is owed its next change, repeat or not. A
// change sent after the read began may be missing from the page for no
// fault, and the client applies it on top: it is left alone, once sent.
// But a repeat that comes while the read is on its way is not sent to a
// subscription that was sent the first, and the answer may have been
// read before Redis was set right, or after: so it is kept with the read
// (presenceRead), and sent before the answer when the answer says
// otherwise of the user.

// maxOwed bounds the users one subscription is owed. An answer that
// disagrees on more has the subscription get every repeat of a change
// sent before it asked, as a subscription made then would: at worst a
// join of a user it lists, or a leave of one it does not, which changes
// nothing, rather than memory for every user.
const maxOwed = 64

// presenceAsk is a presence read for a session that holds a
// presence:true subscription of the topic.
type presenceAsk struct {
	sub  *subscription // nil: the session has none, nothing to check
	sent uint64        // the changes of the topic sent before the read
}

// askingPresence returns s's ask of topic, before the read.
func (b *Broker) askingPresence(s *Session, topic string) presenceAsk {
	s.mu.Lock() // not held with the index lock: fan-out takes it under that
	sub := s.findLocked(topic)
	s.mu.Unlock()
	if sub == nil || !sub.exact {
		return presenceAsk{}
	}
	sh := b.idx.shard(topic)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	w := sh.watched[topic]
	if w == nil {
		return presenceAsk{}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.from[sub]; !ok {
		return presenceAsk{}
	}
	if w.reading == nil {
		w.reading = make(map[*subscription]*presenceRead)
	}
	w.reading[sub] = &presenceRead{from: w.sent}
	return presenceAsk{sub: sub, sent: w.sent}
}

// answered checks a's answer st, the page after the user after, against
// what a's subscription was sent; read is false when the read failed,
// and there is no answer to check.
func (b *Broker) answered(a presenceAsk, topic, after string, st PresenceState, read bool) {
	if a.sub == nil {
		return
	}
	sh := b.idx.shard(topic)
	sh.mu.RLock()
	w := sh.watched[topic]
	sh.mu.RUnlock()
	if w == nil {
		return
	}
	// The walk of the topic's record (its members, and up to maxLeftKept
	// who left) runs under w.mu only: under the shard's lock too, a
	// subscribe waiting for it would hold up fan-out of every topic of
	// the shard. A w dropped meanwhile no longer counts a.sub, and
	// recheck does nothing.
	batch := batchPool.Get().(*Batch)
	w.recheck(a, after, st, read, batch)
	batch.Flush()
	batchPool.Put(batch)
}

// recheck sends a's subscription the repeats kept from it during a's
// read that st says otherwise than, and owes it the next change of each
// user within st whose last change sent before a's read says otherwise
// than st.
func (w *watchers) recheck(a presenceAsk, after string, st PresenceState, read bool, batch *Batch) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.reading[a.sub]
	delete(w.reading, a.sub)
	if _, ok := w.from[a.sub]; !ok || !read {
		return // it ended meanwhile, or nothing was read
	}
	listed := make(map[string]bool, len(st.Members))
	for _, m := range st.Members {
		listed[m.User] = true
	}
	if r != nil {
		for u, kept := range r.kept {
			if st.covers(after, u) && listed[u] != kept.join {
				a.sub.offerChange(kept.frame, batch)
			}
		}
	}
	for u, t := range w.told {
		if t.n > a.sent || !st.covers(after, u) || listed[u] == t.join {
			continue
		}
		if !w.owe(a.sub, u) {
			w.from[a.sub] = max(w.from[a.sub], a.sent)
			delete(w.owed, a.sub)
			return
		}
	}
}

// owe records that sub is owed u's next change, and reports false when
// sub is owed maxOwed others already. w.mu is held.
func (w *watchers) owe(sub *subscription, u string) bool {
	users := w.owed[sub]
	if _, ok := users[u]; ok {
		return true
	}
	if len(users) >= maxOwed {
		return false
	}
	if users == nil {
		if w.owed == nil {
			w.owed = make(map[*subscription]map[string]struct{})
		}
		users = make(map[string]struct{})
		w.owed[sub] = users
	}
	users[u] = struct{}{}
	return true
}

// presenceRead is a read of a topic's members for a session that holds a
// presence:true subscription of it, from the ask to the answer.
type presenceRead struct {
	from uint64 // the changes of the topic sent before it
	// kept are the repeats not sent to the subscription meanwhile, of
	// the users none of whose changes since the read began was sent to
	// it: the last one of each; nil while there is none.
	kept map[string]keptRepeat
}

// keptRepeat is a repeat kept from a reading subscription.
type keptRepeat struct {
	frame []byte
	join  bool
}

// keep takes c, a repeat encoded in frame whose user's last change before
// it was numbered prev, from its subscription, reporting false when the
// subscription is to be sent it instead: it keeps the repeats of at most
// maxOwed users, past which it gets them, as a subscription made before
// the read would, at worst a join of a user its answer lists. A nil r,
// no read, keeps nothing and takes every repeat. The watchers' mu is
// held.
func (r *presenceRead) keep(c PresenceChange, prev uint64, frame []byte) bool {
	if r == nil {
		return true
	}
	_, have := r.kept[c.User]
	switch {
	case prev > r.from && !have:
		return true // a change of the user sent since the read began says the same
	case !have && len(r.kept) >= maxOwed:
		return false
	}
	if r.kept == nil {
		r.kept = make(map[string]keptRepeat)
	}
	r.kept[c.User] = keptRepeat{frame: frame, join: c.Join}
	return true
}

// sent notes that a change of user was sent to the reading subscription,
// which applies it on top of the answer. A nil r does nothing.
func (r *presenceRead) sent(user string) {
	if r != nil {
		delete(r.kept, user)
	}
}

// covers reports whether st, the page of a topic's members after the
// user after, tells whether user u is there: u sorts after after, and
// before the page's last member when more follow.
func (st PresenceState) covers(after, u string) bool {
	if u <= after {
		return false
	}
	if !st.Truncated {
		return true
	}
	return len(st.Members) > 0 && u <= st.Members[len(st.Members)-1].User
}
