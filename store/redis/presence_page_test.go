package redis_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// A page whose every candidate leaves between the read of the names and
// that of the members is not answered truncated with no members, which
// would leave the asker no user to ask after: the read goes on past them.
func TestPresencePageReadsOnPastUsersWhoLeft(t *testing.T) {
	t.Parallel()
	e := newEngine(t, redistest.Start(t).URL(), redis.Config{NodeID: "n"})
	info := []byte(fmt.Sprintf(`{"p":%q}`, strings.Repeat("x", 900)))
	page := broker.PresencePage{MaxBytes: 2 * broker.MemberBytes("u00", info)} // two members a page
	entries := make([]broker.PresenceEntry, 60)
	for i := range entries {
		entries[i] = broker.PresenceEntry{Topic: "room.1", Session: fmt.Sprintf("s%02d", i), User: fmt.Sprintf("u%02d", i), Info: info}
		mustAdd(t, e, entries[i])
	}
	// The page may list at most maxListed = MaxBytes/49+1 candidates; the
	// first read's candidates all leave before their members are read.
	listable := page.MaxBytes/49 + 1
	if listable >= len(entries) {
		t.Fatalf("a page takes %d candidates of %d users: the topic is too small", listable, len(entries))
	}
	reads := 0
	redis.BetweenPresenceReads(e, func() {
		reads++
		if reads > 1 {
			return
		}
		for _, en := range entries[:listable] {
			if err := e.RemovePresence(ctxFor(t), en); err != nil {
				t.Error(err)
			}
		}
	})
	st, err := e.Presence(ctxFor(t), "room.1", page)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("u%02d", listable)
	if len(st.Members) == 0 || st.Members[0].User != want || !st.Truncated || reads != 2 {
		t.Fatalf("page = %+v truncated %v after %d reads, want members from %s, truncated, after 2 reads",
			st.Members, st.Truncated, reads, want)
	}
}
