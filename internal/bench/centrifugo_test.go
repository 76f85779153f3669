package bench

import (
	"bytes"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

func TestCentrifugoFanoutDeliversEveryMessage(t *testing.T) {
	fake := newFakeCentrifugo(t)
	url := fake.serve()
	r := runScenario(t, "fanout", "--server", "centrifugo", "--url", url, "--api-key", "k",
		"--conns", "40", "--topics", "3", "--publishers", "2", "--duration", "400ms",
		"--conns-per-worker", "15")
	if r.Server != ServerCentrifugo || r.Workers != 3 || r.Connected != 40 {
		t.Errorf("server %q, %d workers, %d connected; want centrifugo, 3, 40 (%v)", r.Server, r.Workers, r.Connected, r.ErrorKinds)
	}
	if r.Published == 0 || r.Expected == 0 {
		t.Fatalf("published %d, expected %d: nothing was measured", r.Published, r.Expected)
	}
	if r.Delivered != r.Expected || r.Completeness != 1 || r.Latency.Count != r.Delivered {
		t.Errorf("delivered %d of %d (completeness %v), latency of %d", r.Delivered, r.Expected, r.Completeness, r.Latency.Count)
	}
	if r.PerRead <= 1 {
		t.Errorf("%.2f deliveries per read: the batched frames were not split", r.PerRead)
	}
	if r.ReplyErrors != 0 || r.PublishErrors != 0 {
		t.Errorf("errors: %v", r.ErrorKinds)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if r.PingsAnswered != 40 || fake.pongs != 40 {
		t.Errorf("pings answered %d, pongs the server got %d; want 40, 40", r.PingsAnswered, fake.pongs)
	}
}

func TestCentrifugoIdleChecksEveryConnection(t *testing.T) {
	r := runScenario(t, "idle", "--server", "centrifugo", "--url", newFakeCentrifugo(t).serve(),
		"--conns", "20", "--hold", "300ms")
	if r.Connected != 20 || r.Alive != 20 || r.HeartbeatS != 25 {
		t.Errorf("connected %d, alive %d, heartbeat %d; want 20, 20, 25", r.Connected, r.Alive, r.HeartbeatS)
	}
}

func TestCentrifugoCountsRefusedPublishes(t *testing.T) {
	for name, c := range map[string]struct{ prefix, key, kind string }{
		"error in a 200": {"forbidden.", "k", "publish:server_error"},
		"wrong key":      {"bench.", "nope", "publish:http_401"},
	} {
		t.Run(name, func(t *testing.T) {
			r := runScenario(t, "fanout", "--server", "centrifugo", "--url", newFakeCentrifugo(t).serve(),
				"--api-key", c.key, "--topic-prefix", c.prefix, "--conns", "2", "--publishers", "1",
				"--rate", "20", "--duration", "300ms", "--drain", "0s")
			if r.Published != 0 || r.PublishErrors == 0 || r.ErrorKinds[c.kind] != r.PublishErrors {
				t.Errorf("published %d, failed %d, kinds %v; want only %s", r.Published, r.PublishErrors, r.ErrorKinds, c.kind)
			}
		})
	}
}

func TestReadCentrifugoSplitsBatchedReplies(t *testing.T) {
	c, server := pipeConn(t)
	w := &worker{plan: Plan{Topics: 1, Server: ServerCentrifugo}, perTopic: make([]atomic.Uint64, 1)}
	w.cfPong.Store(true)
	frame := []byte(`{"push":{"channel":"bench.0","pub":{"data":{"t":1,"n":1}}}}` + "\n{}\n" +
		`{"push":{"channel":"bench.0","pub":{"data":{"t":2,"n":2}}}}` + "\n" +
		`{"id":3,"unsubscribe":{}}` + "\n" + `{"push":{"channel":"bench.0","unsubscribe":{"code":2500}}}` + "\n")
	go func() {
		_ = wsutil.WriteServerText(server, frame)
		pong, _ := wsutil.ReadClientText(server)
		if string(pong) == "{}" {
			server.Close()
		}
	}()
	w.readers.Add(1)
	w.open.Add(1)
	w.readCentrifugo(c, 0)
	if w.received.Load() != 2 || w.pings.Load() != 1 || w.alive.Load() != 1 || w.errs.Load() != 1 {
		t.Errorf("received %d, pings %d, alive %d, errors %d; want 2, 1, 1, 1",
			w.received.Load(), w.pings.Load(), w.alive.Load(), w.errs.Load())
	}
	if w.closed.Load() != 1 {
		t.Errorf("closed %d: the pong was not sent, or the end not counted", w.closed.Load())
	}
}

func TestNextLine(t *testing.T) {
	var got []string
	for frame := []byte("a\n\nbc\n"); len(frame) > 0; {
		var line []byte
		line, frame = nextLine(frame)
		got = append(got, string(line))
	}
	if len(got) != 3 || got[0] != "a" || got[1] != "" || got[2] != "bc" {
		t.Errorf("lines %q", got)
	}
}

// benchStream is a socket stream of the same frame, 64 KiB long.
func benchStream(b testing.TB, msg []byte) (stream []byte, frameLen int) {
	var fb bytes.Buffer
	if err := ws.WriteFrame(&fb, ws.NewTextFrame(msg)); err != nil {
		b.Fatal(err)
	}
	for len(stream) < 64<<10 {
		stream = append(stream, fb.Bytes()...)
	}
	return stream, fb.Len()
}

// BenchmarkReadCentrifugo is BenchmarkReadDelivery for Centrifugo: frames
// of four publications, one a line, split, scanned and counted.
func BenchmarkReadCentrifugo(b *testing.B) {
	push := `{"push":{"channel":"bench.3","pub":{"data":{"t":1764074400123456789,"n":7}}}}`
	frame := []byte(push + "\n" + push + "\n" + push + "\n" + push)
	stream, n := benchStream(b, frame)
	c := &wsConn{nc: &loopConn{stream: stream}, buf: make([]byte, readBufSize)}
	wk := &worker{plan: Plan{Topics: 1}, perTopic: make([]atomic.Uint64, 1)}
	b.ReportAllocs()
	b.SetBytes(int64(n))
	for i := 0; i < b.N; i++ {
		m, at, err := c.ReadMessage()
		if err != nil {
			b.Fatal(err)
		}
		for len(m) > 0 {
			var line []byte
			line, m = nextLine(m)
			wk.onCentrifugoLine(c, line, at.Add(time.Millisecond), 0)
		}
	}
	if wk.errs.Load() != 0 {
		b.Fatalf("%d lines not read as publications", wk.errs.Load())
	}
}
