package broker

import (
	"fmt"
	"slices"
	"testing"
)

// A fan-out counts the frames it queued under the published topic,
// pattern subscribers' included; a topic nobody here subscribes to adds
// nothing. Nothing is counted before the counts are asked for.
func TestMostDeliveredCountsFramesPerTopic(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	conn := &countConn{}
	for range 3 {
		addSub(b, b.Connect(conn, ClientInfo{}), "room.hot", Position{}, true)
	}
	addSub(b, b.Connect(conn, ClientInfo{}), "room.*", Position{}, true)
	seq := uint64(0)
	publish := func(topic string, n int) {
		for range n {
			seq++
			b.HandleMessage(&Message{Topic: topic, Epoch: "e", Seq: seq, ID: "id", Data: []byte(`1`)})
		}
	}
	publish("room.hot", 5)
	if top, ok := b.MostDelivered(8, 1, nil); ok || len(top) != 0 {
		t.Fatalf("counted before anyone asked: %v, %v", top, ok)
	}
	publish("room.hot", 10)  // 4 frames each: 40
	publish("room.cold", 9)  // the pattern's only: 9
	publish("room.quiet", 1) // 1
	publish("elsewhere", 50) // nobody's
	for _, tc := range []struct {
		k     int
		share float64
		want  []string
	}{
		{8, 1, []string{"room.cold", "room.hot", "room.quiet"}},
		{8, 0.98, []string{"room.cold", "room.hot"}}, // 49 of 50 frames
		{8, 0.8, []string{"room.hot"}},
		{1, 0.8, []string{"room.hot"}},
		{1, 0.9, nil}, // one topic had less
	} {
		top, ok := b.MostDelivered(tc.k, tc.share, nil)
		if !slices.Equal(top, tc.want) || ok != (tc.want != nil) {
			t.Errorf("MostDelivered(%d, %v, nil) = %v, %v; want %v", tc.k, tc.share, top, ok, tc.want)
		}
	}
	kept := []string{"room.cold", "room.hot"}
	if top, _ := b.MostDelivered(8, 0.9, kept); len(top) == 0 || &top[0] != &kept[0] {
		t.Errorf("MostDelivered(8, 0.9, %v) = %v; want the kept list itself, which still had the share with as few", kept, top)
	}
	kept = []string{"room.cold", "room.hot", "room.quiet"}
	if top, _ := b.MostDelivered(8, 0.8, kept); !slices.Equal(top, []string{"room.hot"}) {
		t.Errorf("MostDelivered(8, 0.8, %v) = %v; want room.hot alone, which has the share", kept, top)
	}
	if top, _ := b.MostDelivered(8, 0.8, []string{"room.cold", "room.quiet"}); !slices.Equal(top, []string{"room.hot"}) {
		t.Errorf("MostDelivered with a kept list short of the share = %v; want room.hot", top)
	}
	if top, _ := b.MostDelivered(2, 0.8, kept); !slices.Equal(top, []string{"room.hot"}) {
		t.Errorf("MostDelivered with a kept list longer than k = %v; want room.hot", top)
	}
	b.RestartDeliveryCounts() // the window before stays
	publish("room.cold", 20)
	if top, _ := b.MostDelivered(8, 0.98, nil); !slices.Equal(top, []string{"room.cold", "room.hot"}) {
		t.Fatalf("after a restart: %v; want the counts of both windows added up", top)
	}
	b.RestartDeliveryCounts()
	publish("room.quiet", 1)
	if top, _ := b.MostDelivered(8, 0.9, nil); !slices.Equal(top, []string{"room.cold"}) {
		t.Fatalf("after two restarts: %v; want the last two windows only", top)
	}
	b.RestartDeliveryCounts()
	b.RestartDeliveryCounts()
	if top, ok := b.MostDelivered(8, 0.9, nil); ok || len(top) != 0 {
		t.Fatalf("two windows without a message: %v, %v; want nothing", top, ok)
	}
}

// The table is bounded: thousands of topics with a subscriber each are
// tracked up to deliveryShards*deliveryPerShard, and the rest still count
// in the total, so the busiest cover less of it.
func TestMostDeliveredIsBounded(t *testing.T) {
	b, _ := newTestBroker(t, Config{MaxSubscriptions: 5000})
	conn := &countConn{}
	s := b.Connect(conn, ClientInfo{})
	const topics = 4 * deliveryShards * deliveryPerShard
	for i := range topics {
		addSub(b, s, fmt.Sprintf("t.%d", i), Position{}, true)
	}
	b.RestartDeliveryCounts()
	for i := range topics {
		b.HandleMessage(&Message{Topic: fmt.Sprintf("t.%d", i), Epoch: "e", Seq: 1, ID: "id", Data: []byte(`1`)})
	}
	tracked := 0
	for i := range b.deliveries.shards {
		tracked += len(b.deliveries.shards[i].cur.counts)
	}
	if tracked > deliveryShards*deliveryPerShard {
		t.Fatalf("%d topics tracked, bound %d", tracked, deliveryShards*deliveryPerShard)
	}
	if top, ok := b.MostDelivered(32, 0.9, nil); ok || top != nil {
		t.Fatalf("MostDelivered(32, 0.9, nil) over %d topics alike: %d topics, %v; want none", topics, len(top), ok)
	}
	if top, ok := b.MostDelivered(32, 32.0/topics, nil); !ok || len(top) != 32 {
		t.Fatalf("MostDelivered(32, 32/%d, nil) over %d topics alike: %d topics, %v; want 32", topics, topics, len(top), ok)
	}
}

// Counting adds no allocation to a fan-out once the table has its
// topics: one message costs what it cost without the counts.
func TestDeliveryCountsAllocateNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector drops pooled fan-out scratch at random: allocation counts vary")
	}
	b, _ := fanoutBroker(t, 100)
	var seq uint64
	fanout := func() {
		seq++
		b.HandleMessage(&Message{Topic: "t", Epoch: "e", Seq: seq, ID: "id", Data: []byte(`1`)})
	}
	without := testing.AllocsPerRun(50, fanout)
	b.RestartDeliveryCounts()
	fanout()
	with := testing.AllocsPerRun(50, fanout)
	b.RestartDeliveryCounts() // the map keeps its room: a refill allocates nothing either
	refilled := testing.AllocsPerRun(50, fanout)
	if with > without || refilled > without {
		t.Fatalf("allocations a fan-out: %v uncounted, %v counted, %v counted after a restart", without, with, refilled)
	}
	if top, _ := b.MostDelivered(1, 1, nil); !slices.Equal(top, []string{"t"}) {
		t.Fatalf("counted %v, want t", top)
	}
}
