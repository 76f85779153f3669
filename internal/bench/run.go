package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
)

// workerProgress is how often workers tell the parent their counters:
// often enough that the end of a drain is seen within a tenth of a second.
const workerProgress = 100 * time.Millisecond

// Run performs one scenario with workers from sp, printing progress to log.
// It returns the report even when it also returns an error, so that a run
// cut short still says what it saw. The run ends by cfg.Deadline: its
// phases stop a reserve earlier, so that workers still report in time.
func Run(ctx context.Context, cfg Config, sp Spawner, log io.Writer) (*Report, error) {
	hardEnd := time.Now().Add(cfg.Deadline)
	reserve := min(max(cfg.Deadline/10, time.Second), 10*time.Second)
	hardCtx, cancel := context.WithDeadline(ctx, hardEnd)
	defer cancel()
	phaseCtx, cancelPhases := context.WithDeadline(hardCtx, hardEnd.Add(-reserve))
	defer cancelPhases()
	r := newReport(cfg)
	r.ServerRSSBeforeKiB = serverRSS(cfg.ServerPIDs)
	plans := makePlans(cfg, hardEnd.Add(-reserve/2))
	r.Workers = len(plans)
	f, err := startFleet(phaseCtx, sp, plans)
	if err != nil {
		return r, err
	}
	var pubs *publishers
	if cfg.usesPublishers() {
		pubs = newPublishers(cfg)
	}
	stopProgress := startProgress(log, cfg.Progress, f, pubs)
	runErr := runPhases(phaseCtx, cfg, f, pubs, r)
	stopProgress()
	finishErr := f.finish(hardCtx)
	f.stop(max(time.Until(hardEnd), time.Second))
	merged, mergeErr := f.merged()
	r.fill(cfg, merged, pubs)
	if errors.Is(runErr, context.DeadlineExceeded) && ctx.Err() == nil {
		runErr = fmt.Errorf("herald/bench: the run reached its --deadline of %v before it was done", cfg.Deadline)
	}
	return r, errors.Join(runErr, wrapIf("finishing", finishErr), mergeErr)
}

func wrapIf(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("herald/bench: %s: %w", what, err)
}

// runPhases waits for the workers to connect, then holds, publishes or
// churns, sampling the server's memory and CPU around it.
func runPhases(ctx context.Context, cfg Config, f *fleet, pubs *publishers, r *Report) error {
	if cfg.Scenario != ScenarioChurn {
		if err := waitFor(ctx, f.allReady); err != nil {
			return fmt.Errorf("herald/bench: connecting did not finish: %w", err)
		}
		if f.total().Connected == 0 {
			return errors.New("herald/bench: no connection could be opened and subscribed")
		}
		r.ServerRSSSubscribedKiB = serverRSS(cfg.ServerPIDs)
	}
	before := takeSample(cfg.ServerPIDs, f)
	start := time.Now()
	var err error
	switch cfg.Scenario {
	case ScenarioIdle:
		err = hold(ctx, cfg, f, r)
	case ScenarioChurn:
		err = waitFor(ctx, f.allDone)
	default:
		countRedis := startRedisCount(ctx, cfg, r)
		err = publishAndDrain(ctx, cfg, f, pubs, r)
		countRedis()
	}
	r.WindowS = time.Since(start).Seconds()
	after := takeSample(cfg.ServerPIDs, f)
	r.ServerCPUS, r.ToolCPUS = after.server-before.server, after.tool-before.tool
	r.ToolParentCPUS = after.parent - before.parent
	r.ServerRSSEndKiB = serverRSS(cfg.ServerPIDs)
	r.startNS = start.UnixNano()
	return err
}

// startRedisCount reads the servers' bytes from --redis so far, and
// returns what reads them again and puts the difference in r.
func startRedisCount(ctx context.Context, cfg Config, r *Report) (stop func()) {
	if cfg.RedisAddr == "" {
		return func() {}
	}
	before, err := redisBytesIn(ctx, cfg.RedisAddr, cfg.ServerPIDs)
	if err != nil {
		r.RedisBytesError = err.Error()
		return func() {}
	}
	return func() {
		// The run's context may have ended: the reading has its own bound.
		after, err := redisBytesIn(context.WithoutCancel(ctx), cfg.RedisAddr, cfg.ServerPIDs)
		if err != nil {
			r.RedisBytesError = err.Error()
			return
		}
		r.RedisBytesIn = make(map[string]int64, len(after))
		for pid, n := range after {
			r.RedisBytesIn[strconv.Itoa(pid)] = n - before[pid]
		}
	}
}

// hold keeps the connections for --hold, or two heartbeats plus 5 s.
func hold(ctx context.Context, cfg Config, f *fleet, r *Report) error {
	d := cfg.Hold
	if d == 0 {
		d = 2*time.Duration(f.total().HeartbeatS)*time.Second + 5*time.Second
	}
	start := time.Now()
	err := sleepCtx(ctx, d)
	r.HoldS = time.Since(start).Seconds()
	return err
}

// publishAndDrain publishes for --duration, then waits until every
// expected delivery arrived or --drain passed.
func publishAndDrain(ctx context.Context, cfg Config, f *fleet, pubs *publishers, r *Report) error {
	pctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	start := time.Now()
	pubs.run(pctx)
	cancel()
	r.PublishS = time.Since(start).Seconds()
	expected := expectedDeliveries(cfg, pubs)
	dctx, cancel := context.WithTimeout(ctx, cfg.Drain)
	defer cancel()
	_ = waitFor(dctx, func() bool { return f.total().Received >= expected })
	return ctx.Err()
}

// expectedDeliveries is each topic's publishes times its subscribers.
func expectedDeliveries(cfg Config, pubs *publishers) uint64 {
	var n uint64
	for t := range pubs.perTopic {
		n += pubs.perTopic[t].Load() * uint64(subscribersOf(cfg, t))
	}
	return n
}

// subscribersOf counts the connections i < Conns with i mod Topics = t.
func subscribersOf(cfg Config, t int) int {
	n := cfg.Conns / cfg.Topics
	if t < cfg.Conns%cfg.Topics {
		n++
	}
	return n
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// makePlans cuts the run into workers of at most ConnsPerWorker
// connections; churn gets --workers workers sharing the rate.
func makePlans(cfg Config, deadline time.Time) []Plan {
	n := cfg.Workers
	if cfg.Scenario != ScenarioChurn {
		n = (cfg.Conns + cfg.ConnsPerWorker - 1) / cfg.ConnsPerWorker
	}
	plans := make([]Plan, n)
	for w := range plans {
		p := Plan{
			Scenario: cfg.Scenario, Server: cfg.Server, Worker: w, Targets: cfg.Targets,
			Topics: cfg.Topics, TopicPrefix: cfg.TopicPrefix, SourceIPs: cfg.SourceIPs,
			ConnectRate: cfg.ConnectRate / float64(n), Inflight: cfg.Inflight,
			OpTimeout: cfg.OpTimeout, Deadline: deadline, Progress: workerProgress,
		}
		if cfg.Scenario == ScenarioChurn {
			// Cycle numbers of different workers never meet, so each
			// cycle recognises its own message by "n".
			p.First, p.ChurnRate, p.ChurnDuration = w*1_000_000_000, cfg.Rate/float64(n), cfg.Duration
		} else {
			p.First = w * cfg.ConnsPerWorker
			p.Count = min(cfg.ConnsPerWorker, cfg.Conns-p.First)
		}
		plans[w] = p
	}
	return plans
}

// sample is CPU seconds used so far by the servers and by this tool:
// parent (publishers) and worker processes (subscribers).
type sample struct{ server, tool, parent float64 }

func takeSample(pids []int, f *fleet) sample {
	self := selfCPUSeconds()
	s := sample{tool: self, parent: self}
	for _, pid := range pids {
		v, _ := ProcCPU(pid)
		s.server += v
	}
	for _, p := range f.procs {
		if p.PID > 0 {
			v, _ := ProcCPU(p.PID)
			s.tool += v
		}
	}
	return s
}

// serverRSS adds up the servers' RSS in KiB; 0 without pids.
func serverRSS(pids []int) int64 {
	var kib int64
	for _, pid := range pids {
		v, _ := ProcRSS(pid)
		kib += v
	}
	return kib
}

// startProgress prints one line every period, and a last one when
// stopped, until stopped.
func startProgress(log io.Writer, period time.Duration, f *fleet, pubs *publishers) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(period)
		defer t.Stop()
		pr := progressPrinter{log: log, f: f, pubs: pubs, start: time.Now()}
		pr.last, pr.lastAt = f.total(), pr.start
		for {
			select {
			case <-done:
				pr.print(time.Now())
				return
			case now := <-t.C:
				pr.print(now)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// progressPrinter turns running totals into rates between two lines.
type progressPrinter struct {
	log     io.Writer
	f       *fleet
	pubs    *publishers
	start   time.Time
	last    Counters
	lastPub int64
	lastAt  time.Time
}

func (p *progressPrinter) print(now time.Time) {
	c := p.f.total()
	var pub int64
	if p.pubs != nil {
		pub = p.pubs.ok.Load()
	}
	per := max(now.Sub(p.lastAt).Seconds(), 1e-3)
	fmt.Fprintf(p.log, "%5.0fs open=%d connect_errors=%d recv/s=%.0f pub/s=%.0f cycles/s=%.0f closed=%d errors=%d\n",
		now.Sub(p.start).Seconds(), c.Open, c.ConnectErrors, float64(c.Received-p.last.Received)/per,
		float64(pub-p.lastPub)/per, float64(c.Cycles-p.last.Cycles)/per, c.Closed, c.Errors)
	p.last, p.lastPub, p.lastAt = c, pub, now
}
