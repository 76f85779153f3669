package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/broker"
	heraldnode "github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/memory"
	"github.com/herald-broker/herald/transport"
	"go.uber.org/zap/zaptest"
)

// bigRoomMembers members with 1 KiB of info each list past the default
// HERALD_MAX_QUEUE_BYTES (1 MiB) in one reply.
const bigRoomMembers = 1100

// smallQueue is a HERALD_MAX_QUEUE_BYTES that smallRoomMembers pass.
const (
	smallQueue       = 64 << 10
	smallRoomMembers = 100
)

// presencePage is one presence reply, over WebSocket or HTTP.
type presencePage struct {
	Type      string `json:"type"`
	Users     int    `json:"users"`
	Sessions  int    `json:"sessions"`
	Truncated bool   `json:"truncated"`
	Members   []struct {
		User string          `json:"user"`
		Info json.RawMessage `json:"info"`
	} `json:"members"`
}

// fillBigRoom records members sessions on room.big straight in the
// engine, each its own user with info of about 1 KiB.
func fillBigRoom(t *testing.T, eng broker.Engine, members int) {
	t.Helper()
	info := []byte(fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", 1000)))
	for i := range members {
		e := broker.PresenceEntry{Topic: "room.big", Session: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), User: fmt.Sprintf("u%05d", i), Info: info}
		if err := eng.AddPresence(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

// startPresenceNodeOn is startPresenceNode over eng with the queue bound
// maxQueue (0: the default).
func startPresenceNodeOn(t *testing.T, eng broker.Engine, maxQueue int) *node {
	t.Helper()
	n := nodetest.Start(t, nodetest.Options{Engine: eng, Node: heraldnode.Config{
		NodeID: "test-node", Tokens: hsVerifier(t),
		Broker:    broker.Config{MaxSubscriptions: 100, PresenceTopics: []string{"room.*"}},
		Transport: transport.Config{MaxQueueBytes: maxQueue},
		API:       api.Config{APIKeys: []string{"k"}},
	}})
	return &node{srv: n.API, base: n.Base, addr: n.Addr, wsURL: n.WS, broker: n.Broker}
}

// A topic whose members would not fit in one reply is answered in pages
// that do, within a quarter of the queue bound, at most 256 KiB, over
// WebSocket and HTTP; the asker stays connected and can read every member
// by asking again after the last one it got.
func TestPresenceOfAHugeTopicComesInPages(t *testing.T) {
	for _, c := range []struct {
		name           string
		members, queue int
		budget         int
	}{
		{"memory", bigRoomMembers, 0, 256 << 10},
		{"redis", bigRoomMembers, 0, 256 << 10},
		{"memory-small-queue", smallRoomMembers, smallQueue, smallQueue / 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			var eng broker.Engine = memory.New(memory.Config{Logger: zaptest.NewLogger(t)})
			if c.name == "redis" {
				eng = redisEngine(t, redistest.Start(t).URL())
			}
			n := startPresenceNodeOn(t, eng, c.queue)
			fillBigRoom(t, eng, c.members)
			asker := userClient(t, n, "asker", "")
			asker.subscribe("room.big")
			want := c.members + 1

			ws := readAllPages(t, want, c.budget, func(after string) []byte {
				field := ""
				if after != "" {
					field = fmt.Sprintf(`,"after":%q`, after)
				}
				return asker.command(`{"type":"presence","id":"p","topic":"room.big"` + field + `}`)
			})
			http := readAllPages(t, want, c.budget, func(after string) []byte {
				q := url.Values{"topic": {"room.big"}}
				if after != "" {
					q.Set("after", after)
				}
				r := n.get(t, "/api/presence?"+q.Encode(), withKey...)
				if r.status != 200 {
					t.Fatalf("got %d %s", r.status, r.body)
				}
				return r.body
			})
			if !slices.Equal(ws, http) {
				t.Error("WebSocket and HTTP list different members")
			}
			wantReply(t, asker.command(`{"type":"presence","id":"b","topic":"room.big","after":5}`), "error", "bad_request")
			wantReply(t, asker.command(`{"type":"ping","id":"after"}`), "pong", "")
		})
	}
}

// readAllPages asks for pages until one is not truncated and returns the
// users listed, checking that each page fits the reply budget, counts the
// whole topic and lists users sorted, each once.
func readAllPages(t *testing.T, want, budget int, ask func(after string) []byte) []string {
	t.Helper()
	var users []string
	after := ""
	for pages := 1; ; pages++ {
		raw := ask(after)
		var p presencePage
		if err := json.Unmarshal(raw, &p); err != nil || (p.Type != "" && p.Type != "presence") {
			t.Fatalf("page %d: %.200s (%v)", pages, raw, err)
		}
		if len(raw) > budget+1<<10 {
			t.Fatalf("page %d is %d bytes, past the budget %d", pages, len(raw), budget)
		}
		if p.Users != want || p.Sessions != want || len(p.Members) == 0 {
			t.Fatalf("page %d: users %d sessions %d members %d, want %d, %d and some", pages, p.Users, p.Sessions, len(p.Members), want, want)
		}
		for _, m := range p.Members {
			if m.User <= after {
				t.Fatalf("page %d lists %q after %q", pages, m.User, after)
			}
			users, after = append(users, m.User), m.User
		}
		if !p.Truncated {
			if pages == 1 || len(users) != want {
				t.Fatalf("%d pages listed %d users, want %d in more than one page", pages, len(users), want)
			}
			return users
		}
	}
}
