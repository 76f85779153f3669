package broker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// A join the engine handed over and no longer lists (a failover lost it,
// and the node that made it died) has its leave sent by SendLostLeaves,
// once; a member the engine lists, and a user whose last change was a
// leave, get nothing.
func TestLostJoinsHaveTheirLeavesSent(t *testing.T) {
	b, e := presenceBroker(t)
	w := watch(t, b)
	b.HandlePresence(change("lost", true)) // never in the engine
	if err := e.AddPresence(context.Background(), PresenceEntry{Topic: "room.1", Session: uuid.NewString(), User: "kept"}); err != nil {
		t.Fatal(err)
	}
	b.HandlePresence(change("gone", true))
	b.HandlePresence(change("gone", false))
	w.waitChanges(t, 4)
	for range 2 {
		if err := b.SendLostLeaves(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	b.HandlePresence(change("v", true)) // after them all, to wait for
	want := []string{"join lost", "join kept", "join gone", "leave gone", "leave lost", "join v"}
	if got := w.waitChanges(t, len(want)); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// Changes of the user that come while the engine is read are the ones
// sent: the leave the read would send is not sent after them (here the
// user left and came back meanwhile, and is present).
func TestLostLeaveGivesWayToAChangeThatCameMeanwhile(t *testing.T) {
	b, e := presenceBroker(t)
	w := watch(t, b)
	b.HandlePresence(change("u", true))
	w.waitChanges(t, 1)
	e.pres.mu.Lock()
	e.pres.whileLostJoins = func() {
		b.HandlePresence(change("u", false))
		b.HandlePresence(change("u", true))
	}
	e.pres.mu.Unlock()
	if err := b.SendLostLeaves(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.HandlePresence(change("v", true))
	want := []string{"join u", "leave u", "join u", "join v"}
	if got := w.waitChanges(t, len(want)); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// The engine is asked about each join by the session that caused the
// last join sent of its user, a repeat's included: the nodes that sent
// one join name it alike, and the engine reports its leave's
// member_removed once by that name. A user whose last change was a
// leave is not asked about.
func TestLostJoinsAreNamedByTheirSession(t *testing.T) {
	b, e := presenceBroker(t)
	w := watch(t, b)
	first, again := change("ada", true), change("ada", true) // a repeat after a failover
	b.HandlePresence(first)
	b.HandlePresence(again)
	bob := change("bob", true)
	b.HandlePresence(bob)
	b.HandlePresence(change("cy", true))
	b.HandlePresence(change("cy", false))
	w.waitChanges(t, 4)
	if err := b.SendLostLeaves(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.pres.mu.Lock()
	got := e.pres.checked
	e.pres.mu.Unlock()
	slices.SortFunc(got, func(x, y SentJoin) int { return strings.Compare(x.User, y.User) })
	want := []SentJoin{{User: "ada", Session: again.Session}, {User: "bob", Session: bob.Session}}
	if !slices.Equal(got, want) {
		t.Errorf("asked about %v, want %v", got, want)
	}
}

// A check that fails part way still sends the leaves of the joins the
// engine found lost before it failed: the engine may have reported their
// member_removed already, and the subscriptions are to get the leave
// the backend was told of.
func TestLostLeavesFoundBeforeAFailureAreSent(t *testing.T) {
	b, e := presenceBroker(t)
	w := watch(t, b)
	b.HandlePresence(change("lost", true))
	w.waitChanges(t, 1)
	e.pres.mu.Lock()
	e.pres.failLostJoins = errors.New("the second batch failed")
	e.pres.mu.Unlock()
	if err := b.SendLostLeaves(context.Background()); err == nil {
		t.Fatal("the check's failure was not returned")
	}
	b.HandlePresence(change("v", true))
	want := []string{"join lost", "leave lost", "join v"}
	if got := w.waitChanges(t, len(want)); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
