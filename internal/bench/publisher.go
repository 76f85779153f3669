package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// publishers post to /api/publish from several goroutines, each with its
// own keep-alive connection and one publish in flight: either as fast as
// replies come (closed loop) or on a schedule that shares a total rate
// between them. A publisher behind its schedule sends at once until it has
// caught up, so a slow server lowers the rate offered; the report says by
// how much (behind, lateMax and the rate achieved).
type publishers struct {
	cfg      Config
	dialect  dialect
	counter  atomic.Int64 // "n" of the next message
	perTopic []atomic.Uint64
	ok       atomic.Int64
	failed   atomic.Int64
	kinds    errorKinds
	// roundTrip times each accepted publish from its write to its reply.
	roundTrip Histogram
	// behind counts the publishes, at a rate, that began after the
	// publisher's next one was already due; lateMax is the most any began
	// after its due time, in ns.
	behind  atomic.Int64
	lateMax atomic.Int64
}

func newPublishers(cfg Config) *publishers {
	return &publishers{cfg: cfg, dialect: dialectOf(cfg.Server), perTopic: make([]atomic.Uint64, cfg.Topics)}
}

// run publishes until ctx ends and returns when every publisher stopped.
func (p *publishers) run(ctx context.Context) {
	var wg sync.WaitGroup
	for j := 0; j < p.cfg.Publishers; j++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.loop(ctx, j)
		}()
	}
	wg.Wait()
}

// loop is publisher j: it posts topics j, j+P, j+2P ... in turn, each to
// the next of the publishers' targets, so that every topic is published on
// every one of them.
func (p *publishers) loop(ctx context.Context, j int) {
	conns := make([]*httpConn, len(p.cfg.PublishTargets))
	for i, t := range p.cfg.PublishTargets {
		conns[i] = newHTTPConn(t, "/api/publish", p.dialect.headerLine(p.cfg.APIKey), p.cfg.OpTimeout)
		defer conns[i].close()
	}
	perRate := p.cfg.perPublisherRate()
	start := time.Now()
	var body []byte
	for k := 0; waitTurn(ctx, start, k, perRate); k++ {
		topic := (j + k*p.cfg.Publishers) % p.cfg.Topics
		sent := sendTime(start, k, perRate)
		if perRate > 0 {
			p.noteLate(time.Now().UnixNano()-sent, perRate)
		}
		body = p.appendBody(body[:0], topic, sent)
		// A publish under way when the run ends is finished, not cut: the
		// server may have taken it, and then its deliveries are expected.
		hc := conns[(j+k)%len(conns)]
		took, err := p.post(context.WithoutCancel(ctx), hc, body)
		if err != nil {
			p.failed.Add(1)
			p.kinds.add("publish", err)
			continue
		}
		p.roundTrip.Record(took)
		p.ok.Add(1)
		p.perTopic[topic].Add(1)
	}
}

// noteLate records that a publish began late ns after its due time, for a
// publisher sending rate a second.
func (p *publishers) noteLate(late int64, rate float64) {
	if float64(late) > float64(time.Second)/rate {
		p.behind.Add(1)
	}
	for {
		m := p.lateMax.Load()
		if late <= m || p.lateMax.CompareAndSwap(m, late) {
			return
		}
	}
}

// sendTime is the "t" of publish k: at a fixed rate, when it was due, so
// that a publisher held up by a slow reply does not hide the delay from
// the latency (coordinated omission); in a closed loop, now.
func sendTime(start time.Time, k int, rate float64) int64 {
	if rate <= 0 {
		return time.Now().UnixNano()
	}
	return start.Add(time.Duration(float64(k) / rate * float64(time.Second))).UnixNano()
}

func (p *publishers) appendBody(dst []byte, topic int, sent int64) []byte {
	dst = append(dst, p.dialect.topicKey...)
	dst = append(dst, p.cfg.TopicPrefix...)
	dst = strconv.AppendInt(dst, int64(topic), 10)
	dst = append(dst, `","data":`...)
	dst = appendPayload(dst, sent, p.counter.Add(1))
	return append(dst, '}')
}

// post sends one publish and returns its round trip; only a 200 counts as
// published (docs/protocol.md section 3), and for Centrifugo only a 200
// without an error in its body.
func (p *publishers) post(ctx context.Context, hc *httpConn, body []byte) (time.Duration, error) {
	reply, err := hc.post(ctx, body)
	if err != nil {
		return 0, err
	}
	if reply.status != http.StatusOK {
		return 0, &StatusError{Code: reply.status, Body: string(bytes.TrimSpace(reply.body))}
	}
	if p.dialect.refused(reply.body) {
		return 0, fmt.Errorf("%w: publish: %s", errServerError, bytes.TrimSpace(reply.body))
	}
	return reply.took, nil
}

// StatusError is a publish answered with something other than 200.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("bench: publish: HTTP %d: %s", e.Code, e.Body)
}
