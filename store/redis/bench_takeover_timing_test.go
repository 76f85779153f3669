//go:build unix

package redis_test

import (
	"context"
	"sync"
	"time"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/store/redis"
)

// What a round of BenchmarkTakeoverRecovery measures with: a recorder
// that notes when each epoch's first message came, and a publisher that
// notes when its publishes were taken again.

// publishEvery paces the publisher of BenchmarkTakeoverRecovery: about 70
// messages a second, one at a time, a steady trickle that shows within a
// few tens of milliseconds when a topic is usable again.
const publishEvery = 14 * time.Millisecond

// timedRecorder is a recorder that also notes when the first message of
// each epoch was handed over.
type timedRecorder struct {
	*recorder
	firstsMu sync.Mutex
	firsts   map[string]time.Time
}

func (r *timedRecorder) HandleMessage(m *broker.Message) {
	now := time.Now()
	r.firstsMu.Lock()
	if _, ok := r.firsts[m.Epoch]; !ok {
		r.firsts[m.Epoch] = now
	}
	r.firstsMu.Unlock()
	r.recorder.HandleMessage(m)
}

// firstSince is when the first message of an epoch other than old was
// handed over after t, or zero.
func (r *timedRecorder) firstSince(t time.Time, old string) time.Time {
	r.firstsMu.Lock()
	defer r.firstsMu.Unlock()
	var first time.Time
	for epoch, at := range r.firsts {
		if epoch != old && at.After(t) && (first.IsZero() || at.Before(first)) {
			first = at
		}
	}
	return first
}

// pacedPublisher publishes to one topic every publishEvery, one publish at
// a time, until stopped.
type pacedPublisher struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	last     broker.PublishResult // the last publish accepted
	newEpoch time.Time            // when the first publish of another epoch than the first was accepted
	refused  int
}

func startPublishing(e *redis.Engine, topic, epoch string) *pacedPublisher {
	ctx, cancel := context.WithCancel(context.Background())
	p := &pacedPublisher{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(publishEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			res, err := e.Publish(ctx, request(topic))
			if ctx.Err() != nil {
				return // stopped: what this publish did is not counted
			}
			p.mu.Lock()
			switch {
			case err != nil:
				p.refused++ // while no master takes the topic
			case res.Epoch != epoch && p.newEpoch.IsZero():
				p.newEpoch = time.Now()
				fallthrough
			default:
				p.last = res
			}
			p.mu.Unlock()
		}
	}()
	return p
}

// stop ends the publishes and waits for the one under way. Stopping a
// stopped publisher does nothing.
func (p *pacedPublisher) stop() {
	p.cancel()
	<-p.done
}

func (p *pacedPublisher) firstNewEpoch() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.newEpoch
}

func (p *pacedPublisher) result() (last broker.PublishResult, refused int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last, p.refused
}
