package hooks_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/herald-broker/herald/api/hooks"
	"github.com/herald-broker/herald/store/memory"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// The webhook queue's bound (docs/protocol.md section 11): what is dropped
// past it, counted and logged, and the room occupancy events leave for
// the others.

// The queue is bounded: past it events are dropped, counted and logged,
// and the ones queued still go.
func TestWebhookQueueIsBounded(t *testing.T) {
	ev, b := newWebhookBackend(t)
	ev.refuse = 1 << 30
	eng := memory.New(memory.Config{})
	t.Cleanup(func() { eng.Close(context.Background()) })
	client := hooks.NewClient(hooks.Config{Secret: []byte(secret), Timeout: time.Second})
	defer client.Close()
	core, logged := observer.New(zap.WarnLevel)
	wh, err := client.Webhooks(hooks.WebhookConfig{URL: b.srv.URL, Node: "n", Store: eng, MaxQueued: 3, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close(context.Background())
	for i := range 5 {
		wh.ClientDisconnected(fmt.Sprint(i), "", 1000)
	}
	eventually(t, "two dropped", func() bool { return counter(t, client, "herald_webhook_events_dropped_total") == 2 })
	// A drop is counted before it is logged, and another recorder may
	// count the second meanwhile: the count can come before the line.
	eventually(t, "the drops logged", func() bool { return logged.FilterMessage("webhook events dropped").Len() > 0 })
	ev.mu.Lock()
	ev.refuse = 0
	ev.mu.Unlock()
	eventually(t, "the three queued delivered", func() bool { return len(ev.list()) == 3 })
	seen := map[string]bool{}
	for _, e := range ev.list() {
		seen[e] = true
	}
	if len(seen) != 3 {
		t.Fatalf("delivered %v, want three different events", ev.list())
	}
	time.Sleep(200 * time.Millisecond) // two idle polls: nothing more comes
	if got := len(ev.list()); got != 3 {
		t.Fatalf("%d events delivered, want the 3 queued", got)
	}
}

// Topic occupancy events fill at most half the queue: a flood of them
// (a client subscribing to and leaving new topics) leaves room for the
// connections' ends and the members' changes.
func TestWebhookOccupancyLeavesRoomForOtherEvents(t *testing.T) {
	ev, b := newWebhookBackend(t)
	ev.refuse = 1 << 30
	eng := memory.New(memory.Config{})
	t.Cleanup(func() { eng.Close(context.Background()) })
	client := hooks.NewClient(hooks.Config{Secret: []byte(secret), Timeout: time.Second})
	defer client.Close()
	wh, err := client.Webhooks(hooks.WebhookConfig{URL: b.srv.URL, Node: "n", Store: eng, MaxQueued: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close(context.Background())
	for i := range 20 {
		wh.TopicHeld(fmt.Sprint("flood.", i))
	}
	eventually(t, "occupancy events past half the queue dropped", func() bool {
		return counter(t, client, "herald_webhook_events_dropped_total") == 15
	})
	for i := range 3 {
		wh.ClientDisconnected(fmt.Sprint(i), "", 1000)
	}
	ev.mu.Lock()
	ev.refuse = 0
	ev.mu.Unlock()
	eventually(t, "the queued events delivered", func() bool { return len(ev.list()) == 8 })
	if got := len(ev.named("client_disconnected")); got != 3 {
		t.Errorf("%d client_disconnected delivered, want 3: %v", got, ev.list())
	}
	if got := counter(t, client, "herald_webhook_events_dropped_total"); got != 15 {
		t.Errorf("%v events dropped, want the 15 occupancy events", got)
	}
}

// counter reads one of the client's counters through its collectors.
func counter(t testing.TB, c *hooks.Client, name string) float64 {
	t.Helper()
	mfs, err := gather(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
