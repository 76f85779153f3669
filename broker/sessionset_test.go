package broker

import (
	"hash/maphash"
	"math/rand/v2"
	"testing"
)

// TestSessionSetAgreesWithAMap runs random adds and removes of 300
// sessions against a map of the same: the table runs up to three
// quarters full, so probes collide and removals shift others back.
func TestSessionSetAgreesWithAMap(t *testing.T) {
	set := newSessionSet(maphash.MakeSeed())
	want := map[[16]byte]*Session{}
	rng := rand.New(rand.NewPCG(1, 2))
	var pool []*Session
	for i := range 300 {
		var s Session
		s.id[0], s.id[1] = byte(i), byte(i>>8)
		pool = append(pool, &s)
	}
	for step := range 20_000 {
		s := pool[rng.IntN(len(pool))]
		if rng.IntN(3) == 0 {
			set.remove(s)
			delete(want, s.id)
		} else {
			set.add(s)
			want[s.id] = s
		}
		if step%97 == 0 {
			checkSessionSet(t, &set, pool, want)
		}
	}
	for _, s := range pool {
		set.remove(s)
	}
	if set.n != 0 || len(set.slots) > minSessionSlots*2 {
		t.Fatalf("emptied set holds %d in %d slots", set.n, len(set.slots))
	}
}

func checkSessionSet(t *testing.T, set *sessionSet, pool []*Session, want map[[16]byte]*Session) {
	t.Helper()
	if set.n != len(want) {
		t.Fatalf("set holds %d, map %d", set.n, len(want))
	}
	for _, s := range pool {
		if got := set.find(s.id); got != want[s.id] {
			t.Fatalf("find %x: %p, want %p", s.id[:2], got, want[s.id])
		}
	}
}

// A session replaced by another with its id stays out when it goes.
func TestSessionSetRemovesOnlyTheSessionItHolds(t *testing.T) {
	set := newSessionSet(maphash.MakeSeed())
	a, b := &Session{id: [16]byte{7}}, &Session{id: [16]byte{7}}
	set.add(a)
	set.add(b)
	set.remove(a)
	if set.find(b.id) != b || set.n != 1 {
		t.Fatalf("removing the replaced session dropped its successor")
	}
}
