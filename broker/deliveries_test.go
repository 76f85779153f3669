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
	if top, share := b.MostDelivered(8); len(top) != 0 || share != 0 {
		t.Fatalf("counted before anyone asked: %v, %v", top, share)
	}
	publish("room.hot", 10)  // 4 frames each: 40
	publish("room.cold", 10) // the pattern's only: 10
	publish("elsewhere", 50) // nobody's
	top, share := b.MostDelivered(8)
	if !slices.Equal(top, []string{"room.cold", "room.hot"}) || share != 1 {
		t.Fatalf("MostDelivered(8) = %v, %v; want both room topics, all of the frames", top, share)
	}
	top, share = b.MostDelivered(1)
	if !slices.Equal(top, []string{"room.hot"}) || share != 0.8 {
		t.Fatalf("MostDelivered(1) = %v, %v; want room.hot, 0.8 of the frames", top, share)
	}
	b.RestartDeliveryCounts()
	if top, share := b.MostDelivered(8); len(top) != 0 || share != 0 {
		t.Fatalf("after a restart: %v, %v; want nothing", top, share)
	}
	publish("room.cold", 1)
	if top, _ := b.MostDelivered(8); !slices.Equal(top, []string{"room.cold"}) {
		t.Fatalf("after a restart and one message: %v", top)
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
		tracked += len(b.deliveries.shards[i].counts)
	}
	if tracked > deliveryShards*deliveryPerShard {
		t.Fatalf("%d topics tracked, bound %d", tracked, deliveryShards*deliveryPerShard)
	}
	top, share := b.MostDelivered(32)
	if len(top) != 32 || share != 32.0/topics {
		t.Fatalf("MostDelivered(32) over %d topics: %d topics, share %v; want 32, %v", topics, len(top), share, 32.0/topics)
	}
}

// Counting adds no allocation to a fan-out once the table has its
// topics: one message costs what it cost without the counts.
func TestDeliveryCountsAllocateNothing(t *testing.T) {
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
	if top, _ := b.MostDelivered(1); !slices.Equal(top, []string{"t"}) {
		t.Fatalf("counted %v, want t", top)
	}
}
