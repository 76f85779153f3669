//go:build linux

package transport

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/herald-broker/herald/broker"
)

// The probes' sample must not be captured by a few clients (probe_linux.go):
// these tests set clients that read everything at once but answer the
// 8-byte probe pings late, as if far behind, and check which clients the
// probes pinged. How long a publisher would wait is no measure of it: a
// machine short of CPU delays every reader, the prompt ones too.

// readerSeen is what one test client saw: text frames (messages,
// replies), the probe pings that came once they flowed, and when the
// first of them came (time.Now's UnixNano; 0: none yet).
type readerSeen struct{ texts, probes, firstProbe atomic.Int64 }

// lateReader is such a client: it reads every frame at once and answers
// heartbeat pings at once, probes only after delay once messages came: a
// reader that falls behind as they flow, not one far away, so the ping of
// its opening is answered at once. With commands it also
// sends 20 commands every 10 ms, each answered (as rate_limited replies
// are), so that the node writes to it all the time. What it reads is
// counted in the readerSeen it returns.
func lateReader(t *testing.T, addr string, delay time.Duration, commands bool, stop <-chan struct{}, wg *sync.WaitGroup) *readerSeen {
	c := dialRaw(t, addr, nil)
	_ = c.nc.SetDeadline(time.Time{})
	seen := new(readerSeen)
	var wmu sync.Mutex
	send := func(b []byte) {
		wmu.Lock()
		defer wmu.Unlock()
		_, _ = c.nc.Write(b)
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		br := c.br       // with what came along with the handshake's reply
		flowing := false // a message came: the reader is behind from now on
		for {
			f, err := ws.ReadFrame(br)
			if err != nil {
				return
			}
			if f.Header.OpCode == ws.OpText {
				flowing = true
				seen.texts.Add(1)
			}
			if f.Header.OpCode != ws.OpPing {
				continue
			}
			pong := frame(ws.OpPong, true, f.Payload)
			probe := len(f.Payload) == 8 && flowing
			if probe && seen.probes.Add(1) == 1 {
				seen.firstProbe.Store(time.Now().UnixNano())
			}
			if probe && delay > 0 {
				time.AfterFunc(delay, func() { send(pong) })
			} else {
				send(pong)
			}
		}
	}()
	go func() {
		defer wg.Done()
		defer c.nc.Close()
		var burst []byte
		for range 20 {
			burst = append(burst, frame(ws.OpText, true, []byte(`{"type":"ping"}`))...)
		}
		tk := time.NewTicker(10 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				if commands {
					send(burst)
				}
			}
		}
	}()
	return seen
}

// promptReader is a well-behaved subscriber: it reads everything and
// answers every ping at once, as browsers do. It ends when stop closes.
func promptReader(t *testing.T, addr string, stop <-chan struct{}, wg *sync.WaitGroup) *readerSeen {
	return lateReader(t, addr, 0, false, stop, wg)
}

// fanOutEvery queues a message on each of conns, in their order, through
// one broker.Batch as the broker's fan-out does, every period until stop.
func fanOutEvery(period time.Duration, conns []broker.Conn, stop <-chan struct{}, wg *sync.WaitGroup) {
	msg := ws.MustCompileFrame(ws.NewTextFrame([]byte(`{"type":"message","topic":"t","seq":1,"data":1}`)))
	wg.Add(1)
	go func() {
		defer wg.Done()
		var batch broker.Batch
		tk := time.NewTicker(period)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			for _, c := range conns {
				c.(broker.DeferredConn).SendDeferred(msg, &batch)
			}
			batch.Flush()
		}
	}()
}

// Clients that subscribe to nothing get no fan-out frames, however many
// replies their commands get: they make no loop busy and are never
// probed, so nine of sixty such clients, answering probes late, cannot
// hold a publisher back. Asserted on the probes they got, not on how long
// publishes waited, which a starved machine stretches too.
func TestCommandClientsHoldNoPublisher(t *testing.T) {
	ts := startServer(t, false, Config{Loops: 1, MaxDeliveryLag: 100 * time.Millisecond})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	for range 51 { // idle, well-behaved clients
		promptReader(t, ts.addr, stop, &wg)
	}
	var commanders []*readerSeen
	for range 9 {
		commanders = append(commanders, lateReader(t, ts.addr, 800*time.Millisecond, true, stop, &wg))
	}
	// 2,000 replies each: at 20 commands every 10 ms, a second of replies
	// written to them, ten bounds, where a loop busy with them would have
	// probed them many times over.
	const replies = 2000
	deadline := time.Now().Add(time.Minute)
	answered := func() bool {
		for _, r := range commanders {
			if r.texts.Load() < replies {
				return false
			}
		}
		return true
	}
	for !answered() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	var probes int64
	for i, r := range commanders {
		if got := r.texts.Load(); got < replies {
			t.Fatalf("client %d got %d replies in a minute, want %d", i, got, replies)
		}
		probes += r.probes.Load()
	}
	if probes > 0 {
		t.Fatalf("9 clients that only sent commands got %d probe pings", probes)
	}
}

// A minority of subscribers that answer probes late hold no publisher
// back even when they subscribed first, and so come first in every
// fan-out: the probes watch connections picked at random among the
// fan-out's, not its first ones, so the late readers are about their
// share of the watched, far from the half that makes the median theirs.
// Asserted on whom the probes watched, not on how long publishes waited,
// which a starved machine stretches too.
func TestFirstSubscribersHoldNoPublisher(t *testing.T) {
	ts := startServer(t, false, Config{Loops: 1, MaxDeliveryLag: 100 * time.Millisecond})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	const late, prompt = 20, 80
	var readers []*readerSeen
	for range late {
		readers = append(readers, lateReader(t, ts.addr, 800*time.Millisecond, false, stop, &wg))
	}
	eventually(t, "the late readers are open", func() bool { return len(ts.acc.all()) == late })
	for range prompt {
		readers = append(readers, promptReader(t, ts.addr, stop, &wg))
	}
	eventually(t, "every reader is open", func() bool { return len(ts.acc.all()) == late+prompt })
	var conns []broker.Conn
	for _, s := range ts.acc.all() { // in the order they opened: the late ones first
		conns = append(conns, s.c)
	}
	fanOutEvery(10*time.Millisecond, conns, stop, &wg)
	// The first probeSlots readers watched are the sample the loop's
	// median is first taken over: picked first in the fan-out's order,
	// they are the late readers and the median is theirs.
	var watched []*readerSeen
	deadline := time.Now().Add(time.Minute)
	for len(watched) < probeSlots && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		watched = watched[:0]
		for _, r := range readers {
			if r.firstProbe.Load() != 0 {
				watched = append(watched, r)
			}
		}
	}
	if len(watched) < probeSlots {
		t.Fatalf("the probes watched %d readers in a minute, want %d", len(watched), probeSlots)
	}
	slices.SortFunc(watched, func(a, b *readerSeen) int { return cmp.Compare(a.firstProbe.Load(), b.firstProbe.Load()) })
	lateFirst := 0
	for _, r := range watched[:probeSlots] {
		if slices.Index(readers[:late], r) >= 0 {
			lateFirst++
		}
	}
	t.Logf("of the first %d readers the probes watched, %d were late ones", probeSlots, lateFirst)
	if 2*lateFirst >= probeSlots {
		t.Fatalf("%d of %d subscribers, first in the fan-out, were %d of the first %d readers the probes watched",
			late, late+prompt, lateFirst, probeSlots)
	}
}
