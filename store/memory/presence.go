package memory

import (
	"context"
	"slices"
	"sync"

	"github.com/herald-broker/herald/broker"
)

// presence is who is on each topic of this node, and the joins and leaves
// on their way to the Handler.
//
// It is client-caused state that no byte budget counts: an entry is one
// session's exact-topic subscription, so the entries are bounded by the
// broker's bounds on connections and on subscriptions per connection (and
// an entry's info by the token's 1 KiB), and each goes with its
// subscription. MaxHistoryBytes is for history, which outlives its
// publisher; presence does not.
type presence struct {
	mu     sync.Mutex
	topics map[string]*presenceTopic
}

// presenceTopic is one topic's entries and its changes not yet handed to
// the Handler. Changes are queued under presence.mu, in the order they are
// decided, and handed over outside it, by one caller at a time (the one
// that found nobody draining), so the Handler sees them in that order and
// may call the engine back.
type presenceTopic struct {
	entries map[string]broker.PresenceEntry // by session
	users   map[string]*presenceUser        // named users only
	// names are users' keys, sorted, so that a page is read in order from
	// its After on: an ask costs the page, not the topic.
	names    []string
	queue    []broker.PresenceChange
	draining bool
}

type presenceUser struct {
	sessions int
	info     []byte // of the session that made the user join
}

func newPresence() *presence {
	return &presence{topics: make(map[string]*presenceTopic)}
}

// AddPresence records p; the first session of its user on the topic is a
// join, handed to the Handler.
func (e *Engine) AddPresence(ctx context.Context, p broker.PresenceEntry) error {
	if err := e.checkPresence(ctx, p.Topic); err != nil {
		return err
	}
	pr := e.presence
	pr.mu.Lock()
	t := pr.topics[p.Topic]
	if t == nil {
		t = &presenceTopic{entries: make(map[string]broker.PresenceEntry), users: make(map[string]*presenceUser)}
		pr.topics[p.Topic] = t
	}
	if _, dup := t.entries[p.Session]; dup {
		pr.mu.Unlock()
		return nil
	}
	p.Info = slices.Clone(p.Info) // the caller's buffer stays the caller's
	t.entries[p.Session] = p
	if p.User != "" {
		u := t.users[p.User]
		if u == nil {
			u = &presenceUser{info: p.Info}
			t.users[p.User] = u
			t.addName(p.User)
			t.queue = append(t.queue, broker.PresenceChange{Topic: p.Topic, User: p.User, Info: p.Info, Join: true, Session: p.Session})
		}
		u.sessions++
	}
	pr.mu.Unlock()
	e.drainPresence(p.Topic, t)
	return nil
}

// RemovePresence removes the entry of p.Topic and p.Session, if any; the
// last session of its user on the topic is a leave.
func (e *Engine) RemovePresence(ctx context.Context, p broker.PresenceEntry) error {
	if err := e.checkPresence(ctx, p.Topic); err != nil {
		return err
	}
	pr := e.presence
	pr.mu.Lock()
	t := pr.topics[p.Topic]
	old, ok := broker.PresenceEntry{}, false
	if t != nil {
		old, ok = t.entries[p.Session]
	}
	if !ok {
		pr.mu.Unlock()
		return nil
	}
	delete(t.entries, p.Session)
	if u := t.users[old.User]; old.User != "" && u != nil {
		if u.sessions--; u.sessions == 0 {
			delete(t.users, old.User)
			t.removeName(old.User)
			t.queue = append(t.queue, broker.PresenceChange{Topic: p.Topic, User: old.User, Session: p.Session})
		}
	}
	pr.mu.Unlock()
	e.drainPresence(p.Topic, t)
	return nil
}

// drainPresence hands t's queued changes to the Handler unless another
// caller does already, and drops t once it is empty and drained.
func (e *Engine) drainPresence(topic string, t *presenceTopic) {
	pr := e.presence
	pr.mu.Lock()
	if t.draining {
		pr.mu.Unlock()
		return
	}
	t.draining = true
	for len(t.queue) > 0 {
		c := t.queue[0]
		t.queue[0] = broker.PresenceChange{}
		t.queue = t.queue[1:]
		pr.mu.Unlock()
		if h := e.handler.Load(); h != nil {
			(*h).HandlePresence(c)
		}
		if fn := e.members.Load(); fn != nil {
			(*fn)(c)
		}
		pr.mu.Lock()
	}
	t.queue = nil
	t.draining = false
	if len(t.entries) == 0 && pr.topics[topic] == t {
		delete(pr.topics, topic)
	}
	pr.mu.Unlock()
}

// Presence returns who is on topic and the page of its members that page
// asks for, sorted by user, read from the page's After on.
func (e *Engine) Presence(ctx context.Context, topic string, page broker.PresencePage) (broker.PresenceState, error) {
	if err := e.checkPresence(ctx, topic); err != nil {
		return broker.PresenceState{}, err
	}
	pr := e.presence
	fill := page.Filler()
	st := broker.PresenceState{}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if t := pr.topics[topic]; t != nil {
		st.Users, st.Sessions = len(t.users), len(t.entries)
		for _, name := range t.namesAfter(page.After) {
			u := t.users[name]
			if !fill.Add(broker.Member{User: name, Sessions: u.sessions, Info: u.info}) {
				break
			}
		}
	}
	st.Members, st.Truncated = fill.Members, fill.Truncated
	return st, nil
}

// addName and removeName keep names sorted as users join and leave: a
// binary search and a copy of the names after it, a few microseconds at
// the connections one node holds.
func (t *presenceTopic) addName(user string) {
	i, _ := slices.BinarySearch(t.names, user)
	t.names = slices.Insert(t.names, i, user)
}

func (t *presenceTopic) removeName(user string) {
	if i, ok := slices.BinarySearch(t.names, user); ok {
		t.names = slices.Delete(t.names, i, i+1)
	}
}

// namesAfter returns the names that sort after after.
func (t *presenceTopic) namesAfter(after string) []string {
	i, found := slices.BinarySearch(t.names, after)
	if found {
		i++
	}
	return t.names[i:]
}

// Control hands c to the Handler, on the caller's goroutine: this node is
// every node.
func (e *Engine) Control(ctx context.Context, c broker.Control) error {
	if err := e.usable(ctx); err != nil {
		return err
	}
	if err := broker.CheckControl(c); err != nil {
		return err
	}
	if h := e.handler.Load(); h != nil {
		(*h).HandleControl(c)
	}
	return nil
}

// checkPresence refuses a call on a closed engine, with an ended context,
// or for what is not a topic.
func (e *Engine) checkPresence(ctx context.Context, topic string) error {
	if err := e.usable(ctx); err != nil {
		return err
	}
	return checkTopic(topic)
}
