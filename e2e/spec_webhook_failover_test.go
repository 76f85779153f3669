//go:build unix

package e2e

import (
	"fmt"
	"strings"
	"syscall"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/internal/redistest"
)

// Section 11: member_added and member_removed come exactly when a join or
// leave is sent, and section 8 has a user's joins and leaves alternate.
// A failover that loses a join from Redis after the backend was sent its
// member_added has the node that made it make it again (section 12); the
// backend is not sent the member_added a second time, as no subscription
// that was sent the join is: the node that sent it sends on after the
// failover, though it outlasted the sender's lease (1.5 s here), as it
// takes its lease again before another node may.
func TestSpecWebhookMemberEventsOnceAcrossALossyFailover(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t)
	backend, a, b := startHookedPair(t, s.URL(), "100ms")
	ada := wsOpen(t, a.ws+"?mode=ok&user=ada", dialOpts{})
	ada.cmd("s", `{"type":"subscribe","id":"s","topic":"room.lossy"}`)
	eventually(t, "ada's member_added", func() bool { return memberEvents(backend, "room.lossy") == "+ada" })

	lose := loseWhatFollows(t, s)
	bob := wsOpen(t, b.ws+"?mode=ok&user=bob", dialOpts{})
	bob.cmd("s", `{"type":"subscribe","id":"s","topic":"room.lossy"}`)
	eventually(t, "bob's member_added", func() bool { return memberEvents(backend, "room.lossy") == "+ada +bob" })
	lose()

	// Once bob is back in Redis, carl joins: his member_added comes after
	// whatever the repair of bob's entry queued.
	eventually(t, "bob present again after the failover", func() bool {
		_, m := getPresence(t, &a.node, "room.lossy")
		return m["users"] == 2.0
	})
	carl := wsOpen(t, a.ws+"?mode=ok&user=carl", dialOpts{})
	eventually(t, "carl's subscribe after the failover", func() bool {
		return carl.cmd("s", `{"type":"subscribe","id":"s","topic":"room.lossy"}`)["type"] == "subscribed"
	})
	eventually(t, "carl's member_added", func() bool { return strings.HasSuffix(memberEvents(backend, "room.lossy"), "+carl") })
	if got := memberEvents(backend, "room.lossy"); got != "+ada +bob +carl" {
		t.Errorf("the backend's member events of room.lossy: %s, want +ada +bob +carl", got)
	}
}

// memberEvents lists the member events the backend took of topic, +user
// for member_added and -user for member_removed.
func memberEvents(backend *hookBackend, topic string) string {
	var out []string
	for _, ev := range backend.events(0) {
		if ev["topic"] != topic {
			continue
		}
		switch ev["name"] {
		case "member_added":
			out = append(out, fmt.Sprint("+", ev["user"]))
		case "member_removed":
			out = append(out, fmt.Sprint("-", ev["user"]))
		}
	}
	return strings.Join(out, " ")
}

// Section 11: a topic's events alternate, topic_vacated after
// topic_occupied, and a topic that gets a subscriber after it was
// reported vacated is reported occupied. A failover that loses the
// topic's vacating from Redis, after the backend was sent its
// topic_vacated, leaves the node listed there as holding it: without
// setting that right, a later subscriber anywhere was never reported, nor
// the topic's end after it.
func TestSpecWebhookOccupancyAcrossALossyFailover(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t)
	backend, url := startHookBackend(t, 0)
	a := startProcess(t, "a", "HERALD_REDIS_URL="+s.URL(), "HERALD_CONNECT_URL="+url+"/connect",
		"HERALD_WEBHOOK_URL="+url+"/webhook", "HERALD_WEBHOOK_VACATED_DELAY=100ms", "HERALD_HOOK_TIMEOUT=300ms")
	ada := wsOpen(t, a.ws+"?mode=ok&user=ada", dialOpts{})
	ada.cmd("s", `{"type":"subscribe","id":"s","topic":"room.occ"}`)
	eventually(t, "topic_occupied", func() bool { return topicEvents(backend, "room.occ") == "occupied" })

	lose := loseWhatFollows(t, s)
	ada.cmd("u", `{"type":"unsubscribe","id":"u","topic":"room.occ"}`)
	eventually(t, "topic_vacated", func() bool { return topicEvents(backend, "room.occ") == "occupied vacated" })
	lose()

	// Once the node no longer stands as holding the topic in Redis, a
	// subscriber comes back.
	master := goredis.NewClient(&goredis.Options{Addr: s.MasterAddr()})
	defer master.Close()
	eventually(t, "the node's holding set right", func() bool {
		held, err := master.HExists(t.Context(), "herald:{webhooks}:held:a", "room.occ").Result()
		return err == nil && !held
	})
	eventually(t, "a subscribe after the failover", func() bool {
		return ada.cmd("s2", `{"type":"subscribe","id":"s2","topic":"room.occ"}`)["type"] == "subscribed"
	})
	eventually(t, "topic_occupied again", func() bool {
		return strings.HasSuffix(topicEvents(backend, "room.occ"), "vacated occupied")
	})
	if got := topicEvents(backend, "room.occ"); got != "occupied vacated occupied" {
		t.Errorf("the backend's events of room.occ: %s, want occupied vacated occupied", got)
	}
}

// loseWhatFollows stops the replica of s's master and fills the
// replication link's buffers, so that what the master takes next stays in
// its memory; the function it returns kills the master, lets the replica
// go on and waits for it to take over, losing all that.
func loseWhatFollows(t *testing.T, s *redistest.Sentinel) func() {
	t.Helper()
	master := goredis.NewClient(&goredis.Options{Addr: s.MasterAddr()})
	defer master.Close()
	if n, err := master.Do(t.Context(), "WAIT", 1, 5000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 = %d, %v: the replica does not hold what came before", n, err)
	}
	replica := s.Servers()[1]
	if replica.Addr() == s.MasterAddr() {
		replica = s.Servers()[0]
	}
	pid := replicaPID(t, replica.Addr())
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)
	if err := master.Set(t.Context(), "filler", strings.Repeat("x", 32<<20), 0).Err(); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		old := s.KillMaster()
		resume()
		s.WaitFailover(old)
	}
}

// topicEvents lists the occupancy events the backend took of topic.
func topicEvents(backend *hookBackend, topic string) string {
	var out []string
	for _, ev := range backend.events(0) {
		if ev["topic"] == topic {
			if name, ok := strings.CutPrefix(fmt.Sprint(ev["name"]), "topic_"); ok {
				out = append(out, name)
			}
		}
	}
	return strings.Join(out, " ")
}
