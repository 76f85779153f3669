package memory

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/herald-broker/herald/broker"
)

// A topic's sorted names follow its users through joins and leaves in any
// order, second sessions of a user included, so that a page read from
// After on lists exactly the users after it.
func TestPresenceNamesFollowTheUsers(t *testing.T) {
	e := New(Config{})
	defer e.Close(context.Background())
	ctx := context.Background()
	const topic = "room.names"
	rng := rand.New(rand.NewPCG(1, 2))
	held := map[string]broker.PresenceEntry{} // by session
	for i := range 3000 {
		if len(held) > 0 && rng.IntN(3) == 0 {
			for s, p := range held { // any one
				if err := e.RemovePresence(ctx, p); err != nil {
					t.Fatal(err)
				}
				delete(held, s)
				break
			}
			continue
		}
		p := broker.PresenceEntry{Topic: topic, Session: fmt.Sprintf("s%d", i), User: fmt.Sprintf("u%03d", rng.IntN(400))}
		if err := e.AddPresence(ctx, p); err != nil {
			t.Fatal(err)
		}
		held[p.Session] = p
	}
	e.presence.mu.Lock()
	pt := e.presence.topics[topic]
	var users []string
	for u := range pt.users {
		users = append(users, u)
	}
	names := slices.Clone(pt.names)
	e.presence.mu.Unlock()
	slices.Sort(users)
	if !slices.Equal(names, users) {
		t.Fatalf("names %d, users %d: the index left its users", len(names), len(users))
	}
	after := users[len(users)/2]
	st, err := e.Presence(ctx, topic, broker.PresencePage{After: after, MaxBytes: broker.DefaultMaxPresenceBytes})
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, m := range st.Members {
		listed = append(listed, m.User)
	}
	if want := users[len(users)/2+1:]; !slices.Equal(listed, want) || st.Truncated {
		t.Fatalf("page after %s lists %d users (truncated %v), want the %d after it", after, len(listed), st.Truncated, len(want))
	}
}
