package broker

import (
	"fmt"
	"slices"
	"testing"
)

// A subscription whose presence answer, asked again, says otherwise of a
// user than the last change it was sent (the engine lost the join, and
// has not made it again yet) gets the user's next change even when that
// says the same as the last: the answer with the joins and leaves after
// it tells who is there. One that did not ask again does not.
func TestPresenceAnswerThatDisagreesGetsTheRepeat(t *testing.T) {
	b, e := presenceBroker(t)
	asks, quiet := watch(t, b), watch(t, b)
	u := connect(t, b, user("u"))
	u.do(t, "s", `{"type":"subscribe","id":"s","topic":"room.1"}`)
	asks.waitChanges(t, 1)
	quiet.waitChanges(t, 1)
	e.pres.mu.Lock()
	delete(e.pres.entries["room.1"], u.s.ID()) // lost, the join sent
	e.pres.mu.Unlock()
	if r := asks.do(t, "p", `{"type":"presence","id":"p","topic":"room.1"}`); len(r["members"].([]any)) != 0 {
		t.Fatalf("presence after the loss: %v, want no member", r)
	}
	b.HandlePresence(PresenceChange{Topic: "room.1", User: "u", Join: true, Session: u.s.ID()}) // made again
	b.HandlePresence(change("v", true))
	if got, want := asks.waitChanges(t, 3), []string{"join u", "join u", "join v"}; !slices.Equal(got, want) {
		t.Errorf("the subscription that asked again got %v, want %v", got, want)
	}
	if got, want := quiet.waitChanges(t, 2), []string{"join u", "join v"}; !slices.Equal(got, want) {
		t.Errorf("the one that did not got %v, want %v", got, want)
	}
	sh := b.idx.shard("room.1")
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if n := len(sh.watched["room.1"].owed); n != 0 {
		t.Errorf("%d subscriptions still owed a change once it was sent", n)
	}
}

// An answer that disagrees on more users than a subscription may be owed
// has it get every repeat of a change sent before it asked.
func TestPresenceAnswerDisagreeingOnManyGetsEveryRepeat(t *testing.T) {
	b, _ := presenceBroker(t)
	w := watch(t, b)
	const users = maxOwed + 1
	for i := range users {
		b.HandlePresence(change(fmt.Sprint(i), true)) // none of them in the engine
	}
	w.waitChanges(t, users)
	w.do(t, "p", `{"type":"presence","id":"p","topic":"room.1"}`)
	for i := range users {
		b.HandlePresence(change(fmt.Sprint(i), true))
	}
	if got := w.waitChanges(t, 2*users); len(got) != 2*users {
		t.Errorf("%d joins, want each of the %d users twice", len(got), users)
	}
}

// A page tells of the users after the one it was asked after, up to its
// last member when more follow.
func TestPresencePageCovers(t *testing.T) {
	page := PresenceState{Members: []Member{{User: "b"}, {User: "d"}}, Truncated: true}
	for _, c := range []struct {
		st     PresenceState
		after  string
		user   string
		covers bool
	}{
		{page, "", "a", true},
		{page, "", "d", true},
		{page, "", "e", false},
		{page, "a", "a", false},
		{PresenceState{}, "c", "z", true},
		{PresenceState{}, "c", "b", false},
		{PresenceState{Truncated: true}, "", "a", false},
	} {
		if got := c.st.covers(c.after, c.user); got != c.covers {
			t.Errorf("%+v after %q covers %q: %v, want %v", c.st, c.after, c.user, got, c.covers)
		}
	}
}

// A repeat that comes while a subscription's members are read, which it
// was sent the first of, is sent to it with the answer when the answer
// says otherwise of the user (read before the engine set itself right),
// and not when the answer says the same (read after): either way its
// list is right, and it gets no two joins in a row for nothing.
func TestRepeatWhileReadingGoesWithAnAnswerThatLacksIt(t *testing.T) {
	b, e := presenceBroker(t)
	lacks, lists := watch(t, b), watch(t, b)
	u := connect(t, b, user("u"))
	u.do(t, "s", `{"type":"subscribe","id":"s","topic":"room.1"}`)
	lacks.waitChanges(t, 1)
	lists.waitChanges(t, 1)
	repeat := PresenceChange{Topic: "room.1", User: "u", Join: true, Session: u.s.ID()}
	e.pres.mu.Lock()
	entry := e.pres.entries["room.1"][u.s.ID()]
	delete(e.pres.entries["room.1"], u.s.ID()) // lost, the join sent
	e.pres.whileRead = func() { b.HandlePresence(repeat) }
	e.pres.mu.Unlock()
	if r := lacks.do(t, "p", `{"type":"presence","id":"p","topic":"room.1"}`); len(r["members"].([]any)) != 0 {
		t.Fatalf("presence read before the join was made again: %v, want no member", r)
	}
	e.pres.mu.Lock()
	e.pres.entries["room.1"][u.s.ID()] = entry // made again
	e.pres.whileRead = func() { b.HandlePresence(repeat) }
	e.pres.mu.Unlock()
	if r := lists.do(t, "p", `{"type":"presence","id":"p","topic":"room.1"}`); len(r["members"].([]any)) != 1 {
		t.Fatalf("presence read after the join was made again: %v, want u", r)
	}
	b.HandlePresence(change("v", true))
	if got, want := lacks.waitChanges(t, 3), []string{"join u", "join u", "join v"}; !slices.Equal(got, want) {
		t.Errorf("the subscription whose answer lacked u got %v, want %v", got, want)
	}
	if got, want := lists.waitChanges(t, 2), []string{"join u", "join v"}; !slices.Equal(got, want) {
		t.Errorf("the one whose answer listed u got %v, want %v", got, want)
	}
	sh := b.idx.shard("room.1")
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if n := len(sh.watched["room.1"].reading); n != 0 {
		t.Errorf("%d reads still kept once answered", n)
	}
}
