package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

var errServerError = errors.New("herald/bench: server answered error")

// worker holds one worker process's connections and counters.
type worker struct {
	plan Plan
	out  *eventWriter

	open, connected, connectErrs, closed, errs, cycles atomic.Int64
	received, alive                                    atomic.Uint64
	gaps, dups, heartbeat                              atomic.Int64
	lastDelivery                                       atomic.Int64 // Unix ns
	reads                                              atomic.Int64 // read calls that brought data
	pings                                              atomic.Int64 // server pings answered
	cfPong                                             atomic.Bool  // Centrifugo wants its pings answered
	perTopic                                           []atomic.Uint64
	latency, connectLat, cycleLat, publishLat          Histogram
	kinds                                              errorKinds

	mu      sync.Mutex
	conns   []*wsConn
	closing atomic.Bool
	readers sync.WaitGroup // one per open connection
}

// RunWorker is a worker process's body: the plan arrives as the first line
// of in, commands follow; events go to out as JSON lines. It returns when
// the parent says finish, closes in, or the plan's deadline passes.
func RunWorker(ctx context.Context, in io.Reader, out io.Writer) error {
	lines := bufio.NewReader(in)
	first, err := lines.ReadBytes('\n')
	if err != nil && len(first) == 0 {
		return fmt.Errorf("herald/bench: worker reading plan: %w", err)
	}
	var p Plan
	if err := json.Unmarshal(first, &p); err != nil {
		return fmt.Errorf("herald/bench: worker plan: %w", err)
	}
	ctx, cancel := context.WithDeadline(ctx, p.Deadline)
	defer cancel()
	w := &worker{plan: p, out: &eventWriter{enc: json.NewEncoder(out)}, perTopic: make([]atomic.Uint64, max(p.Topics, 1))}
	finish := make(chan struct{})
	go watchCommands(lines, finish) // ends when the parent closes our stdin
	stopProgress := w.startProgress()
	switch p.Scenario {
	case ScenarioChurn:
		w.runChurn(ctx, finish)
	default:
		w.runHeld(ctx, finish)
	}
	stopProgress()
	return w.out.write(Event{Type: "result", Worker: p.Worker, Counters: w.counters(), Result: w.stats()})
}

// watchCommands closes finish on "finish" or at the end of in.
func watchCommands(lines *bufio.Reader, finish chan<- struct{}) {
	defer close(finish)
	for {
		line, err := lines.ReadBytes('\n')
		var c Command
		if json.Unmarshal(line, &c) == nil && c.Cmd == "finish" {
			return
		}
		if err != nil {
			return
		}
	}
}

// runHeld opens and subscribes every connection, says ready, holds them
// until told to finish, checks they are alive, and closes them.
func (w *worker) runHeld(ctx context.Context, finish <-chan struct{}) {
	w.connectAll(ctx)
	_ = w.out.write(Event{Type: "ready", Worker: w.plan.Worker, Counters: w.counters()})
	select {
	case <-finish:
	case <-ctx.Done():
	}
	w.checkAlive(ctx)
	w.closeAll()
}

// keep registers an open connection and starts its reader.
func (w *worker) keep(c *wsConn, topic int, seq int64) {
	c.reads, c.pings = &w.reads, &w.pings
	w.mu.Lock()
	w.conns = append(w.conns, c)
	w.mu.Unlock()
	w.open.Add(1)
	w.connected.Add(1)
	w.readers.Add(1)
	switch w.plan.Server {
	case ServerCentrifugo:
		go w.readCentrifugo(c, topic)
		return
	case ServerHeraldSSE:
		go w.readSSE(c, topic, seq)
		return
	}
	go w.read(c, topic, seq)
}

// read counts what arrives on one subscribed connection until it closes.
func (w *worker) read(c *wsConn, topic int, lastSeq int64) {
	defer w.readers.Done()
	defer w.open.Add(-1)
	for {
		msg, at, err := c.ReadMessage()
		if err != nil {
			w.readEnded(err)
			return
		}
		switch string(msgType(msg)) {
		case "message":
			lastSeq = w.onDelivery(msg, at, topic, lastSeq)
		case "pong":
			w.alive.Add(1)
		case "error":
			w.errs.Add(1)
			w.kinds.add("reply", fmt.Errorf("%w: %s", errServerError, stringField(msg, `"code":"`)))
		}
	}
}

// readEnded counts a connection that ended while the run still needed it.
func (w *worker) readEnded(err error) {
	if !w.closing.Load() {
		w.closed.Add(1)
		w.kinds.add("read", err)
	}
}

// onDelivery counts one message and checks its seq follows lastSeq.
func (w *worker) onDelivery(msg []byte, at time.Time, topic int, lastSeq int64) int64 {
	d, ok := parseDelivery(msg)
	if !ok {
		w.unreadable()
		return lastSeq
	}
	w.count(d.sent, at, topic)
	switch {
	case d.seq <= lastSeq:
		w.dups.Add(1)
		return lastSeq
	case d.seq != lastSeq+1:
		w.gaps.Add(1)
	}
	return d.seq
}

// count records one delivery of topic, sent at sent (Unix ns) and read at.
func (w *worker) count(sent int64, at time.Time, topic int) {
	w.received.Add(1)
	w.perTopic[topic].Add(1)
	now := at.UnixNano()
	w.latency.Record(time.Duration(now - sent))
	if w.lastDelivery.Load() < now {
		w.lastDelivery.Store(now) // a race between readers moves it back by a burst at most
	}
}

func (w *worker) unreadable() {
	w.errs.Add(1)
	w.kinds.add("read", fmt.Errorf("%w: unreadable message", ErrFrame))
}

// checkAlive sends a ping command on every connection still open and waits
// for as many pongs, or the op timeout.
func (w *worker) checkAlive(ctx context.Context) {
	w.mu.Lock()
	conns := w.conns
	w.mu.Unlock()
	ping := dialectOf(w.plan.Server).aliveProbe
	for _, c := range conns {
		if ping == nil { // streams: their heartbeat comments count (sse.go)
			break
		}
		_ = c.nc.SetWriteDeadline(time.Now().Add(w.plan.OpTimeout))
		_ = c.WriteText(ping)
	}
	deadline := time.Now().Add(w.plan.OpTimeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if int64(w.alive.Load()) >= w.open.Load() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// closeAll closes every connection and waits for their readers.
func (w *worker) closeAll() {
	w.closing.Store(true)
	w.mu.Lock()
	for _, c := range w.conns {
		c.Close()
	}
	w.mu.Unlock()
	w.readers.Wait()
}

func (e *eventWriter) write(ev Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.enc.Encode(ev)
}
