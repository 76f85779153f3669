package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// runChurn starts cycles at the plan's rate until its churn duration ends
// or the parent says finish, then waits for the cycles under way.
func (w *worker) runChurn(ctx context.Context, finish <-chan struct{}) {
	_ = w.out.write(Event{Type: "ready", Worker: w.plan.Worker, Counters: w.counters()})
	ctx, cancel := context.WithTimeout(ctx, w.plan.ChurnDuration)
	defer cancel()
	go func() { // ends with ctx, which this function cancels on return
		select {
		case <-finish:
			cancel()
		case <-ctx.Done():
		}
	}()
	var cycles sync.WaitGroup
	sem := make(chan struct{}, max(w.plan.Inflight, 1))
	start := time.Now()
	for k := 0; waitTurn(ctx, start, k, w.plan.ChurnRate); k++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue // waitTurn ends the loop
		}
		cycles.Add(1)
		go func(i int) {
			defer cycles.Done()
			defer func() { <-sem }()
			// A cycle runs to its own op timeout even when the run ends,
			// so that a cycle is never counted as failed for being cut.
			w.churnOnce(context.WithoutCancel(ctx), i)
		}(w.plan.First + k)
	}
	cycles.Wait()
}

// churnOnce connects, subscribes, publishes one message over the same
// socket, waits for it to come back, and closes.
func (w *worker) churnOnce(ctx context.Context, i int) {
	start := time.Now()
	c, _, err := w.openSubscribed(ctx, i, i%max(w.plan.Topics, 1))
	if err != nil {
		w.connectErrs.Add(1)
		w.kinds.add("connect", err)
		return
	}
	defer c.Close()
	w.connected.Add(1)
	_ = c.nc.SetDeadline(time.Now().Add(w.plan.OpTimeout))
	if err := w.roundTrip(c, i); err != nil {
		w.errs.Add(1)
		w.kinds.add("cycle", err)
		return
	}
	w.cycleLat.Record(time.Since(start))
	w.cycles.Add(1)
	closeHandshake(c)
}

// roundTrip publishes a message carrying n = i on i's topic and reads until
// both that message and the publish's reply arrived, in either order;
// other clients' messages on the topic are skipped.
func (w *worker) roundTrip(c *wsConn, i int) error {
	topic := i % max(w.plan.Topics, 1)
	cmd := []byte(`{"type":"publish","id":"p","topic":"` + w.plan.Topic(topic) + `","data":`)
	cmd = appendPayload(cmd, time.Now().UnixNano(), int64(i))
	cmd = append(cmd, '}')
	start := time.Now()
	if err := c.WriteText(cmd); err != nil {
		return err
	}
	var delivered, answered bool
	for !delivered || !answered {
		msg, at, err := c.ReadMessage()
		if err != nil {
			return err
		}
		switch string(msgType(msg)) {
		case "error":
			return fmt.Errorf("%w: %s", errServerError, stringField(msg, `"code":"`))
		case "published":
			w.publishLat.Record(at.Sub(start))
			answered = true
		case "message":
			d, ok := parseDelivery(msg)
			if !ok {
				return fmt.Errorf("%w: unreadable message", ErrFrame)
			}
			w.received.Add(1)
			if d.n == int64(i) {
				w.latency.Record(time.Duration(at.UnixNano() - d.sent))
				delivered = true
			}
		}
	}
	return nil
}

// closeHandshake sends close 1000 and waits briefly for the server's close,
// so that the server ends the TCP connection and its TIME_WAIT stays on the
// server's side instead of eating the benchmark's source ports.
func closeHandshake(c *wsConn) {
	_ = c.Write(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	_ = c.nc.SetReadDeadline(time.Now().Add(time.Second))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			var ce *CloseError
			if errors.As(err, &ce) || errors.Is(err, ErrClosed) {
				_, _, _ = c.ReadMessage() // until the server's FIN
			}
			return
		}
	}
}
