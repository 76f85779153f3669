package broker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSubscriptionListMatchesAModel runs random adds, takes, removes and
// finds on one session's subscriptions, growing them to several times
// subIndexFrom and shrinking them to a few, again and again, and after
// each step compares them with a model: the list in the order they were
// made, the count, what each pattern finds. A session that holds
// subIndexFrom or more finds them through its index, which must agree
// with the list; one that holds fewer than subIndexUnder keeps no index,
// nor anything else beside its list (Session.extra), as an idle session
// must stay small, and one that holds fewer than half of what its index
// was made for has it made again.
func TestSubscriptionListMatchesAModel(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	s := b.Connect(&countConn{}, ClientInfo{})
	rng := rand.New(rand.NewPCG(1, 2))
	patterns := make([]string, 6*subIndexFrom)
	for i := range patterns {
		patterns[i] = fmt.Sprintf("room.%d", i)
		if i%5 == 0 {
			patterns[i] += ".>"
		}
	}
	var model []*subscription // in the order they were made
	held := func(p string) bool {
		return slices.ContainsFunc(model, func(sub *subscription) bool { return sub.pattern == p })
	}
	free := func() string { // a pattern not held
		for {
			if p := patterns[rng.IntN(len(patterns))]; !held(p) {
				return p
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	builds, drops := 0, 0 // the index made, and dropped by unsubscribes
	grow := true
	for step := range 20_000 {
		switch {
		case grow && len(model) >= 5*subIndexFrom:
			grow = false
		case !grow && len(model) <= subIndexUnder/2:
			grow = true
		}
		wasIndexed, closed := s.indexLocked() != nil, false
		switch r := rng.IntN(1000); {
		case r == 0: // now and then the session closes
			if got := s.takeAllLocked(); !slices.Equal(got, model) {
				t.Fatalf("step %d: closing took %d subscriptions, not the %d held in order", step, len(got), len(model))
			}
			model, closed = nil, true
		case r < 800 == grow || len(model) == 0: // subscribe
			p := free()
			sub := &subscription{session: s, pattern: p, exact: !IsPattern(p)}
			s.addLocked(sub)
			model = append(model, sub)
		case r%3 == 0: // unsubscribe
			i := rng.IntN(len(model))
			if got := s.takeLocked(model[i].pattern); got != model[i] {
				t.Fatalf("step %d: took %p for %s, want %p", step, got, model[i].pattern, model[i])
			}
			model = slices.Delete(model, i, i+1)
		case r%3 == 1: // removed as itself (undo, refresh), after another of its pattern that is not held
			i := rng.IntN(len(model))
			s.removeLocked(&subscription{session: s, pattern: model[i].pattern})
			s.removeLocked(model[i])
			model = slices.Delete(model, i, i+1)
		default: // an unsubscribe of what is not held
			if p := free(); s.takeLocked(p) != nil {
				t.Fatalf("step %d: took %s, which is not held", step, p)
			}
		}
		checkSubscriptionList(t, step, s, model, patterns)
		switch isIndexed := s.indexLocked() != nil; {
		case isIndexed && !wasIndexed:
			builds++
		case !isIndexed && wasIndexed && !closed:
			drops++
		}
	}
	if builds < 3 || drops < 3 {
		t.Errorf("the index was made %d times and dropped %d: the test did not cross its bounds", builds, drops)
	}
	t.Logf("the index was made %d times and dropped %d", builds, drops)
}

// checkSubscriptionList fails unless s holds exactly model, in its order,
// and finds each of patterns as model does. Called with s.mu held.
func checkSubscriptionList(t *testing.T, step int, s *Session, model []*subscription, patterns []string) {
	t.Helper()
	var list []*subscription
	for sub := s.subs; sub != nil && len(list) <= len(model); sub = sub.next {
		list = append(list, sub)
	}
	if !slices.Equal(list, model) || int(s.nsubs) != len(model) {
		t.Fatalf("step %d: the list holds %d (count %d), want the %d of the model in order", step, len(list), s.nsubs, len(model))
	}
	x := s.indexLocked()
	switch {
	case len(model) >= subIndexFrom && x == nil:
		t.Fatalf("step %d: %d subscriptions held without an index", step, len(model))
	case len(model) < subIndexUnder && s.extra != nil:
		t.Fatalf("step %d: %d subscriptions held, and the session keeps its extra parts", step, len(model))
	case x != nil && int(x.most) > 2*len(model)+1:
		t.Fatalf("step %d: %d subscriptions held in an index made for %d", step, len(model), x.most)
	}
	if x != nil {
		if len(x.before) != len(model) || x.last != model[len(model)-1] {
			t.Fatalf("step %d: the index has %d patterns and last %p, want %d and %p", step, len(x.before), x.last, len(model), model[len(model)-1])
		}
		for i, sub := range model {
			if prev, ok := x.before[sub.pattern]; !ok || i == 0 && prev != nil || i > 0 && prev != model[i-1] {
				t.Fatalf("step %d: the index places %s after %p, want after the %d-th", step, sub.pattern, prev, i)
			}
		}
	}
	want := make(map[string]*subscription, len(model))
	for _, sub := range model {
		want[sub.pattern] = sub
	}
	for _, p := range patterns {
		if got, want := s.findLocked(p), want[p]; got != want {
			t.Fatalf("step %d: %s finds %p, want %p", step, p, got, want)
		}
	}
}

// TestAConnectionWithManySubscriptions holds more than its index's bound
// of subscriptions, made and ended by the client's commands, a refresh and
// the connection's close: each is answered as with a few, the engine holds each topic
// while the connection does, and a refresh or close ends each one once.
func TestAConnectionWithManySubscriptions(t *testing.T) {
	const n = 3 * subIndexFrom
	exp := time.Now().Add(time.Hour)
	narrow := allowList{sub: []string{"keep.>"}, pub: []string{">"}}
	b, e := newTestBroker(t, Config{MaxSubscriptions: n, RateLimit: -1, Tokens: tokens{"narrow": {Subject: "u1", Perms: narrow, Expires: exp}}})
	c := connect(t, b, ClientInfo{Subject: "u1", Perms: allowList{sub: []string{">"}, pub: []string{">"}}, Expires: exp})
	want := map[string]bool{} // held, by topic
	for i := range n {
		p := fmt.Sprintf("keep.%d", i/2)
		if i%2 == 1 {
			p = fmt.Sprintf("drop.%d", i/2)
		}
		if r := c.do(t, p, `{"type":"subscribe","id":"%s","topic":"%s"}`, p, p); r["type"] != "subscribed" {
			t.Fatalf("subscribe %s: %v", p, r)
		}
		want[p] = true
	}
	if r := c.do(t, "over", `{"type":"subscribe","id":"over","topic":"one.more"}`); r["code"] != string(CodeTooManySubscriptions) {
		t.Fatalf("subscribe past %d: %v", n, r)
	}
	if r := c.do(t, "again", `{"type":"subscribe","id":"again","topic":"keep.3"}`); r["type"] != "subscribed" {
		t.Fatalf("subscribe again to keep.3: %v", r) // the engine fails the test at its end if told twice
	}
	if r := c.do(t, "r", `{"type":"refresh","id":"r","token":"narrow"}`); r["type"] != "refreshed" {
		t.Fatalf("refresh: %v", r)
	}
	var forbidden []string
	for p := range want {
		if strings.HasPrefix(p, "drop.") {
			forbidden = append(forbidden, p)
			want[p] = false
		}
	}
	wantForbiddenNotices(t, c, forbidden...)
	for i := 0; i < n/2; i += 4 {
		p := fmt.Sprintf("keep.%d", i)
		if r := c.do(t, "u"+p, `{"type":"unsubscribe","id":"u%s","topic":"%s"}`, p, p); r["type"] != "unsubscribed" {
			t.Fatalf("unsubscribe %s: %v", p, r)
		}
		if r := c.do(t, "v"+p, `{"type":"unsubscribe","id":"v%s","topic":"%s"}`, p, p); r["code"] != string(CodeNotSubscribed) {
			t.Fatalf("unsubscribe %s twice: %v", p, r)
		}
		want[p] = false
	}
	held := 0
	for p, w := range want {
		if e.isActive(p) != w {
			t.Errorf("engine subscription %s active %v, want %v", p, !w, w)
		}
		if w {
			held++
		}
	}
	if s := b.Stats(); s.Subscriptions != int64(held) {
		t.Errorf("%d subscriptions in the index, want %d", s.Subscriptions, held)
	}
	c.s.mu.Lock()
	count, indexed := int(c.s.nsubs), c.s.indexLocked() != nil
	c.s.mu.Unlock()
	if count != held || !indexed {
		t.Errorf("the session counts %d subscriptions, indexed %v; want %d, indexed", count, indexed, held)
	}

	c.s.Disconnected()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	active := func() []string {
		var out []string
		for p := range want {
			if e.isActive(p) {
				out = append(out, p)
			}
		}
		return out
	}
	for len(active()) != 0 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	if left := active(); len(left) != 0 {
		t.Errorf("engine subscriptions active after the close: %v", left)
	}
	if s := b.Stats(); s.Subscriptions != 0 || s.Topics != 0 {
		t.Errorf("after the close: %+v", s)
	}
}

// TestAnIndexShrinksWithItsSubscriptions fills sessions to a thousand
// subscriptions and ends all but a few more than subIndexUnder of them:
// what each still holds for its index is a map of those few, not of the
// thousand it held (a Go map keeps the room of what is deleted from it:
// some 55 KB). Its address's bound counts the subscriptions it holds, not
// the most it held.
func TestAnIndexShrinksWithItsSubscriptions(t *testing.T) {
	const sessions, most, kept = 50, 1000, subIndexUnder + 4
	b, _ := newTestBroker(t, Config{})
	patterns := make([]string, most)
	for i := range patterns {
		patterns[i] = fmt.Sprintf("room.%d", i)
	}
	fill := func(n int) []*Session {
		out := make([]*Session, sessions)
		for i := range out {
			s := b.Connect(&countConn{}, ClientInfo{})
			s.mu.Lock()
			for _, p := range patterns[:n] {
				s.addLocked(&subscription{session: s, pattern: p, exact: true})
			}
			s.mu.Unlock()
			out[i] = s
		}
		return out
	}
	base := liveHeap()
	few := fill(kept) // never indexed: the list alone
	perFew := (int64(liveHeap()) - int64(base)) / sessions
	base = liveHeap()
	shrunk := fill(most)
	for _, s := range shrunk {
		s.mu.Lock()
		for _, p := range patterns[kept:] {
			s.takeLocked(p)
		}
		if s.nsubs != kept || s.indexLocked() == nil {
			t.Fatalf("a session holds %d subscriptions, indexed %v: want %d, indexed", s.nsubs, s.indexLocked() != nil, kept)
		}
		s.mu.Unlock()
	}
	perShrunk := (int64(liveHeap()) - int64(base)) / sessions
	runtime.KeepAlive(few)
	runtime.KeepAlive(shrunk)
	// An index of kept is some 2 KB (a map of up to twice that); of most, 55.
	if extra := perShrunk - perFew; extra > 8<<10 {
		t.Errorf("a session that held %d subscriptions and holds %d keeps %d bytes more than one that held %d alone (%d and %d)", most, kept, extra, kept, perShrunk, perFew)
	}
	t.Logf("a session of %d subscriptions: %d bytes; of %d after %d: %d bytes", kept, perFew, kept, most, perShrunk)
}
