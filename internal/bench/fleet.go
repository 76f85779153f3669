package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// fleet is the parent's view of its workers: their latest counters, who is
// ready, and their final results.
type fleet struct {
	procs   []*WorkerProc
	readers sync.WaitGroup // one per worker's stdout

	mu       sync.Mutex
	counters []Counters
	ready    []bool
	results  []*WorkerStats
	failures []error
}

// startFleet spawns one worker per plan and hands each its plan.
func startFleet(ctx context.Context, sp Spawner, plans []Plan) (*fleet, error) {
	f := &fleet{
		counters: make([]Counters, len(plans)),
		ready:    make([]bool, len(plans)),
		results:  make([]*WorkerStats, len(plans)),
	}
	for i, p := range plans {
		proc, err := sp.Spawn(ctx, i)
		if err != nil {
			f.stop(time.Second)
			return nil, err
		}
		f.procs = append(f.procs, proc)
		f.readers.Add(1)
		go f.readEvents(i, proc.Stdout)
		line, _ := json.Marshal(p)
		if _, err := proc.Stdin.Write(append(line, '\n')); err != nil {
			f.stop(time.Second)
			return nil, fmt.Errorf("herald/bench: sending plan to worker %d: %w", i, err)
		}
	}
	return f, nil
}

// readEvents records worker i's events until its stdout ends.
func (f *fleet) readEvents(i int, r io.Reader) {
	defer f.readers.Done()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			f.fail(fmt.Errorf("herald/bench: worker %d wrote %q: %w", i, sc.Bytes(), err))
			continue
		}
		f.mu.Lock()
		f.counters[i] = ev.Counters
		switch ev.Type {
		case "ready":
			f.ready[i] = true
		case "result":
			f.results[i] = ev.Result
		}
		f.mu.Unlock()
	}
}

func (f *fleet) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures = append(f.failures, err)
}

// total adds up the workers' latest counters.
func (f *fleet) total() Counters {
	f.mu.Lock()
	defer f.mu.Unlock()
	var t Counters
	for _, c := range f.counters {
		t.Open += c.Open
		t.Connected += c.Connected
		t.ConnectErrors += c.ConnectErrors
		t.Received += c.Received
		t.Closed += c.Closed
		t.Errors += c.Errors
		t.Cycles += c.Cycles
		t.HeartbeatS = max(t.HeartbeatS, c.HeartbeatS)
	}
	return t
}

func (f *fleet) allReady() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.ready {
		if !r {
			return false
		}
	}
	return true
}

func (f *fleet) allDone() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.results {
		if r == nil {
			return false
		}
	}
	return true
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(ctx context.Context, cond func() bool) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// finish tells every worker to check, close and report, and waits for
// their results until ctx ends.
func (f *fleet) finish(ctx context.Context) error {
	line := []byte(`{"cmd":"finish"}` + "\n")
	for _, p := range f.procs {
		_, _ = p.Stdin.Write(line)
		_ = p.Stdin.Close()
	}
	return waitFor(ctx, f.allDone)
}

// stop waits up to grace for the workers to exit, then kills the rest, and
// waits for them and for their readers.
func (f *fleet) stop(grace time.Duration) {
	var wg sync.WaitGroup
	for _, p := range f.procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := make(chan struct{})
			go func() { _ = p.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(grace):
				p.Kill()
				<-done
			}
		}()
	}
	wg.Wait()
	f.readers.Wait()
}

// merged combines the workers' results; missing ones are an error.
func (f *fleet) merged() (WorkerStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := WorkerStats{PerTopic: map[int]uint64{}, ErrorKinds: map[string]int64{}}
	var errs []error
	errs = append(errs, f.failures...)
	for i, r := range f.results {
		if r == nil {
			errs = append(errs, fmt.Errorf("herald/bench: worker %d sent no result", i))
			continue
		}
		mergeStats(&m, r)
	}
	return m, errors.Join(errs...)
}

func mergeStats(m *WorkerStats, r *WorkerStats) {
	c := &m.Counters
	c.Connected += r.Connected
	c.ConnectErrors += r.ConnectErrors
	c.Received += r.Received
	c.Closed += r.Closed
	c.Errors += r.Errors
	c.Cycles += r.Cycles
	c.Open += r.Open
	c.HeartbeatS = max(c.HeartbeatS, r.HeartbeatS)
	m.Alive += r.Alive
	m.Gaps += r.Gaps
	m.Dups += r.Dups
	for t, n := range r.PerTopic {
		m.PerTopic[t] += n
	}
	for k, n := range r.ErrorKinds {
		m.ErrorKinds[k] += n
	}
	m.Latency.Merge(r.Latency)
	m.ConnectLat.Merge(r.ConnectLat)
	m.CycleLat.Merge(r.CycleLat)
	m.PublishLat.Merge(r.PublishLat)
	m.CPUSeconds += r.CPUSeconds
	m.LastDeliveryNS = max(m.LastDeliveryNS, r.LastDeliveryNS)
	m.Reads += r.Reads
	m.Pings += r.Pings
}
