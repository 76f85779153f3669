package node_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// The subscribers the load tests (overload_test.go and others) read with:
// each reader checks its messages come in seq order, and may note their
// age, read slowly or answer no ping.

// subscribe subscribes c to topic and reads up to its reply.
func subscribe(t *testing.T, c *client, topic string) {
	t.Helper()
	if err := wsutil.WriteClientText(c, []byte(`{"type":"subscribe","id":"s","topic":"`+topic+`"}`)); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := ws.ReadFrame(c.r)
		if err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		if strings.Contains(string(f.Payload), `"type":"subscribed"`) {
			return
		}
	}
}

// seqOf is the seq of a message frame, 0 for anything else.
func seqOf(payload []byte) uint64 {
	s := string(payload)
	if !strings.Contains(s, `"type":"message"`) {
		return 0
	}
	i := strings.Index(s, `"seq":`)
	if i < 0 {
		return 0
	}
	s = s[i+len(`"seq":`):]
	end := strings.IndexAny(s, ",}")
	n, _ := strconv.ParseUint(s[:end], 10, 64)
	return n
}

// reader reads a connection's messages in the background and checks
// they come in seq order, one after the other. How it reads is the
// test's: pause, when set, runs after the nth message (a slow reader);
// ages notes how old each message is when read (its data's "t"); deaf
// answers no ping, which RFC 6455 requires a client to; patterned
// reads the messages of many topics, whose seqs do not follow each other.
type reader struct {
	pause     func(n int)
	ages      bool
	deaf      bool
	patterned bool

	last atomic.Uint64
	err  atomic.Pointer[error]
	read []time.Duration // the ages noted; read after the goroutine ends
}

func (r *reader) run(c *client, done <-chan struct{}) {
	for n := 0; ; n++ {
		select {
		case <-done:
			return
		default:
		}
		f, err := ws.ReadFrame(c.r)
		if err != nil {
			r.fail(err, done)
			return
		}
		if f.Header.OpCode == ws.OpPing {
			if r.deaf {
				continue
			}
			if err := wsutil.WriteClientMessage(c, ws.OpPong, f.Payload); err != nil {
				r.fail(err, done)
				return
			}
			continue
		}
		seq := seqOf(f.Payload)
		if seq == 0 {
			continue
		}
		if want := r.last.Load() + 1; seq != want && !r.patterned {
			r.fail(fmt.Errorf("seq %d after %d", seq, want-1), done)
			return
		}
		if r.ages {
			r.read = append(r.read, time.Since(time.Unix(0, sentAt(f.Payload))))
		}
		r.last.Store(seq)
		if r.pause != nil {
			r.pause(n)
		}
	}
}

// subscriber dials addr and subscribes to topic, with a minute for the
// whole test.
func subscriber(t *testing.T, addr, topic string) *client {
	t.Helper()
	c, _ := dial(t, addr)
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	subscribe(t, c, topic)
	return c
}

// start runs r on c in the background until the test ends; then c is
// closed, which ends a read under way.
func (r *reader) start(t *testing.T, c *client) {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() { defer close(finished); r.run(c, done) }()
	t.Cleanup(func() { close(done); c.Close(); <-finished })
}

// raise sets a to v when v is larger.
func raise(a *atomic.Uint64, v uint64) {
	for have := a.Load(); v > have && !a.CompareAndSwap(have, v); have = a.Load() {
	}
}

// fail keeps err, unless the test is done and closed the connection.
func (r *reader) fail(err error, done <-chan struct{}) {
	select {
	case <-done:
	default:
		r.err.Store(&err)
	}
}

// slowly pauses every eighth message: a reader that reads, but slower
// than the others.
func slowly(n int) {
	if n%8 == 0 {
		time.Sleep(time.Millisecond)
	}
}
