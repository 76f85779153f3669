//go:build linux

package transport

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/herald-broker/herald/broker"
)

// The probes' sample must not be captured by a few clients (probe_linux.go):
// these tests set clients that read everything at once but answer the
// 8-byte probe pings late, as if far behind, against a publisher that
// waits in Wait as the broker's does.

// lateReader is such a client: it reads every frame at once and answers
// heartbeat pings at once, probes only after delay once messages came: a
// reader that falls behind as they flow, not one far away, so the ping of
// its opening is answered at once. With commands it also
// sends 20 commands every 10 ms, each answered (as rate_limited replies
// are), so that the node writes to it all the time.
func lateReader(t *testing.T, addr string, delay time.Duration, commands bool, stop <-chan struct{}, wg *sync.WaitGroup) {
	c := dialRaw(t, addr, nil)
	_ = c.nc.SetDeadline(time.Time{})
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
			flowing = flowing || f.Header.OpCode == ws.OpText
			if f.Header.OpCode != ws.OpPing {
				continue
			}
			pong := frame(ws.OpPong, true, f.Payload)
			if len(f.Payload) == 8 && flowing && delay > 0 {
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
}

// promptReader is a well-behaved subscriber: it reads everything and
// answers every ping at once, as browsers do. It ends when stop closes.
func promptReader(t *testing.T, addr string, stop <-chan struct{}, wg *sync.WaitGroup) {
	lateReader(t, addr, 0, false, stop, wg)
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

// publishFor publishes, as far as Wait goes, every 5 ms for d and returns
// how long the publishes waited in all and how many were refused.
func publishFor(srv *Server, d time.Duration) (waited time.Duration, refused int) {
	for start := time.Now(); time.Since(start) < d; {
		t0 := time.Now()
		if err := srv.Wait(context.Background(), "t"); err != nil {
			refused++
		}
		waited += time.Since(t0)
		time.Sleep(5 * time.Millisecond)
	}
	return waited, refused
}

// Clients that subscribe to nothing get no fan-out frames, however many
// replies their commands get: they are never probed, and nine of sixty
// such clients, answering probes late, hold no publisher back.
func TestCommandClientsHoldNoPublisher(t *testing.T) {
	ts := startServer(t, false, Config{Loops: 1, MaxDeliveryLag: 100 * time.Millisecond})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	for range 51 { // idle, well-behaved clients
		promptReader(t, ts.addr, stop, &wg)
	}
	for range 9 {
		lateReader(t, ts.addr, 800*time.Millisecond, true, stop, &wg)
	}
	const span = 3 * time.Second
	if waited, refused := publishFor(ts.srv, span); waited > span/10 || refused > 0 {
		t.Fatalf("9 of 60 clients held publishers for %v of %v; %d publishes refused", waited.Round(time.Millisecond), span, refused)
	}
}

// A minority of subscribers that answer probes late hold no publisher
// back even when they subscribed first, and so come first in every
// fan-out: the probes watch connections picked at random among the
// fan-out's, not its first ones.
func TestFirstSubscribersHoldNoPublisher(t *testing.T) {
	ts := startServer(t, false, Config{Loops: 1, MaxDeliveryLag: 100 * time.Millisecond})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	const late, prompt = 20, 80
	for range late {
		lateReader(t, ts.addr, 800*time.Millisecond, false, stop, &wg)
	}
	eventually(t, "the late readers are open", func() bool { return len(ts.acc.all()) == late })
	for range prompt {
		promptReader(t, ts.addr, stop, &wg)
	}
	eventually(t, "every reader is open", func() bool { return len(ts.acc.all()) == late+prompt })
	var conns []broker.Conn
	for _, s := range ts.acc.all() { // in the order they opened: the late ones first
		conns = append(conns, s.c)
	}
	fanOutEvery(10*time.Millisecond, conns, stop, &wg)
	const span = 3 * time.Second
	if waited, refused := publishFor(ts.srv, span); waited > span/10 || refused > 0 {
		t.Fatalf("%d of %d subscribers, first in the fan-out, held publishers for %v of %v; %d publishes refused",
			late, late+prompt, waited.Round(time.Millisecond), span, refused)
	}
}
