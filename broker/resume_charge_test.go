package broker

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// spendingBudget is an address's command budget that allows every
// command and counts those taken at once.
type spendingBudget struct{ spent atomic.Int64 }

func (*spendingBudget) AllowCommand(int64) bool { return true }

func (p *spendingBudget) SpendCommands(_ int64, n int) { p.spent.Add(int64(n)) }

func (p *spendingBudget) GiveBackCommands(_ int64, n int) { p.spent.Add(-int64(n)) }

// A resume counts as one more command for each ResumeCommandBytes of
// history it sends, or each ResumeCommandMessages it reads, whichever is
// more, toward its connection's rate and its address's budget: one that
// sends 10 messages of 50 KiB takes 7 more from both, one that reads 40
// small messages 2, where one that sends 3 small ones takes nothing more. The connection's
// bucket is read as the time it would be full again, which each command
// moves on by a second at one command a second.
func TestResumeCountsAsCommandsByWhatItSends(t *testing.T) {
	const rate = 1
	b, _ := newTestBroker(t, Config{RateLimit: rate, MaxResumeBytes: 4 << 20, MaxMessageBytes: 64 << 10})
	publishSized(t, b, "big", 10, 50<<10)
	publishN(t, b, "small", 3)
	publishN(t, b, "many", 40)
	for _, tc := range []struct {
		topic string
		spent int64
	}{
		{"small", 0},
		{"big", 10 * (50 << 10) / ResumeCommandBytes},
		{"many", 40 / ResumeCommandMessages},
	} {
		budget := &spendingBudget{}
		c := connect(t, b, ClientInfo{Pacer: budget})
		before := time.Now().UnixNano()
		r := c.do(t, "1", `{"type":"subscribe","id":"1","topic":%q,"since":{"epoch":"e1","seq":0}}`, tc.topic)
		if r["type"] != "subscribed" || r["recovered"] != true {
			t.Fatalf("%s: reply %v", tc.topic, r)
		}
		if got := budget.spent.Load(); got != tc.spent {
			t.Errorf("%s: the address's budget was spent %d more, want %d", tc.topic, got, tc.spent)
		}
		c.s.mu.Lock()
		full := c.s.limiter.bucket.tat
		c.s.mu.Unlock()
		if commands := 1 + tc.spent; full < before+commands*int64(time.Second) {
			t.Errorf("%s: the connection's rate counted fewer than %d commands", tc.topic, commands)
		}
	}
}

// resumeReadingEngine is a fakeEngine that reads resumes as an engine
// that is a ResumeReader does, and counts what they read.
type resumeReadingEngine struct {
	*fakeEngine
	read atomic.Int64 // ResumeBytes of the messages resumes read
}

func (e *resumeReadingEngine) ResumeHistory(ctx context.Context, topic string, since Position, maxBytes int) (HistoryResult, error) {
	h, err := e.History(ctx, topic, since.Seq, 0)
	n := 0
	for i, m := range h.Messages {
		n += ResumeBytes(m)
		if n > maxBytes {
			h.Messages = h.Messages[:i+1]
			break
		}
	}
	for _, m := range h.Messages {
		e.read.Add(int64(ResumeBytes(m)))
	}
	return h, err
}

// A resume reads from the engine no more than fits beside what its
// connection has queued: one that had nearly its whole bound queued
// read the bound's worth of history, then sent none of it, and so was
// counted as no more than its own command however often it came.
func TestResumeReadsWhatFitsBesideTheQueue(t *testing.T) {
	const bound, size = 256 << 10, 20 << 10
	e := &resumeReadingEngine{fakeEngine: newFakeEngine()}
	b := newBrokerOn(t, Config{NodeID: "node-1", MaxResumeBytes: bound, MaxMessageBytes: 64 << 10}, e)
	publishSized(t, b, "big", 10, size)
	qc := &queuedConn{fakeConn: newFakeConn(t)}
	qc.queued.Store(bound - 4<<10)
	c := &client{fakeConn: qc.fakeConn, s: b.Connect(qc, ClientInfo{})}
	r := c.do(t, "1", `{"type":"subscribe","id":"1","topic":"big","since":{"epoch":"e1","seq":0}}`)
	if r["type"] != "subscribed" {
		t.Fatalf("reply %v", r)
	}
	if got := e.read.Load(); got > 2*size {
		t.Errorf("the resume read %d bytes of history with %d bytes of room beside the queue", got, 4<<10)
	}
}

// An SSE stream's resume counts as a WebSocket's without compression:
// one more command of its address's budget for each ResumeCommandBytes
// of history it sends, which the stream's sends are given explicitly,
// as every resume's are.
func TestStreamResumeCountsAsCommandsByWhatItSends(t *testing.T) {
	b, _ := newTestBroker(t, Config{RateLimit: 1000, MaxResumeBytes: 4 << 20, MaxMessageBytes: 64 << 10})
	publishSized(t, b, "big", 10, 50<<10)
	if got, want := streamResumeSpent(t, b, "big"), int64(10*(50<<10)/ResumeCommandBytes); got != want {
		t.Errorf("a stream's resume of 10 messages of 50 KiB spent %d more commands of its address's budget, want %d", got, want)
	}
}

// copyingEngine is a resumeReadingEngine whose backend copies chunks of
// copied messages of size bytes for each read (as store/redis's read
// script did, 16 at a time, whatever its budget), and says so
// (HistoryResult.Scanned).
type copyingEngine struct {
	*resumeReadingEngine
	copied, size int
}

func (e *copyingEngine) ResumeHistory(ctx context.Context, topic string, since Position, maxBytes int) (HistoryResult, error) {
	h, err := e.resumeReadingEngine.ResumeHistory(ctx, topic, since, maxBytes)
	h.Scanned = Scanned{Entries: e.copied, Bytes: e.copied * e.size}
	return h, err
}

// A stream's resume counts what the engine's backend copied for it, one
// command for each ResumeCopiedBytes, when that is more than what it
// sent and the messages it returned count: 10 messages of 30 KB sent
// count 4, and the 16 the backend copied, 480 KB, 14.
func TestStreamResumeCountsWhatTheBackendCopied(t *testing.T) {
	const size = 30_000
	e := &copyingEngine{resumeReadingEngine: &resumeReadingEngine{fakeEngine: newFakeEngine()}, copied: 16, size: size}
	b := newBrokerOn(t, Config{NodeID: "node-1", RateLimit: 1000, MaxResumeBytes: 4 << 20, MaxMessageBytes: 64 << 10}, e)
	publishSized(t, b, "big", 10, size)
	if got, want := streamResumeSpent(t, b, "big"), int64(16*size/ResumeCopiedBytes); got != want {
		t.Errorf("a stream's resume whose backend copied 16 messages of %d bytes spent %d more commands of its address's budget, want %d", size, got, want)
	}
}

// newBrokerOn starts a broker on e, closed when the test ends.
func newBrokerOn(t *testing.T, cfg Config, e Engine) *Broker {
	t.Helper()
	b := New(cfg, e)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return b
}

// publishSized publishes n messages on topic, each a JSON string of size
// bytes and its quotes.
func publishSized(t *testing.T, b *Broker, topic string, n, size int) {
	t.Helper()
	data := []byte(`"` + strings.Repeat("x", size) + `"`)
	for range n {
		if _, err := b.Publish(t.Context(), topic, data, ""); err != nil {
			t.Fatal(err)
		}
	}
}

// streamResumeSpent opens an SSE stream that resumes topic from the
// start of epoch e1, and returns how many more commands of its address's
// budget that took. The stream is aborted when the test ends.
func streamResumeSpent(t *testing.T, b *Broker, topic string) int64 {
	t.Helper()
	id := string(appendIDEntry([]byte{streamIDVersion}, idEntry{topic: idHash(topic), epoch: idHash("e1")}))
	budget := &spendingBudget{}
	o, err := b.OpenStream(t.Context(), ClientInfo{Pacer: budget}, []string{topic}, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Abort)
	return budget.spent.Load()
}
