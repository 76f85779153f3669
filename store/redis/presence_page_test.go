package redis_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

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
	// The first read's candidates all leave before their members are read.
	listable := page.MaxListed()
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

// A page is a range of the topic's names index, not a scan of the whole
// topic: paging a topic through never lists its users all at once
// (HKEYS). A topic written before the index existed, or by a node that
// does not keep it, is indexed again from its users on the next read,
// and paged in full and in order.
func TestPresencePagesReadTheNamesIndex(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	e := newEngine(t, srv.URL(), redis.Config{NodeID: "n"})
	info := []byte(`{"p":"` + strings.Repeat("x", 200) + `"}`)
	var want []string
	for i := range 120 {
		user := fmt.Sprintf("u%03d", i)
		mustAdd(t, e, broker.PresenceEntry{Topic: "room.1", Session: fmt.Sprintf("s%03d", i), User: user, Info: info})
		want = append(want, user)
	}
	page := broker.PresencePage{MaxBytes: 10 * broker.MemberBytes("u000", info)}
	readAll := func() []string {
		t.Helper()
		var got []string
		for p := page; ; {
			st, err := e.Presence(ctxFor(t), "room.1", p)
			if err != nil {
				t.Fatal(err)
			}
			if st.Users != len(want) || len(st.Members) == 0 && st.Truncated {
				t.Fatalf("page after %q: %d users, %d members, truncated %v", p.After, st.Users, len(st.Members), st.Truncated)
			}
			for _, m := range st.Members {
				got = append(got, m.User)
			}
			if !st.Truncated {
				return got
			}
			p.After = got[len(got)-1]
		}
	}
	hkeys0 := commandCalls(t, admin, "hkeys")
	if got := readAll(); !slices.Equal(got, want) {
		t.Fatalf("pages listed %v, want %v", got, want)
	}
	if n := commandCalls(t, admin, "hkeys") - hkeys0; n != 0 {
		t.Errorf("paging an indexed topic ran HKEYS %d times, want 0", n)
	}

	// The index lost, and a user written without it, as by an older node.
	keys, _ := redis.PresenceKeys(e, "room.1", "life")
	names := keys[4]
	if !strings.HasSuffix(names, ":names") {
		t.Fatalf("the fifth presence key is %q, want the names index", names)
	}
	if err := admin.Del(ctxFor(t), names).Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.HSet(ctxFor(t), keys[1], "u999", "1\n").Err(); err != nil {
		t.Fatal(err)
	}
	want = append(want, "u999")
	hkeys0 = commandCalls(t, admin, "hkeys")
	if got := readAll(); !slices.Equal(got, want) {
		t.Fatalf("pages of an unindexed topic listed %v, want %v", got, want)
	}
	if n := commandCalls(t, admin, "hkeys") - hkeys0; n != 1 {
		t.Errorf("paging an unindexed topic ran HKEYS %d times, want 1 (indexing it)", n)
	}
	if n, err := admin.ZCard(ctxFor(t), names).Result(); err != nil || n != int64(len(want)) {
		t.Fatalf("the index holds %d names (%v), want %d", n, err, len(want))
	}
}

// commandCalls is how many times the Redis of admin ran command.
func commandCalls(t *testing.T, admin *goredis.Client, command string) int {
	t.Helper()
	return redistest.CommandCalls(t, admin.Options().Addr, command)
}
