package enginetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// WebhookStore is the part of the webhooks' engine state (api/hooks
// declares the whole) that keeps topics' occupancy and the event queue.
type WebhookStore interface {
	OccupyTopic(ctx context.Context, topic, node string, occupied, vacated []byte, max, maxWaiting int) (dropped bool, err error)
	VacateTopic(ctx context.Context, topic, node string, due time.Time, event []byte) error
	ReleaseNodes(ctx context.Context, node string, delay time.Duration, max int) (dropped int, err error)
	QueueVacated(ctx context.Context, now time.Time, maxVacated, max int) (dropped int, err error)
	NextEvents(ctx context.Context, node string, n int, lease time.Duration) (events [][]byte, cursor string, sender, others bool, err error)
}

// RunWebhooks runs the webhook contract against stores built by
// newStore, each fresh, with a key space of its own, cleaned up with t.
//
// What it holds every engine to: a topic whose topic_occupied was
// dropped (the queue full, or too many topics waiting to be vacated)
// gets no topic_vacated either, however its holders leave, so the
// backend hears of both events of a topic or of neither.
func RunWebhooks(t *testing.T, newStore func(t *testing.T) WebhookStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s *webhookSuite)
	}{
		{"WaitingToBeVacatedIsBounded", testWaitingBounded},
		{"TopicDroppedForAFullQueueGetsNeitherEvent", testFullQueueSilent},
		{"SilentTopicReleasedWithItsNode", testSilentReleased},
		{"VacatedWaitsForRoom", testVacatedWaitsForRoom},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, &webhookSuite{t: t, s: newStore(t)})
		})
	}
}

// A queue bound no subtest reaches unless it means to.
const roomyQueue = 10_000

type webhookSuite struct {
	t *testing.T
	s WebhookStore
}

func topicEvent(name, topic string) []byte {
	return []byte(fmt.Sprintf(`{"name":%q,"topic":%q}`, name, topic))
}

// occupy occupies topic for node and returns whether its event was dropped.
func (w *webhookSuite) occupy(topic, node string, max, maxWaiting int) bool {
	w.t.Helper()
	dropped, err := w.s.OccupyTopic(context.Background(), topic, node,
		topicEvent("topic_occupied", topic), topicEvent("topic_vacated", topic), max, maxWaiting)
	if err != nil {
		w.t.Fatalf("occupy %s: %v", topic, err)
	}
	return dropped
}

// vacate leaves topic for node, with a wait of an hour.
func (w *webhookSuite) vacate(topic, node string) {
	w.t.Helper()
	if err := w.s.VacateTopic(context.Background(), topic, node, time.Now().Add(time.Hour), topicEvent("topic_vacated", topic)); err != nil {
		w.t.Fatalf("vacate %s: %v", topic, err)
	}
}

// endWaits queues the events of every topic waiting, however many.
func (w *webhookSuite) endWaits() {
	w.t.Helper()
	for range 20 { // an engine may move a hundred a call
		dropped, err := w.s.QueueVacated(context.Background(), time.Now().Add(2*time.Hour), roomyQueue, roomyQueue)
		if err != nil || dropped != 0 {
			w.t.Fatalf("queue vacated: %d dropped, %v", dropped, err)
		}
	}
}

// queued is every event queued, one line each, sorted.
func (w *webhookSuite) queued() []string {
	w.t.Helper()
	events, _, sender, _, err := w.s.NextEvents(context.Background(), "a", 2*roomyQueue, time.Minute)
	if err != nil || !sender {
		w.t.Fatalf("next events: sender %v, %v", sender, err)
	}
	out := make([]string, len(events))
	for i, ev := range events {
		out[i] = string(ev)
	}
	slices.Sort(out)
	return out
}

// want is the sorted events of topics prefix.0 to prefix.n-1, each name.
func want(prefix string, n int, names ...string) []string {
	var out []string
	for i := range n {
		for _, name := range names {
			out = append(out, string(topicEvent(name, fmt.Sprint(prefix, ".", i))))
		}
	}
	return out
}

// Past maxWaiting topics waiting to be vacated, a new topic is held
// silent: nothing of it waits, and neither of its events is queued.
func testWaitingBounded(t *testing.T, w *webhookSuite) {
	const maxWaiting = 200
	for i := range maxWaiting {
		topic := fmt.Sprint("wait.", i)
		if w.occupy(topic, "a", roomyQueue, maxWaiting) {
			t.Fatalf("%s dropped below the bound", topic)
		}
		w.vacate(topic, "a")
	}
	for i := range 100 {
		topic := fmt.Sprint("flood.", i)
		if !w.occupy(topic, "a", roomyQueue, maxWaiting) {
			t.Fatalf("%s reported occupied with %d topics waiting", topic, maxWaiting)
		}
		w.vacate(topic, "a")
	}
	w.endWaits()
	if w.occupy("after", "a", roomyQueue, maxWaiting) {
		t.Fatal("a topic held silent once the waits ended")
	}
	expect := append(want("wait", maxWaiting, "topic_occupied", "topic_vacated"), string(topicEvent("topic_occupied", "after")))
	slices.Sort(expect)
	if got := w.queued(); !slices.Equal(got, expect) {
		t.Fatalf("queued %d events, want %d:\n%s", len(got), len(expect), strings.Join(got, "\n"))
	}
}

// A topic_occupied dropped for a full queue takes its topic_vacated
// with it, even once the queue has room again and other nodes joined.
func testFullQueueSilent(t *testing.T, w *webhookSuite) {
	if w.occupy("room", "a", roomyQueue, roomyQueue) {
		t.Fatal("dropped with room in the queue")
	}
	if !w.occupy("full", "a", 1, roomyQueue) {
		t.Fatal("queued past the queue's bound")
	}
	if w.occupy("full", "b", roomyQueue, roomyQueue) {
		t.Fatal("a second holder's occupy dropped an event")
	}
	w.vacate("full", "a")
	w.vacate("full", "b")
	w.endWaits()
	if w.occupy("full", "a", roomyQueue, roomyQueue) {
		t.Fatal("dropped once the topic was empty and the queue had room")
	}
	expect := []string{string(topicEvent("topic_occupied", "full")), string(topicEvent("topic_occupied", "room"))}
	if got := w.queued(); !slices.Equal(got, expect) {
		t.Fatalf("queued %q, want %q", got, expect)
	}
}

// A topic held silent whose node is released waits for nothing either.
func testSilentReleased(t *testing.T, w *webhookSuite) {
	w.occupy("heard", "a", roomyQueue, roomyQueue)
	if !w.occupy("silent", "a", roomyQueue, 0) {
		t.Fatal("reported occupied with the waiting bound at 0")
	}
	if dropped, err := w.s.ReleaseNodes(context.Background(), "a", 0, roomyQueue); err != nil || dropped != 0 {
		t.Fatalf("release: %d dropped, %v", dropped, err)
	}
	w.endWaits()
	expect := []string{string(topicEvent("topic_occupied", "heard")), string(topicEvent("topic_vacated", "heard"))}
	if got := w.queued(); !slices.Equal(got, expect) {
		t.Fatalf("queued %q, want %q", got, expect)
	}
}

// A topic_vacated whose wait ends while the topic events' share of the
// queue is full waits for room rather than being dropped: its
// topic_occupied went out, and the backend would otherwise keep the
// topic occupied for good.
func testVacatedWaitsForRoom(t *testing.T, w *webhookSuite) {
	w.occupy("busy", "a", roomyQueue, roomyQueue)
	w.vacate("busy", "a")
	dropped, err := w.s.QueueVacated(context.Background(), time.Now().Add(2*time.Hour), 1, roomyQueue) // the share is full
	if err != nil || dropped != 0 {
		t.Fatalf("queue vacated into a full share: %d dropped, %v", dropped, err)
	}
	if got := w.queued(); len(got) != 1 {
		t.Fatalf("queued %q with the share full, want the topic_occupied alone", got)
	}
	w.endWaits()
	expect := []string{string(topicEvent("topic_occupied", "busy")), string(topicEvent("topic_vacated", "busy"))}
	if got := w.queued(); !slices.Equal(got, expect) {
		t.Fatalf("queued %q once there was room, want %q", got, expect)
	}
}
