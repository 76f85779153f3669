package enginetest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
)

// RunPresence runs the presence and control contract against clusters
// built by newNodes, with subtests in parallel. newNodes builds n engines
// that are nodes of one cluster (one backend and key space, shared by
// them and by no other call), registers their cleanup with t.Cleanup, and
// does not call Attach. maxNodes is the most nodes an engine can be given
// (1 for an engine of one node); subtests ask for up to three.
//
// What the suite holds every engine to, beyond the interface's comments:
//   - a topic's joins and leaves reach a node in the order they were
//     decided, across users too, so a change made after another is never
//     handed over before it (the suite checks that nothing was sent by
//     waiting for a later change of the same topic);
//   - a control reaches every node that subscribed anything before it was
//     sent (a node that never did has no session a control could name);
//   - Presence reads what was added and removed before it was called.
func RunPresence(t *testing.T, maxNodes int, newNodes func(t *testing.T, n int) []broker.Engine) {
	s := &presenceSuite{newNodes: newNodes, max: maxNodes}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"OneJoinAndOneLeavePerUser", s.testOnePerUser},
		{"AnonymousCountOnlyInSessions", s.testAnonymous},
		{"AddingTwiceChangesNothing", s.testAddTwice},
		{"RemovingUnknownDoesNothing", s.testRemoveUnknown},
		{"MembersSortedWithJoinInfo", s.testMembersSorted},
		{"ChangesReachEverySubscribedNode", s.testSubscribedNodes},
		{"ControlReachesEveryNodeOnce", s.testControl},
		{"BadControlFails", s.testBadControl},
		{"BadTopicOrContextFails", s.testBadPresenceInput},
		{"PagesByBytes", s.testPresencePages},
		{"RandomInterleavingsMatchModel", s.testRandomModel},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t)
		})
	}
}

type presenceSuite struct {
	newNodes func(t *testing.T, n int) []broker.Engine
	max      int
}

// node is one engine of a cluster with the recorder attached to it.
type node struct {
	broker.Engine
	r *recorder
}

// nodes builds a cluster of n nodes, or of as many as the engine has.
func (s *presenceSuite) nodes(t *testing.T, n int) []node {
	t.Helper()
	n = max(min(n, s.max), 1)
	es := s.newNodes(t, n)
	if len(es) != n {
		t.Fatalf("factory built %d nodes, want %d", len(es), n)
	}
	out := make([]node, n)
	for i, e := range es {
		out[i] = node{Engine: e, r: newRecorder()}
		e.Attach(out[i].r)
	}
	return out
}

var sessionCounter atomic.Uint64

// newSession returns a session id no other test uses.
func newSession() string {
	return fmt.Sprintf("5e55e55e-0000-4000-8000-%012d", sessionCounter.Add(1))
}

// entry builds a presence entry; info "" means none.
func entry(topic, session, user, info string) broker.PresenceEntry {
	e := broker.PresenceEntry{Topic: topic, Session: session, User: user}
	if info != "" {
		e.Info = []byte(info)
	}
	return e
}

func add(t *testing.T, ctx context.Context, n node, e broker.PresenceEntry) {
	t.Helper()
	if err := n.AddPresence(ctx, e); err != nil {
		t.Fatalf("AddPresence(%+v): %v", e, err)
	}
}

func remove(t *testing.T, ctx context.Context, n node, e broker.PresenceEntry) {
	t.Helper()
	if err := n.RemovePresence(ctx, e); err != nil {
		t.Fatalf("RemovePresence(%+v): %v", e, err)
	}
}

func subscribeAll(t *testing.T, ctx context.Context, ns []node, topic string) {
	t.Helper()
	for _, n := range ns {
		subscribe(t, ctx, n, topic)
	}
}

// wholePage lists every member of the topics these tests make.
var wholePage = broker.PresencePage{MaxBytes: 1 << 20}

// presenceOf reads topic's presence, every member, and fails the test on
// an error.
func presenceOf(t *testing.T, ctx context.Context, n node, topic string) broker.PresenceState {
	t.Helper()
	st, err := n.Presence(ctx, topic, wholePage)
	if err != nil {
		t.Fatalf("Presence(%q): %v", topic, err)
	}
	if st.Members == nil {
		t.Errorf("Presence(%q): Members is nil, want a slice", topic)
	}
	if st.Users != len(st.Members) || st.Truncated {
		t.Errorf("Presence(%q): users %d, truncated %v, for %d members listed", topic, st.Users, st.Truncated, len(st.Members))
	}
	return st
}

// wantPresence fails unless every node answers want for topic.
func wantPresence(t *testing.T, ctx context.Context, ns []node, topic string, want broker.PresenceState) {
	t.Helper()
	for i, n := range ns {
		if got := presenceOf(t, ctx, n, topic); !samePresence(got, want) {
			t.Errorf("node %d: Presence(%q) = %s, want %s", i, topic, showPresence(got), showPresence(want))
		}
	}
}

func samePresence(a, b broker.PresenceState) bool {
	return a.Sessions == b.Sessions && slices.EqualFunc(a.Members, b.Members, func(x, y broker.Member) bool {
		return x.User == y.User && x.Sessions == y.Sessions && bytes.Equal(x.Info, y.Info) && (x.Info == nil) == (y.Info == nil)
	})
}

func showPresence(st broker.PresenceState) string {
	out := fmt.Sprintf("{sessions %d:", st.Sessions)
	for _, m := range st.Members {
		out += fmt.Sprintf(" %s×%d info=%q", m.User, m.Sessions, m.Info)
	}
	return out + "}"
}

func join(topic, user, session, info string) broker.PresenceChange {
	c := broker.PresenceChange{Topic: topic, User: user, Join: true, Session: session}
	if info != "" {
		c.Info = []byte(info)
	}
	return c
}

func leave(topic, user, session string) broker.PresenceChange {
	return broker.PresenceChange{Topic: topic, User: user, Session: session}
}

func showChange(c broker.PresenceChange) string {
	kind := "leave"
	if c.Join {
		kind = "join"
	}
	return fmt.Sprintf("%s %s by %s info=%q", kind, c.User, c.Session, c.Info)
}

func sameChange(a, b broker.PresenceChange) bool {
	return a.Topic == b.Topic && a.User == b.User && a.Join == b.Join && a.Session == b.Session && bytes.Equal(a.Info, b.Info)
}

// presenceChanges returns a copy of what topic's joins and leaves were so far.
func (r *recorder) presenceChanges(topic string) []broker.PresenceChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.changes[topic])
}

// await waits until cond, run under mu, holds, or fails the test at the
// deadline with what describes the wait.
func (r *recorder) await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok, changed := cond(), r.changed
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("%s: not within %v", what, waitTimeout)
		}
	}
}

// wantChanges waits until each node got at least len(want) joins and
// leaves of topic, and fails unless they are exactly want.
func wantChanges(t *testing.T, ns []node, topic string, want ...broker.PresenceChange) {
	t.Helper()
	for i, n := range ns {
		n.r.await(t, fmt.Sprintf("node %d: %d changes of %q", i, len(want), topic), func() bool {
			return len(n.r.changes[topic]) >= len(want)
		})
		got := n.r.presenceChanges(topic)
		if !slices.EqualFunc(got, want, sameChange) {
			t.Errorf("node %d: changes of %q:", i, topic)
			for _, c := range got {
				t.Errorf("  got  %s", showChange(c))
			}
			for _, c := range want {
				t.Errorf("  want %s", showChange(c))
			}
		}
	}
}
