package enginetest

import (
	"context"
	"slices"
	"testing"

	"github.com/herald-broker/herald/broker"
)

// testOnePerUser: one user with a session on each node joins once, with
// the first session's info, and leaves once, when its last session goes;
// every node counts it once, with all its sessions.
func (s *presenceSuite) testOnePerUser(t *testing.T) {
	ns := s.nodes(t, 3)
	ctx := testContext(t)
	topic := uniqueTopic("presence")
	subscribeAll(t, ctx, ns, topic)
	var es []broker.PresenceEntry
	for i, n := range ns {
		e := entry(topic, newSession(), "u", `{"tab":`+string(rune('1'+i))+`}`)
		add(t, ctx, n, e)
		es = append(es, e)
	}
	first := es[0]
	wantChanges(t, ns, topic, join(topic, "u", first.Session, `{"tab":1}`))
	wantPresence(t, ctx, ns, topic, broker.PresenceState{Sessions: len(ns),
		Members: []broker.Member{{User: "u", Sessions: len(ns), Info: first.Info}}})

	remove(t, ctx, ns[0], first)
	// The member keeps the info it joined with after that session left.
	wantPresence(t, ctx, ns, topic, broker.PresenceState{Sessions: len(ns) - 1,
		Members: membersIf(len(ns) > 1, broker.Member{User: "u", Sessions: len(ns) - 1, Info: first.Info})})
	for i := 1; i < len(ns); i++ {
		remove(t, ctx, ns[i], es[i])
	}
	last := es[len(es)-1]
	wantChanges(t, ns, topic, join(topic, "u", first.Session, `{"tab":1}`), leave(topic, "u", last.Session))
	wantPresence(t, ctx, ns, topic, broker.PresenceState{Members: []broker.Member{}})
}

// membersIf returns ms when cond holds, and no members otherwise.
func membersIf(cond bool, ms ...broker.Member) []broker.Member {
	if !cond {
		return []broker.Member{}
	}
	return ms
}

// testAnonymous: sessions without a user count in Sessions, are never
// members, and cause no join or leave.
func (s *presenceSuite) testAnonymous(t *testing.T) {
	ns := s.nodes(t, 2)
	ctx := testContext(t)
	topic := uniqueTopic("anon")
	subscribeAll(t, ctx, ns, topic)
	a1, a2 := entry(topic, newSession(), "", ""), entry(topic, newSession(), "", `{"x":1}`)
	add(t, ctx, ns[0], a1)
	add(t, ctx, ns[len(ns)-1], a2)
	wantPresence(t, ctx, ns, topic, broker.PresenceState{Sessions: 2, Members: []broker.Member{}})
	// A named user's join, decided after the anonymous arrivals, is the
	// first change handed over: they caused none.
	m := entry(topic, newSession(), "marker", "")
	add(t, ctx, ns[0], m)
	wantChanges(t, ns, topic, join(topic, "marker", m.Session, ""))
	wantPresence(t, ctx, ns, topic, broker.PresenceState{Sessions: 3, Members: []broker.Member{{User: "marker", Sessions: 1}}})
	remove(t, ctx, ns[0], a1)
	remove(t, ctx, ns[len(ns)-1], a2)
	remove(t, ctx, ns[0], m)
	wantChanges(t, ns, topic, join(topic, "marker", m.Session, ""), leave(topic, "marker", m.Session))
	wantPresence(t, ctx, ns, topic, broker.PresenceState{Members: []broker.Member{}})
}

// testAddTwice: adding an entry of a (topic, session) already present
// changes nothing, on its node or another, whatever identity it carries.
func (s *presenceSuite) testAddTwice(t *testing.T) {
	ns := s.nodes(t, 2)
	ctx := testContext(t)
	topic := uniqueTopic("twice")
	subscribeAll(t, ctx, ns, topic)
	e := entry(topic, newSession(), "u", `{"v":1}`)
	add(t, ctx, ns[0], e)
	add(t, ctx, ns[0], e)
	add(t, ctx, ns[len(ns)-1], entry(topic, e.Session, "other", `{"v":2}`))
	want := broker.PresenceState{Sessions: 1, Members: []broker.Member{{User: "u", Sessions: 1, Info: e.Info}}}
	wantPresence(t, ctx, ns, topic, want)
	m := entry(topic, newSession(), "marker", "")
	add(t, ctx, ns[0], m)
	wantChanges(t, ns, topic, join(topic, "u", e.Session, `{"v":1}`), join(topic, "marker", m.Session, ""))
	remove(t, ctx, ns[0], e)
	remove(t, ctx, ns[0], m)
	wantChanges(t, ns, topic, join(topic, "u", e.Session, `{"v":1}`), join(topic, "marker", m.Session, ""),
		leave(topic, "u", e.Session), leave(topic, "marker", m.Session))
	wantPresence(t, ctx, ns, topic, broker.PresenceState{Members: []broker.Member{}})
}

// testRemoveUnknown: removing what is not present does nothing; removing
// goes by topic and session alone, and the leave names the user the
// entry was added with.
func (s *presenceSuite) testRemoveUnknown(t *testing.T) {
	ns := s.nodes(t, 1)
	ctx := testContext(t)
	topic := uniqueTopic("unknown")
	subscribeAll(t, ctx, ns, topic)
	remove(t, ctx, ns[0], entry(topic, newSession(), "u", ""))
	wantPresence(t, ctx, ns, topic, broker.PresenceState{Members: []broker.Member{}})
	e := entry(topic, newSession(), "u", "")
	add(t, ctx, ns[0], e)
	remove(t, ctx, ns[0], entry(topic, newSession(), "u", ""))
	remove(t, ctx, ns[0], entry(uniqueTopic("elsewhere"), e.Session, "u", ""))
	wantPresence(t, ctx, ns, topic, broker.PresenceState{Sessions: 1, Members: []broker.Member{{User: "u", Sessions: 1}}})
	remove(t, ctx, ns[0], entry(topic, e.Session, "someone-else", ""))
	remove(t, ctx, ns[0], e) // gone already: nothing
	m := entry(topic, newSession(), "marker", "")
	add(t, ctx, ns[0], m)
	wantChanges(t, ns, topic, join(topic, "u", e.Session, ""), leave(topic, "u", e.Session), join(topic, "marker", m.Session, ""))
	wantPresence(t, ctx, ns, topic, broker.PresenceState{Sessions: 1, Members: []broker.Member{{User: "marker", Sessions: 1}}})
}

// testMembersSorted: members come sorted by user, each with its session
// count and the info of the session that made it join (nil when none).
func (s *presenceSuite) testMembersSorted(t *testing.T) {
	ns := s.nodes(t, 3)
	ctx := testContext(t)
	topic := uniqueTopic("sorted")
	at := func(i int) node { return ns[i%len(ns)] }
	add(t, ctx, at(0), entry(topic, newSession(), "carol", `{"name":"Carol"}`))
	add(t, ctx, at(1), entry(topic, newSession(), "alice", `{"name":"Alice","tab":1}`))
	add(t, ctx, at(2), entry(topic, newSession(), "bob", ""))
	add(t, ctx, at(0), entry(topic, newSession(), "alice", `{"name":"Alice","tab":2}`))
	add(t, ctx, at(1), entry(topic, newSession(), "", ""))
	wantPresence(t, ctx, ns, topic, broker.PresenceState{Sessions: 5, Members: []broker.Member{
		{User: "alice", Sessions: 2, Info: []byte(`{"name":"Alice","tab":1}`)},
		{User: "bob", Sessions: 1},
		{User: "carol", Sessions: 1, Info: []byte(`{"name":"Carol"}`)},
	}})
	other := uniqueTopic("sorted-other")
	wantPresence(t, ctx, ns, other, broker.PresenceState{Members: []broker.Member{}})
}

// testSubscribedNodes: a join or leave decided on a node that did not
// subscribe the topic reaches every node that did, with its session.
func (s *presenceSuite) testSubscribedNodes(t *testing.T) {
	ns := s.nodes(t, 3)
	ctx := testContext(t)
	topic := uniqueTopic("reach")
	listeners, origin := ns, ns[0]
	if len(ns) > 1 {
		listeners, origin = ns[1:], ns[0]
		subscribe(t, ctx, origin, uniqueTopic("unrelated"))
	}
	subscribeAll(t, ctx, listeners, topic)
	e := entry(topic, newSession(), "u", `{"a":[1,2]}`)
	add(t, ctx, origin, e)
	remove(t, ctx, origin, e)
	wantChanges(t, listeners, topic, join(topic, "u", e.Session, `{"a":[1,2]}`), leave(topic, "u", e.Session))
}

// testControl: a control reaches every node's Handler once, the sender's
// included, whichever node sent it.
func (s *presenceSuite) testControl(t *testing.T) {
	ns := s.nodes(t, 3)
	ctx := testContext(t)
	subscribeAll(t, ctx, ns, uniqueTopic("control"))
	user := newSession() // unique, so that no other cluster's controls are mistaken for these
	sent := []broker.Control{
		{Kind: broker.ControlDisconnect, User: user},
		{Kind: broker.ControlUnsubscribe, Session: newSession(), Topic: "room.*"},
		{Kind: broker.ControlSubscribe, User: user, Topic: "user:" + user + ".notices"},
	}
	for i, c := range sent {
		if err := ns[i%len(ns)].Control(ctx, c); err != nil {
			t.Fatalf("Control(%+v): %v", c, err)
		}
	}
	for i, n := range ns {
		n.r.await(t, "controls", func() bool { return len(n.r.controls) >= len(sent) })
		n.r.mu.Lock()
		got := slices.Clone(n.r.controls)
		n.r.mu.Unlock()
		// One sender's controls come in order; different senders' may not.
		if len(got) != len(sent) || !sameControls(got, sent) {
			t.Errorf("node %d got controls %+v, want each of %+v once", i, got, sent)
		}
	}
}

// sameControls reports whether got holds exactly the controls of want, in
// any order.
func sameControls(got, want []broker.Control) bool {
	left := slices.Clone(want)
	for _, c := range got {
		i := slices.Index(left, c)
		if i < 0 {
			return false
		}
		left = slices.Delete(left, i, i+1)
	}
	return len(left) == 0
}

// testBadControl: a control that names nobody, both a user and a session,
// or a kind that does not exist fails, and reaches no Handler.
func (s *presenceSuite) testBadControl(t *testing.T) {
	ns := s.nodes(t, 1)
	ctx := testContext(t)
	subscribeAll(t, ctx, ns, uniqueTopic("control"))
	bad := []broker.Control{
		{Kind: broker.ControlDisconnect},
		{Kind: broker.ControlDisconnect, User: "u", Session: newSession()},
		{Kind: 0, User: "u"},
		{Kind: broker.ControlSubscribe + 1, User: "u"},
		{Kind: broker.ControlSubscribe, User: "u", Topic: ""},
		{Kind: broker.ControlUnsubscribe, User: "u", Topic: "a..b"},
	}
	for _, c := range bad {
		if err := ns[0].Control(ctx, c); err == nil {
			t.Errorf("Control(%+v) = nil, want an error", c)
		}
	}
	marker := broker.Control{Kind: broker.ControlDisconnect, Session: newSession()}
	if err := ns[0].Control(ctx, marker); err != nil {
		t.Fatalf("Control(%+v): %v", marker, err)
	}
	ns[0].r.await(t, "the marker control", func() bool { return len(ns[0].r.controls) >= 1 })
	ns[0].r.mu.Lock()
	defer ns[0].r.mu.Unlock()
	if got := ns[0].r.controls; len(got) != 1 || got[0] != marker {
		t.Errorf("controls handed over: %+v, want only %+v", got, marker)
	}
}

// testBadPresenceInput: a malformed topic, a pattern, and an ended context
// fail every presence call.
func (s *presenceSuite) testBadPresenceInput(t *testing.T) {
	ns := s.nodes(t, 1)
	ctx := testContext(t)
	for _, topic := range []string{"", "a.*", "a.>", "a..b"} {
		e := entry(topic, newSession(), "u", "")
		if err := ns[0].AddPresence(ctx, e); err == nil {
			t.Errorf("AddPresence on %q = nil, want an error", topic)
		}
		if err := ns[0].RemovePresence(ctx, e); err == nil {
			t.Errorf("RemovePresence on %q = nil, want an error", topic)
		}
		if _, err := ns[0].Presence(ctx, topic, wholePage); err == nil {
			t.Errorf("Presence(%q) = nil error, want one", topic)
		}
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	topic := uniqueTopic("cancelled")
	if err := ns[0].AddPresence(done, entry(topic, newSession(), "u", "")); err == nil {
		t.Error("AddPresence with an ended context = nil, want an error")
	}
	if _, err := ns[0].Presence(done, topic, wholePage); err == nil {
		t.Error("Presence with an ended context = nil error, want one")
	}
	if err := ns[0].Control(done, broker.Control{Kind: broker.ControlDisconnect, User: "u"}); err == nil {
		t.Error("Control with an ended context = nil, want an error")
	}
	wantPresence(t, ctx, ns, topic, broker.PresenceState{Members: []broker.Member{}})
}
