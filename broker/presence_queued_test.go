package broker

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
)

// queuedConn is a fakeConn that says it holds queued bytes not yet
// written (QueueLengther), as a transport connection does.
type queuedConn struct {
	*fakeConn
	queued atomic.Int64
}

func (c *queuedConn) QueuedBytes() int { return int(c.queued.Load()) }

// A presence reply fits beside what its asker has queued and not yet
// written: docs/protocol.md section 8 pages presence so that asking never
// closes the asker as a slow consumer (4000), but the page's budget was
// counted as if the queue were empty, so a subscriber behind on its
// messages that asked who is there was closed by the answer, and a
// client that never reads had the node read a whole page for it from the
// engine, each time, until its queue overflowed.
func TestPresencePageFitsBesideWhatIsQueued(t *testing.T) {
	const resume = 64 << 10
	info := fmt.Sprintf(`{"p":%q}`, strings.Repeat("x", 900))
	b, _ := newTestBroker(t, Config{PresenceTopics: []string{"room.*"}, MaxPresenceBytes: 16 << 10, MaxResumeBytes: resume})
	for i := range 40 {
		c := connect(t, b, ClientInfo{Subject: fmt.Sprintf("u%02d", i), Info: []byte(info)})
		c.do(t, "s", `{"type":"subscribe","id":"s","topic":"room.1"}`)
	}
	qc := &queuedConn{fakeConn: newFakeConn(t)}
	asker := &client{fakeConn: qc.fakeConn, s: b.Connect(qc, ClientInfo{})}
	members := func(id string) int {
		t.Helper()
		r := asker.do(t, id, `{"type":"presence","id":"%s","topic":"room.1"}`, id)
		list, _ := r["members"].([]any)
		if num(t, r["users"]) != 40 || r["truncated"] != true {
			t.Fatalf("reply %v, want 40 users over several pages", r)
		}
		return len(list)
	}
	whole := members("empty")
	if whole < 10 {
		t.Fatalf("a page with nothing queued lists %d members, want the budget's worth", whole)
	}
	qc.queued.Store(resume)
	if n := members("behind"); n != 1 {
		t.Fatalf("with the queue at its bound the page lists %d members, want the one that always comes", n)
	}
	qc.queued.Store(resume - 8<<10)
	if n := members("half"); n >= whole || n < 2 {
		t.Fatalf("with 8 KiB left the page lists %d members (%d with nothing queued)", n, whole)
	}
}
