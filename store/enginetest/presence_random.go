package enginetest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
)

// The randomized run's size: per node, workers goroutines each own
// sessionsPerWorker sessions and make ops random adds and removes of them.
const (
	workers           = 2
	sessionsPerWorker = 4
	ops               = 60
	randomUsers       = 3 // session k belongs to user k mod (randomUsers+1); the last is anonymous
)

// randomSession is one session of the randomized run and its identity.
type randomSession struct {
	node  int
	entry broker.PresenceEntry
}

// testRandomModel races adds and removes (present or not) of sessions
// spread over every node and over several goroutines per node, users
// having sessions on several nodes at once, then checks the engine
// against a model that only knows which sessions are present: every node
// answers the model's presence; per user, each node's joins and leaves
// alternate from a join and end with a join exactly when the user is
// present, and every node saw the same ones; a present member's info is
// that of the session its last join names.
func (s *presenceSuite) testRandomModel(t *testing.T) {
	ns := s.nodes(t, 3)
	ctx := testContext(t)
	topic := uniqueTopic("random")
	subscribeAll(t, ctx, ns, topic)
	seed := rand.Uint64()
	t.Logf("seed %d", seed)

	var sessions []randomSession
	for k := range len(ns) * workers * sessionsPerWorker {
		user := ""
		if u := k % (randomUsers + 1); u < randomUsers {
			user = fmt.Sprintf("user%d", u)
		}
		sessions = append(sessions, randomSession{node: k / (workers * sessionsPerWorker),
			entry: entry(topic, newSession(), user, fmt.Sprintf(`{"k":%d}`, k))})
	}
	present := make([]bool, len(sessions)) // each worker writes only its own sessions'
	var wg sync.WaitGroup
	errs := make(chan error, len(ns)*workers)
	for w := range len(ns) * workers {
		own := sessions[w*sessionsPerWorker : (w+1)*sessionsPerWorker]
		rng := rand.New(rand.NewPCG(seed, uint64(w)))
		wg.Go(func() {
			for range ops {
				i := rng.IntN(len(own))
				n, e := ns[own[i].node], own[i].entry
				var err error
				if rng.IntN(2) == 0 {
					err = n.AddPresence(ctx, e)
					present[w*sessionsPerWorker+i] = true
				} else {
					err = n.RemovePresence(ctx, e)
					present[w*sessionsPerWorker+i] = false
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("presence call: %v", err)
	}

	want := modelPresence(sessions, present)
	var got broker.PresenceState
	for i, n := range ns {
		got = presenceOf(t, ctx, n, topic)
		if got.Sessions != want.Sessions || !slices.EqualFunc(got.Members, want.Members, func(a, b broker.Member) bool {
			return a.User == b.User && a.Sessions == b.Sessions
		}) {
			t.Errorf("node %d: Presence = %s, want %s", i, showPresence(got), showPresence(want))
		}
	}
	s.checkRandomChanges(t, ns, topic, want, got, sessions)
}

// modelPresence is what the model says is present: sessions and members
// (without info, which depends on the order of joins).
func modelPresence(sessions []randomSession, present []bool) broker.PresenceState {
	st := broker.PresenceState{Members: []broker.Member{}}
	count := map[string]int{}
	for k, rs := range sessions {
		if present[k] {
			st.Sessions++
			if rs.entry.User != "" {
				count[rs.entry.User]++
			}
		}
	}
	for u, c := range count {
		st.Members = append(st.Members, broker.Member{User: u, Sessions: c})
	}
	slices.SortFunc(st.Members, func(a, b broker.Member) int { return strings.Compare(a.User, b.User) })
	return st
}

// checkRandomChanges waits until every node's joins and leaves of topic
// end, per user, as want says (a join last for a present user, a leave
// or nothing for another) with as many changes per user on every node,
// then checks that they alternate, agree between nodes, and that each
// member's info is its last join's.
func (s *presenceSuite) checkRandomChanges(t *testing.T, ns []node, topic string, want, got broker.PresenceState, sessions []randomSession) {
	t.Helper()
	isMember := map[string]bool{}
	for _, m := range want.Members {
		isMember[m.User] = true
	}
	users := make([]string, randomUsers)
	for u := range users {
		users[u] = fmt.Sprintf("user%d", u)
	}
	byNode := make([]map[string][]broker.PresenceChange, len(ns))
	settled := func() bool {
		for i, n := range ns {
			byNode[i] = byUser(n.r.presenceChanges(topic))
		}
		for _, u := range users {
			for i := range ns {
				cs := byNode[i][u]
				if len(cs) != len(byNode[0][u]) || (len(cs) > 0 && cs[len(cs)-1].Join != isMember[u]) || (len(cs) == 0 && isMember[u]) {
					return false
				}
			}
		}
		return true
	}
	waitSettled(t, settled)
	for _, u := range users {
		for i := range ns {
			cs := byNode[i][u]
			for j, c := range cs {
				if c.Join != (j%2 == 0) {
					t.Errorf("node %d, %s: change %d is %s; joins and leaves must alternate from a join", i, u, j, showChange(c))
				}
			}
			if !slices.EqualFunc(cs, byNode[0][u], sameChange) {
				t.Errorf("node %d, %s: changes differ from node 0's", i, u)
			}
		}
		if !isMember[u] {
			continue
		}
		cs := byNode[0][u]
		lastJoin := cs[len(cs)-1]
		var info []byte
		for _, rs := range sessions {
			if rs.entry.Session == lastJoin.Session {
				info = rs.entry.Info
				if rs.entry.User != u {
					t.Errorf("%s joined by session %s of %q", u, lastJoin.Session, rs.entry.User)
				}
			}
		}
		if !bytes.Equal(lastJoin.Info, info) {
			t.Errorf("%s's last join has info %q, its session's is %q", u, lastJoin.Info, info)
		}
		for _, m := range got.Members {
			if m.User == u && !bytes.Equal(m.Info, info) {
				t.Errorf("member %s has info %q, want %q of the session that made it join", u, m.Info, info)
			}
		}
	}
}

// waitSettled polls settled, which reads every node's recorder, until it
// holds, or fails the test at the deadline.
func waitSettled(t *testing.T, settled func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !settled() {
		if time.Now().After(deadline) {
			t.Fatalf("the joins and leaves did not match the final presence within %v", waitTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func byUser(cs []broker.PresenceChange) map[string][]broker.PresenceChange {
	out := map[string][]broker.PresenceChange{}
	for _, c := range cs {
		out[c.User] = append(out[c.User], c)
	}
	return out
}
