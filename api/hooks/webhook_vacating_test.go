package hooks_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/herald-broker/herald/api/hooks"
	"github.com/herald-broker/herald/store/memory"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// The topics waiting out the vacated delay are bounded by the queue's
// share for topic events (5 of 10 here): past it a new topic gets
// neither topic_occupied nor topic_vacated, counted dropped and logged,
// even with a backend that takes every batch.
func TestWebhookTopicsWaitingToBeVacatedAreBounded(t *testing.T) {
	ev, b := newWebhookBackend(t)
	eng := memory.New(memory.Config{})
	t.Cleanup(func() { eng.Close(context.Background()) })
	client := hooks.NewClient(hooks.Config{Secret: []byte(secret), Timeout: time.Second})
	defer client.Close()
	core, logged := observer.New(zap.WarnLevel)
	start := func(node string) *hooks.Webhooks {
		wh, err := client.Webhooks(hooks.WebhookConfig{URL: b.srv.URL, Node: node, Store: eng,
			MaxQueued: 10, VacatedDelay: time.Hour, Logger: zap.New(core)})
		if err != nil {
			t.Fatal(err)
		}
		return wh
	}
	first := start("a")
	for i := range 5 {
		first.TopicHeld(fmt.Sprint("wait.", i))
		first.TopicLeft(fmt.Sprint("wait.", i))
	}
	first.Close(context.Background()) // hands every report to the engine
	second := start("b")
	defer second.Close(context.Background())
	eventually(t, "the five occupied delivered", func() bool { return len(ev.list()) == 5 })
	for i := range 5 {
		second.TopicHeld(fmt.Sprint("flood.", i))
		second.TopicLeft(fmt.Sprint("flood.", i))
	}
	eventually(t, "the flood's topics dropped", func() bool {
		return counter(t, client, "herald_webhook_events_dropped_total") == 5
	})
	// Counted before logged (TestWebhookQueueIsBounded): the count can
	// come first.
	eventually(t, "the drops logged", func() bool {
		return logged.FilterMessage("webhook events dropped").FilterFieldKey("why").Len() > 0
	})
	second.Close(context.Background())
	for _, e := range ev.list() {
		if strings.Contains(e, "flood.") {
			t.Fatalf("an event of a topic past the bound was sent: %v", ev.list())
		}
	}
}
