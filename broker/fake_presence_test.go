package broker

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// fakePresence is the fake engine's presence: entries per topic and
// session, joins and leaves per user decided under one lock and handed to
// the Handler in that order, and controls handed to it at once, as a
// one-node engine would.
type fakePresence struct {
	mu       sync.Mutex // held from deciding a change through its delivery
	entries  map[string]map[string]PresenceEntry
	failAdd  error
	controls []Control
	// whileRead, when set, runs after a presence read and before its
	// answer returns, once.
	whileRead func()
	// whileLostJoins, when set, runs after a read of LostJoins and before
	// its answer returns, once.
	whileLostJoins func()
	// checked are the joins LostJoins was asked about, in order.
	checked []SentJoin
	// failLostJoins, when set, is LostJoins's error, returned with what
	// it found, as after a batch that failed.
	failLostJoins error
}

// LostJoins returns the users of those of joins with no entry on topic.
func (e *fakeEngine) LostJoins(ctx context.Context, topic string, joins []SentJoin) ([]string, error) {
	e.pres.mu.Lock()
	var gone []string
	for _, j := range joins {
		if e.sessionsOf(topic, j.User) == 0 {
			gone = append(gone, j.User)
		}
	}
	e.pres.checked = append(e.pres.checked, joins...)
	f := e.pres.whileLostJoins
	e.pres.whileLostJoins = nil
	err := e.pres.failLostJoins
	e.pres.mu.Unlock()
	if f != nil {
		f()
	}
	return gone, err
}

func (e *fakeEngine) AddPresence(ctx context.Context, p PresenceEntry) error {
	e.pres.mu.Lock()
	defer e.pres.mu.Unlock()
	if e.pres.failAdd != nil {
		return e.pres.failAdd
	}
	if e.pres.entries == nil {
		e.pres.entries = make(map[string]map[string]PresenceEntry)
	}
	on := e.pres.entries[p.Topic]
	if on == nil {
		on = make(map[string]PresenceEntry)
		e.pres.entries[p.Topic] = on
	}
	if _, have := on[p.Session]; have {
		return nil
	}
	first := p.User != "" && e.sessionsOf(p.Topic, p.User) == 0
	on[p.Session] = p
	if first {
		e.h.HandlePresence(PresenceChange{Topic: p.Topic, User: p.User, Info: p.Info, Join: true, Session: p.Session})
	}
	return nil
}

func (e *fakeEngine) RemovePresence(ctx context.Context, p PresenceEntry) error {
	e.pres.mu.Lock()
	defer e.pres.mu.Unlock()
	had, ok := e.pres.entries[p.Topic][p.Session]
	if !ok {
		return nil
	}
	delete(e.pres.entries[p.Topic], p.Session)
	if had.User != "" && e.sessionsOf(p.Topic, had.User) == 0 {
		e.h.HandlePresence(PresenceChange{Topic: p.Topic, User: had.User, Session: p.Session})
	}
	return nil
}

// sessionsOf counts user's entries on topic; pres.mu is held.
func (e *fakeEngine) sessionsOf(topic, user string) int {
	n := 0
	for _, have := range e.pres.entries[topic] {
		if have.User == user {
			n++
		}
	}
	return n
}

func (e *fakeEngine) Presence(ctx context.Context, topic string, page PresencePage) (PresenceState, error) {
	st := e.readPresence(topic, page)
	e.pres.mu.Lock()
	f := e.pres.whileRead
	e.pres.whileRead = nil
	e.pres.mu.Unlock()
	if f != nil {
		f()
	}
	return st, nil
}

// readPresence is the page of topic's members after page.After.
func (e *fakeEngine) readPresence(topic string, page PresencePage) PresenceState {
	e.pres.mu.Lock()
	defer e.pres.mu.Unlock()
	st := PresenceState{Members: []Member{}}
	byUser := map[string]int{}
	for _, p := range e.pres.entries[topic] {
		st.Sessions++
		if p.User == "" {
			continue
		}
		i, ok := byUser[p.User]
		if !ok {
			i = len(st.Members)
			byUser[p.User] = i
			st.Members = append(st.Members, Member{User: p.User, Info: p.Info})
		}
		st.Members[i].Sessions++
	}
	st.Users = len(st.Members)
	slices.SortFunc(st.Members, func(a, b Member) int { return strings.Compare(a.User, b.User) })
	fill := page.Filler()
	for _, m := range st.Members {
		if m.User > page.After && !fill.Add(m) {
			break
		}
	}
	st.Members, st.Truncated = fill.Members, fill.Truncated
	return st
}

// presentSessions counts the entries of topic.
func (e *fakeEngine) presentSessions(topic string) int {
	e.pres.mu.Lock()
	defer e.pres.mu.Unlock()
	return len(e.pres.entries[topic])
}

func (e *fakeEngine) Control(ctx context.Context, c Control) error {
	e.pres.mu.Lock()
	e.pres.controls = append(e.pres.controls, c)
	e.pres.mu.Unlock()
	e.h.HandleControl(c)
	return nil
}
