package broker

import "sync"

// An engine may hand over a join or a leave that says of its user what
// the last change of that user it handed over said: store/redis does
// after a failover that lost the first from Redis once the nodes had
// handed it over, when the node that made it adds its entry again, or
// removes it again. A subscription that was sent the first must not get
// the second (joins and leaves of a user alternate on every
// subscription, docs/protocol.md section 8); one that came after the
// first was sent needs it: its member list was read from Redis after the
// loss, without the join (or still with the user the leave removed), and
// the second is the one change that sets it right.
//
// So each topic with presence:true subscriptions on this node keeps
// what the last change sent of each user said, numbered in the order
// they were sent, and the number each subscription started at: a repeat
// goes to the subscriptions that started after the change it repeats,
// and to those a presence answer since told otherwise of the user
// (presence_recheck.go), and to no other. A topic without such
// subscriptions keeps nothing: nobody here was sent anything a repeat
// could repeat. A presence:true subscription costs its entry in from:
// 18 to 36 bytes (measured with 100 to 10,000 of them).

// maxLeftKept is how many more users who left than users present a
// topic's record keeps. Past it the users who left are forgotten, all at
// once, so that a topic with many comings and goings costs memory for
// about its members only; a repeated leave of a user forgotten goes to
// every subscription.
const maxLeftKept = 1024

// watchers are a topic's presence:true subscriptions on this node, and
// what was sent to them. Subscriptions enter and leave with the topic's
// index write lock held; changes are sent with its read lock and mu.
type watchers struct {
	mu sync.Mutex
	// from is, per subscription, the number of changes sent before it
	// started: it was sent those numbered after.
	from map[*subscription]uint64
	// sent numbers the changes sent, the last one's number.
	sent uint64
	// told is what the last change sent of each user said, and its
	// number; in counts the users whose last change was a join.
	told map[string]toldChange
	in   int
	// owed are, per subscription, the users whose next change it is to
	// get even when it is a repeat: a presence answer it was given said
	// otherwise of them (presence_recheck.go); nil while none is.
	owed map[*subscription]map[string]struct{}
	// reading are the subscriptions whose session reads the topic's
	// members now, with the repeats kept from them meanwhile
	// (presence_recheck.go); nil while none does.
	reading map[*subscription]*presenceRead
}

// toldChange is the last change sent of one user.
type toldChange struct {
	n    uint64
	join bool
	// session caused the join (joins only): the engine tells a lost
	// join's leave apart by it (presence_lost.go).
	session string
}

// add counts sub in from now on. The index write lock is held.
func (w *watchers) add(sub *subscription) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.from[sub] = w.sent
}

// remove stops counting sub and reports whether no subscription is left.
// The index write lock is held.
func (w *watchers) remove(sub *subscription) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.from, sub)
	delete(w.owed, sub)
	delete(w.reading, sub)
	return len(w.from) == 0
}

// send offers c, encoded in frame, to each subscription it is to go to
// but those of the session cause: every one, unless c says of its user
// what the last change sent of it did; then those that started after
// that change, those owed the user's next one, and those reading the
// members that cannot keep it for their answer (presenceRead.keep).
// The index read lock is held.
func (w *watchers) send(c PresenceChange, cause [16]byte, frame []byte, batch *Batch) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sendLocked(c, cause, frame, batch)
}

// sendLocked is send with w.mu held.
func (w *watchers) sendLocked(c PresenceChange, cause [16]byte, frame []byte, batch *Batch) {
	last, known := w.told[c.User]
	repeat := known && last.join == c.Join
	w.sent++
	w.record(c, last, known)
	for sub, from := range w.from {
		if sub.session.id == cause {
			continue
		}
		r := w.reading[sub]
		if _, owed := w.owed[sub][c.User]; !repeat || from >= last.n || owed || !r.keep(c, last.n, frame) {
			sub.offerChange(frame, batch)
			r.sent(c.User)
		}
	}
	for sub, users := range w.owed { // every one that owed it was sent it
		delete(users, c.User)
		if len(users) == 0 {
			delete(w.owed, sub)
		}
	}
}

// record keeps c as the last change sent of its user, last being the one
// before (known: there was one). w.mu is held.
func (w *watchers) record(c PresenceChange, last toldChange, known bool) {
	if w.told == nil {
		w.told = make(map[string]toldChange)
	}
	t := toldChange{n: w.sent, join: c.Join}
	if c.Join {
		t.session = c.Session
	}
	w.told[c.User] = t
	switch {
	case c.Join && !(known && last.join):
		w.in++
	case !c.Join && known && last.join:
		w.in--
	}
	if len(w.told) > 2*w.in+maxLeftKept {
		for u, t := range w.told {
			if !t.join {
				delete(w.told, u)
			}
		}
	}
}

// watch counts sub among its topic's watchers. sh is sub's shard, its
// write lock held; sub is exact, indexed, and asks for presence.
func (sh *exactShard) watch(sub *subscription) {
	w := sh.watched[sub.pattern]
	if w == nil {
		w = &watchers{from: make(map[*subscription]uint64)}
		if sh.watched == nil {
			sh.watched = make(map[string]*watchers)
		}
		sh.watched[sub.pattern] = w
	}
	w.add(sub)
}

// unwatch stops counting sub among its topic's watchers, forgetting the
// topic's record with its last one. sh's write lock is held.
func (sh *exactShard) unwatch(sub *subscription) {
	if w := sh.watched[sub.pattern]; w != nil && w.remove(sub) {
		delete(sh.watched, sub.pattern)
	}
}
