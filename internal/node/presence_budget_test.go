package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/store/memory"
	"github.com/herald-broker/herald/transport"
)

// A write-queue bound whose presence budget could not hold one member of
// the largest size is refused when the node is built, naming the setting,
// rather than closing with 4000 whoever asks for presence.
func TestBuildRefusesAQueueTooSmallForOnePresenceMember(t *testing.T) {
	eng := memory.New(memory.Config{})
	defer eng.Close(context.Background())
	cfg := node.Config{Transport: transport.Config{MaxQueueBytes: node.MinQueueBytes - 1}}
	_, err := node.Build(cfg, eng, nil)
	if !errors.Is(err, node.ErrConfig) || !strings.Contains(err.Error(), "HERALD_MAX_QUEUE_BYTES") ||
		!strings.Contains(err.Error(), fmt.Sprint(node.MinQueueBytes)) {
		t.Fatalf("Build with MaxQueueBytes %d = %v, want ErrConfig naming HERALD_MAX_QUEUE_BYTES and %d",
			node.MinQueueBytes-1, err, node.MinQueueBytes)
	}
}

// At the least queue bound a node takes, members of the largest size (a
// user of MaxUserBytes that JSON escapes byte by byte, MaxInfoBytes of
// info) are listed a page at a time, and asking never closes the asker.
func TestLeastQueueListsLargestMembers(t *testing.T) {
	eng := memory.New(memory.Config{})
	cfg := node.Config{
		Broker:    broker.Config{PresenceTopics: []string{"room.*"}},
		Transport: transport.Config{MaxQueueBytes: node.MinQueueBytes},
	}
	_, addr := serveOn(t, cfg, eng)
	info := fmt.Sprintf(`{"p":%q}`, strings.Repeat("x", broker.MaxInfoBytes-8))
	if len(info) != broker.MaxInfoBytes {
		t.Fatalf("info is %d bytes, want %d", len(info), broker.MaxInfoBytes)
	}
	const members = 3
	for i := range members {
		user := strings.Repeat("\x01", broker.MaxUserBytes-1) + string(rune(2+i))
		e := broker.PresenceEntry{Topic: "room.1", Session: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), User: user, Info: []byte(info)}
		if broker.MemberBytes(user, e.Info) != broker.MaxMemberBytes {
			t.Fatalf("member counts %d, want %d", broker.MemberBytes(user, e.Info), broker.MaxMemberBytes)
		}
		if err := eng.AddPresence(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := dial(t, addr)
	after, listed := "", 0
	for page := 0; ; page++ {
		ask, _ := json.Marshal(map[string]any{"type": "presence", "id": "p", "topic": "room.1", "after": after})
		if err := wsutil.WriteClientText(c, ask); err != nil {
			t.Fatal(err)
		}
		f, err := nextFrame(c)
		if err != nil || f.Header.OpCode != ws.OpText {
			code, _ := ws.ParseCloseFrameData(f.Payload)
			t.Fatalf("page %d: %v, opcode %v, close %d", page, err, f.Header.OpCode, code)
		}
		var reply struct {
			Users     int  `json:"users"`
			Truncated bool `json:"truncated"`
			Members   []struct {
				User string `json:"user"`
			} `json:"members"`
		}
		if err := json.Unmarshal(f.Payload, &reply); err != nil || reply.Users != members || len(reply.Members) != 1 {
			t.Fatalf("page %d: %.200s (%v), want one of %d members", page, f.Payload, err, members)
		}
		listed++
		after = reply.Members[0].User
		if !reply.Truncated {
			break
		}
	}
	if listed != members {
		t.Fatalf("listed %d members in pages, want %d", listed, members)
	}
}
