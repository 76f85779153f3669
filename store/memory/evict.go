package memory

// account brings tp's charge up to date after a publish (keysEvicted: its
// keys the per-topic bound pushed out), makes it the most recent topic and
// gives memory back while the budget is over. It returns the topics whose
// state went, for the caller to take out of the table once it released its
// locks. Callers hold tp.publishMu and tp.mu.
func (e *Engine) account(tp *topic, keysEvicted int) (dropped []*topic) {
	b := e.budget
	b.mu.Lock()
	defer b.mu.Unlock()
	b.keysEvicted += uint64(keysEvicted)
	b.charge(tp)
	b.touch(tp)
	return e.reclaim(tp)
}

// recharge brings tp's charge up to date after it only shrank. Callers
// hold tp.mu.
func (e *Engine) recharge(tp *topic) {
	e.budget.mu.Lock()
	defer e.budget.mu.Unlock()
	e.budget.charge(tp)
}

// reclaim gives memory back until the budget holds, least recently
// published topics first: their history, then their state (bareShare).
// self is the topic being published to, whose locks the caller holds: it
// loses its own oldest messages and keys only when no other topic has
// anything left to give. Callers hold self.mu and the budget's mu.
func (e *Engine) reclaim(self *topic) (dropped []*topic) {
	b := e.budget
	for b.used > b.limit {
		v, whole := b.victim(self)
		switch {
		case v == nil:
			e.trim(self)
			return dropped
		case whole:
			e.evictState(v)
			dropped = append(dropped, v)
		default:
			e.evictHistory(v)
		}
	}
	return dropped
}

// victim picks, and locks, the topic to take memory from next: the least
// recently published topic holding history, unless states without history
// are over their share; whole says its state goes. Callers hold b.mu.
func (b *budget) victim(self *topic) (v *topic, whole bool) {
	if b.bare.bytes > b.limit/bareShare {
		if v = b.bare.lockFromTail(self, true); v != nil {
			return v, true
		}
	}
	if v = b.hist.lockFromTail(self, false); v != nil {
		return v, false
	}
	v = b.bare.lockFromTail(self, true)
	return v, v != nil
}

// evictHistory drops every message of v, which keeps its seq and epoch:
// its next publish goes on numbering, and a resume from before answers
// recovered:false. Callers hold b.mu and v.mu, which it releases.
func (e *Engine) evictHistory(v *topic) {
	defer v.mu.Unlock()
	b := e.budget
	b.historyEvictions++
	b.messagesEvicted += uint64(v.dropHistory())
	b.charge(v)
	b.touch(v)
}

// evictState drops v whole. Callers hold b.mu, v.publishMu and v.mu, which
// it releases.
func (e *Engine) evictState(v *topic) {
	defer v.publishMu.Unlock()
	defer v.mu.Unlock()
	b := e.budget
	b.topicEvictions++
	if v.history.n > 0 {
		b.historyEvictions++
		b.messagesEvicted += uint64(v.history.n)
	}
	b.keysEvicted += uint64(v.keys.len())
	e.free(v)
}

// trim drops self's oldest messages, then its oldest keys, while the
// budget is over: what is left when every other topic gave all it could
// (or is in use right now). Callers hold self.mu and b.mu.
func (e *Engine) trim(self *topic) {
	b := e.budget
	dropped := uint64(0)
	for b.used > b.limit && self.dropOldest() {
		dropped++
		b.charge(self)
	}
	for b.used > b.limit && self.keys.len() > 0 {
		self.keys.popFront()
		b.keysEvicted++
		b.charge(self)
	}
	if dropped > 0 {
		b.historyEvictions++
		b.messagesEvicted += dropped
		b.touch(self) // to bare when nothing is left
	}
}

// free drops tp's state: its next publish starts the next generation, in
// a new epoch (lives). The table entry goes with the caller's next step.
// Callers hold tp.mu (and tp.publishMu, so that no delivery of tp overlaps
// its next state's) and the budget's mu.
func (e *Engine) free(tp *topic) {
	e.lives.ended(tp.name, tp.gen)
	tp.dead.Store(true)
	tp.dropHistory()
	tp.keys = idemKeys{}
	e.budget.forget(tp)
}

// expire is the janitor's pass over one topic: it forgets expired keys,
// and a topic past its TTL loses its history, and its state too once no
// key keeps it (it reports true: the caller drops it from the table). A
// topic someone holds is in use and left for a later pass.
func (e *Engine) expire(tp *topic, now int64) bool {
	if tp.dead.Load() {
		return true // evicted; its evictor has yet to take it out of the table
	}
	if !tp.publishMu.TryLock() {
		return false
	}
	defer tp.publishMu.Unlock()
	if !tp.mu.TryLock() {
		return false
	}
	defer tp.mu.Unlock()
	if tp.dead.Load() {
		return true // evicted between the check above and the locks: charging it would count a state no list holds
	}
	tp.keys.expire(now, int64(e.cfg.IdempotencyTTL))
	idle := tp.idle(now, e.ttl())
	b := e.budget
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case idle && tp.keys.len() == 0:
		e.free(tp)
		return true
	case idle && tp.history.n > 0:
		tp.dropHistory()
		b.charge(tp)
		b.retire(tp)
	default:
		b.charge(tp)
	}
	return false
}
