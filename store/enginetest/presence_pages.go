package enginetest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/herald-broker/herald/broker"
)

// testPresencePages: a read lists the members after the page's After, in
// order, as many as fit in its MaxBytes (at least one), says whether any
// were left out, and counts the whole topic whatever it lists; reading
// page after page lists every member once.
func (s *presenceSuite) testPresencePages(t *testing.T) {
	ns := s.nodes(t, 2)
	ctx := testContext(t)
	topic := uniqueTopic("pages")
	const users = 30
	var all []string
	for i := range users {
		user := fmt.Sprintf("u%02d", i)
		info := ""
		if i%3 != 0 {
			info = fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", 10*i))
		}
		add(t, ctx, ns[i%len(ns)], entry(topic, newSession(), user, info))
		all = append(all, user)
	}
	add(t, ctx, ns[0], entry(topic, newSession(), "u00", ""))      // a second tab
	add(t, ctx, ns[len(ns)-1], entry(topic, newSession(), "", "")) // anonymous
	whole := presenceOf(t, ctx, ns[0], topic)

	const budget = 1000
	for i, n := range ns {
		var listed []string
		page := broker.PresencePage{MaxBytes: budget}
		for pages := 1; ; pages++ {
			st, err := n.Presence(ctx, topic, page)
			if err != nil {
				t.Fatalf("node %d page %d: %v", i, pages, err)
			}
			if st.Users != users || st.Sessions != users+2 || len(st.Members) == 0 {
				t.Fatalf("node %d page %d: users %d sessions %d members %d, want %d, %d and some", i, pages, st.Users, st.Sessions, len(st.Members), users, users+2)
			}
			used := 0
			for _, m := range st.Members {
				used += broker.MemberBytes(m.User, m.Info)
				listed = append(listed, m.User)
			}
			if used > budget {
				t.Fatalf("node %d page %d: members of %d bytes, past %d", i, pages, used, budget)
			}
			left := whole.Members[len(listed):]
			if !samePresence(broker.PresenceState{Members: st.Members}, broker.PresenceState{Members: whole.Members[len(listed)-len(st.Members) : len(listed)]}) {
				t.Fatalf("node %d page %d lists %s, not the next of %s", i, pages, showPresence(st), showPresence(whole))
			}
			if st.Truncated != (len(left) > 0) {
				t.Fatalf("node %d page %d: truncated %v with %d members left", i, pages, st.Truncated, len(left))
			}
			if len(left) > 0 && used+broker.MemberBytes(left[0].User, left[0].Info) <= budget {
				t.Fatalf("node %d page %d stops before %q, which fits", i, pages, left[0].User)
			}
			if !st.Truncated {
				if pages < 3 || strings.Join(listed, ",") != strings.Join(all, ",") {
					t.Fatalf("node %d: %d pages listed %v, want %v in several", i, pages, listed, all)
				}
				break
			}
			page.After = listed[len(listed)-1]
		}
	}

	// A page of no bytes lists one member; one after the last, none.
	for _, c := range []struct {
		page      broker.PresencePage
		members   int
		truncated bool
	}{
		{broker.PresencePage{}, 1, true},
		{broker.PresencePage{After: "u28"}, 1, false},
		{broker.PresencePage{After: "u29", MaxBytes: budget}, 0, false},
		{broker.PresencePage{After: "\xff", MaxBytes: budget}, 0, false},
	} {
		st, err := ns[0].Presence(ctx, topic, c.page)
		if err != nil || len(st.Members) != c.members || st.Truncated != c.truncated || st.Users != users || st.Members == nil {
			t.Errorf("Presence(%+v) = %s users %d truncated %v, %v; want %d members, truncated %v", c.page, showPresence(st), st.Users, st.Truncated, err, c.members, c.truncated)
		}
	}
}
