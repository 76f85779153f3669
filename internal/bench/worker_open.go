package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/herald-broker/herald/broker"
)

// Opening a worker's connections: dialled at the planned rate, each subscribed to its topic.

// connectAll opens the plan's connections at its rate, at most Inflight at
// once, and returns when every attempt has succeeded or failed.
func (w *worker) connectAll(ctx context.Context) {
	var attempts sync.WaitGroup
	sem := make(chan struct{}, max(w.plan.Inflight, 1))
	start := time.Now()
	for k := 0; k < w.plan.Count; k++ {
		if !waitTurn(ctx, start, k, w.plan.ConnectRate) {
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		attempts.Add(1)
		go func(i int) {
			defer attempts.Done()
			c, seq, err := w.openSubscribed(ctx, i, i%max(w.plan.Topics, 1))
			<-sem
			if err != nil {
				w.connectErrs.Add(1)
				w.kinds.add("connect", err)
				return
			}
			w.keep(c, i%max(w.plan.Topics, 1), seq)
		}(w.plan.First + k)
	}
	attempts.Wait()
}

// waitTurn paces attempt k at rate a second; false when ctx ends first.
func waitTurn(ctx context.Context, start time.Time, k int, rate float64) bool {
	if rate <= 0 {
		return ctx.Err() == nil
	}
	d := time.Until(start.Add(time.Duration(float64(k) / rate * float64(time.Second))))
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// openSubscribed dials connection i, reads the welcome, subscribes to the
// topic and waits for the reply. It returns the topic's seq then.
func (w *worker) openSubscribed(ctx context.Context, i, topic int) (*wsConn, int64, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, w.plan.OpTimeout)
	defer cancel()
	d := dialerFor(w.plan, i)
	if w.plan.Server == ServerHeraldSSE {
		c, seq, err := dialSSE(ctx, d, w.plan.targetOf(i), w.plan.Topic(topic))
		if err == nil {
			// A stream does not announce the heartbeat: the idle hold
			// assumes the default.
			w.heartbeat.CompareAndSwap(0, int64(broker.DefaultHeartbeat/time.Second))
			w.connectLat.Record(time.Since(start))
		}
		return c, seq, err
	}
	c, err := dialWS(ctx, d, w.plan.targetOf(i))
	if err != nil {
		return nil, 0, err
	}
	dl, _ := ctx.Deadline()
	_ = c.nc.SetDeadline(dl)
	seq, err := w.subscribe(c, topic)
	if err != nil {
		c.Close()
		return nil, 0, err
	}
	_ = c.nc.SetDeadline(time.Time{})
	w.connectLat.Record(time.Since(start))
	return c, seq, nil
}

// subscribe does the server's opening exchange and subscribes to topic,
// returning the seq the topic is at (0 for Centrifugo, which has none
// without history).
func (w *worker) subscribe(c *wsConn, topic int) (int64, error) {
	if w.plan.Server == ServerCentrifugo {
		return 0, w.centrifugoSubscribe(c, topic)
	}
	return w.welcomeAndSubscribe(c, topic)
}

// welcomeAndSubscribe reads the welcome and subscribes (docs/protocol.md
// section 2), returning the seq the subscribed reply names.
func (w *worker) welcomeAndSubscribe(c *wsConn, topic int) (int64, error) {
	msg, _, err := c.ReadMessage()
	if err != nil {
		return 0, err
	}
	if string(msgType(msg)) != "welcome" {
		return 0, fmt.Errorf("handshake: first message is %q, not welcome", msgType(msg))
	}
	if hb, ok := intField(msg, `"heartbeat":`); ok {
		w.heartbeat.Store(hb)
	}
	cmd := `{"type":"subscribe","id":"s","topic":"` + w.plan.Topic(topic) + `"}`
	if err := c.WriteText([]byte(cmd)); err != nil {
		return 0, err
	}
	for {
		msg, _, err := c.ReadMessage()
		if err != nil {
			return 0, err
		}
		switch string(msgType(msg)) {
		case "subscribed":
			seq, _ := intField(msg, `"seq":`)
			return seq, nil
		case "error":
			return 0, fmt.Errorf("%w: %s", errServerError, stringField(msg, `"code":"`))
		}
	}
}
