package main

import (
	"runtime/debug"
	"sync"
	"time"
)

// Upgrading a WebSocket goes through net/http, which leaves a few KiB of
// garbage per connection (the request, its bufio buffers). After a burst
// of connections the heap has grown to about twice its peak, and the
// runtime gives the free part back to the system only slowly, so a node
// that just took 19,000 connections would show twice their memory for
// minutes. Once the number of connections settles after a change of at
// least releaseMinChange, the free pages go back at once: one collection,
// only after a burst, never on a steady node. A second one follows
// releaseAgainAfter later if the count still holds: the transport frees
// the write queues of connections gone quiet (their welcome and replies
// written) two of its sweeps after their last frame, 2.5 s with the
// default settings, after the first release; without a second one their
// pages stay with the process until a collection that, on an idle node,
// may not come for long.
const (
	releaseEvery      = time.Second
	releaseMinChange  = 1000
	releaseAgainAfter = 5 // looks, releaseEvery apart
)

// memoryReleaser watches the connection count and returns free memory to
// the system after a burst. Its goroutine is stopped by stop.
type memoryReleaser struct {
	conns func() int
	quit  chan struct{}
	wg    sync.WaitGroup
}

func startMemoryReleaser(conns func() int) *memoryReleaser {
	r := &memoryReleaser{conns: conns, quit: make(chan struct{})}
	r.wg.Add(1)
	go r.run()
	return r
}

func (r *memoryReleaser) stop() {
	close(r.quit)
	r.wg.Wait()
}

func (r *memoryReleaser) run() {
	defer r.wg.Done()
	t := time.NewTicker(releaseEvery)
	defer t.Stop()
	var s burstWatch
	for {
		select {
		case <-r.quit:
			return
		case <-t.C:
			if s.settledAfterBurst(r.conns()) {
				debug.FreeOSMemory()
			}
		}
	}
}

// burstWatch decides when a burst of connections or disconnections is over.
type burstWatch struct {
	released int // connections at the last release
	last     int // connections at the last look
	again    int // looks until the second release of a burst; 0: none due
}

// settledAfterBurst takes the connection count of one look and reports
// whether it has stopped moving (less than 1% since the last look) after
// moving by releaseMinChange or more since the last release.
func (w *burstWatch) settledAfterBurst(n int) bool {
	moving := abs(n-w.last) > max(n/100, 10)
	w.last = n
	if w.again > 0 {
		w.again--
		if moving {
			w.again = 0 // a new burst: it gets releases of its own
		} else if w.again == 0 {
			return true
		}
	}
	if moving || abs(n-w.released) < releaseMinChange {
		return false
	}
	w.released = n
	w.again = releaseAgainAfter
	return true
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
