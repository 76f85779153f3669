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
// own keep-alive connection, either as fast as replies come (closed loop)
// or at a fixed total rate.
type publishers struct {
	cfg      Config
	dialect  dialect
	counter  atomic.Int64 // "n" of the next message
	perTopic []atomic.Uint64
	ok       atomic.Int64
	failed   atomic.Int64
	kinds    errorKinds
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
	perRate := p.cfg.Rate / float64(p.cfg.Publishers)
	start := time.Now()
	var body []byte
	for k := 0; waitTurn(ctx, start, k, perRate); k++ {
		topic := (j + k*p.cfg.Publishers) % p.cfg.Topics
		body = p.appendBody(body[:0], topic, sendTime(start, k, perRate))
		// A publish under way when the run ends is finished, not cut: the
		// server may have taken it, and then its deliveries are expected.
		hc := conns[(j+k)%len(conns)]
		if err := p.post(context.WithoutCancel(ctx), hc, body); err != nil {
			p.failed.Add(1)
			p.kinds.add("publish", err)
			continue
		}
		p.ok.Add(1)
		p.perTopic[topic].Add(1)
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

// post sends one publish; only a 200 counts as published (docs/protocol.md
// section 3), and for Centrifugo only a 200 without an error in its body.
func (p *publishers) post(ctx context.Context, hc *httpConn, body []byte) error {
	status, reply, err := hc.post(ctx, body)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return &StatusError{Code: status, Body: string(bytes.TrimSpace(reply))}
	}
	if p.dialect.refused(reply) {
		return fmt.Errorf("%w: publish: %s", errServerError, bytes.TrimSpace(reply))
	}
	return nil
}

// StatusError is a publish answered with something other than 200.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("bench: publish: HTTP %d: %s", e.Code, e.Body)
}
