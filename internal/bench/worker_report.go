package bench

import (
	"encoding/json"
	"sync"
	"syscall"
	"time"
)

// What a worker reports: its counters, its stats, and the events it writes.

func (w *worker) counters() Counters {
	return Counters{
		Open: w.open.Load(), Connected: w.connected.Load(), ConnectErrors: w.connectErrs.Load(),
		Received: w.received.Load(), Closed: w.closed.Load(), Errors: w.errs.Load(),
		Cycles: w.cycles.Load(), HeartbeatS: w.heartbeat.Load(),
	}
}

func (w *worker) stats() *WorkerStats {
	s := &WorkerStats{
		Counters: w.counters(), Alive: int64(w.alive.Load()), PerTopic: map[int]uint64{},
		Gaps: w.gaps.Load(), Dups: w.dups.Load(), Latency: w.latency.Snapshot(),
		ConnectLat: w.connectLat.Snapshot(), CycleLat: w.cycleLat.Snapshot(), PublishLat: w.publishLat.Snapshot(),
		ErrorKinds: w.kinds.snapshot(), CPUSeconds: selfCPUSeconds(),
		LastDeliveryNS: w.lastDelivery.Load(), Reads: w.reads.Load(), Pings: w.pings.Load(),
	}
	for i := range w.perTopic {
		if n := w.perTopic[i].Load(); n > 0 {
			s.PerTopic[i] = n
		}
	}
	return s
}

// startProgress reports counters every plan.Progress until stopped.
func (w *worker) startProgress() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(max(w.plan.Progress, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_ = w.out.write(Event{Type: "progress", Worker: w.plan.Worker, Counters: w.counters()})
			case <-done:
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// eventWriter serialises events onto one stream.
type eventWriter struct {
	mu  sync.Mutex
	enc *json.Encoder
}

// selfCPUSeconds is this process's user plus system CPU time so far.
func selfCPUSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}
