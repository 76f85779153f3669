package broker

import "hash/maphash"

// sessionSet holds sessions by id: an open-addressing table with linear
// probing and backward-shift deletion, 8 bytes a slot, at most three
// quarters full. A map keyed by the 16-byte id cost a connection about
// 48 bytes (a 24-byte slot and its control byte, at the load a Go map
// keeps); this costs it 11 to 21. Not safe for concurrent use.
type sessionSet struct {
	seed  maphash.Seed
	slots []*Session // a power of two in length, or none
	n     int
}

const minSessionSlots = 8

func newSessionSet(seed maphash.Seed) sessionSet {
	return sessionSet{seed: seed}
}

func (t *sessionSet) home(id *[16]byte) int {
	return int(maphash.Bytes(t.seed, id[:]) & uint64(len(t.slots)-1))
}

// add puts s in, in place of a session with the same id.
func (t *sessionSet) add(s *Session) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.resize(max(minSessionSlots, 2*len(t.slots)))
	}
	mask := len(t.slots) - 1
	for i := t.home(&s.id); ; i = (i + 1) & mask {
		switch have := t.slots[i]; {
		case have == nil:
			t.slots[i] = s
			t.n++
			return
		case have.id == s.id:
			t.slots[i] = s
			return
		}
	}
}

// find returns the session with id, or nil.
func (t *sessionSet) find(id [16]byte) *Session {
	if t.n == 0 {
		return nil
	}
	mask := len(t.slots) - 1
	for i := t.home(&id); t.slots[i] != nil; i = (i + 1) & mask {
		if t.slots[i].id == id {
			return t.slots[i]
		}
	}
	return nil
}

// remove takes s out, if it is there; another session with its id stays.
func (t *sessionSet) remove(s *Session) {
	if t.n == 0 {
		return
	}
	mask := len(t.slots) - 1
	i := t.home(&s.id)
	for t.slots[i] != s {
		if t.slots[i] == nil {
			return
		}
		i = (i + 1) & mask
	}
	// Shift back the sessions after i that probed past it, so that every
	// one stays reachable from its home without tombstones.
	for j := (i + 1) & mask; t.slots[j] != nil; j = (j + 1) & mask {
		if k := t.home(&t.slots[j].id); (j-k)&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = nil
	t.n--
	if len(t.slots) > minSessionSlots && t.n*8 < len(t.slots) {
		t.resize(len(t.slots) / 2) // give back what a burst left
	}
}

func (t *sessionSet) resize(size int) {
	old := t.slots
	t.slots, t.n = make([]*Session, size), 0
	for _, s := range old {
		if s != nil {
			t.add(s)
		}
	}
}
