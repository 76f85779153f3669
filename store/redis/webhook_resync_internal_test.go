package redis

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
)

// A resync of many held topics, after a failover lost some of their
// records, sets Redis right for every one of them, in batches: reports
// made between batches go through without waiting for the whole resync,
// and one of a topic not checked yet finds it checked first, so that its
// events come in the order they would have, had it waited: a topic whose
// record was lost gets its topic_occupied before it is vacated, and a
// stray one its topic_vacated before it is occupied again.
func TestResyncOfManyHeldTopics(t *testing.T) {
	t.Parallel()
	t.Run("standalone", func(t *testing.T) { testResyncOfManyHeldTopics(t, redistest.Start(t).URL()) })
	t.Run("cluster", func(t *testing.T) { testResyncOfManyHeldTopics(t, redistest.StartCluster(t, 3, 0).URL()) })
}

func testResyncOfManyHeldTopics(t *testing.T, url string) {
	const node, strays = "n1", 100
	var duringResync func()
	e := startEngine(t, Config{URL: url, NodeID: node, PresenceLapse: time.Hour,
		betweenHeldBatches: func() {
			if f := duringResync; f != nil {
				duringResync = nil
				f()
			}
		}})
	ctx := t.Context()
	k := e.keys
	topics := holdTopics(t, e, node, 600) // 3 batches with the strays
	// What a lossy failover does: the records of every third topic held
	// are lost, and the vacating of the strays.
	lost := map[string]bool{}
	for i := 0; i < len(topics); i += 3 {
		lost[topics[i]] = true
		mustDo(t, e.rdb.HDel(ctx, k.webhooks("occ:"+topics[i]), node).Err())
		mustDo(t, e.rdb.HDel(ctx, k.webhooks("held:"+node), topics[i]).Err())
	}
	strayTopics := make([]string, strays)
	for i := range strayTopics {
		strayTopics[i] = fmt.Sprintf("stray.%03d", i)
		mustDo(t, e.rdb.HSet(ctx, k.webhooks("held:"+node), strayTopics[i], topicEvent("topic_vacated", strayTopics[i])).Err())
		mustDo(t, e.rdb.HSet(ctx, k.webhooks("occ:"+strayTopics[i]), node, 1).Err())
	}
	mustDo(t, e.rdb.Del(ctx, k.webhooks("events")).Err())

	// Reports during the resync, of topics in its last batch.
	lastLost, straySubscribed := topics[597], strayTopics[50]
	if !lost[lastLost] {
		t.Fatal("the topic vacated during the resync is not one whose record was lost")
	}
	duringResync = func() {
		done := make(chan error, 1)
		go func() {
			done <- func() error {
				if err := e.VacateTopic(ctx, lastLost, node, time.Now().Add(time.Hour), topicEvent("topic_vacated", lastLost)); err != nil {
					return err
				}
				for _, topic := range []string{straySubscribed, "new.room"} {
					if _, err := e.OccupyTopic(ctx, topic, node, topicEvent("topic_occupied", topic), topicEvent("topic_vacated", topic), 1_000_000, 1_000_000); err != nil {
						return err
					}
				}
				return nil
			}()
		}()
		// Not a bound on speed: without it, a resync that held the gate
		// to its end would wait here for reports that wait for it.
		select {
		case err := <-done:
			mustDo(t, err)
		case <-time.After(10 * time.Second):
			t.Error("reports made between two batches waited for the whole resync")
		}
	}
	e.held.troubles.Add(1)
	e.resyncHeldTopics(ctx)
	if e.held.synced[1] != e.held.troubles.Load() {
		t.Fatal("the resync failed")
	}
	if duringResync != nil {
		t.Fatal("the resync ran in one batch")
	}

	holds := func(topic string) bool {
		occ, err := e.rdb.HExists(ctx, k.webhooks("occ:"+topic), node).Result()
		mustDo(t, err)
		listed, err := e.rdb.HExists(ctx, k.webhooks("held:"+node), topic).Result()
		mustDo(t, err)
		if occ != listed {
			t.Errorf("%s: in its holders %v, in the node's topics %v", topic, occ, listed)
		}
		return occ
	}
	want := map[string][]string{lastLost: {"topic_occupied"}, straySubscribed: {"topic_vacated", "topic_occupied"}, "new.room": {"topic_occupied"}}
	for _, topic := range append(topics, "new.room") {
		if holds(topic) != (topic != lastLost) {
			t.Errorf("%s: held %v in Redis", topic, topic == lastLost)
		}
		if lost[topic] && topic != lastLost {
			want[topic] = []string{"topic_occupied"}
		}
	}
	for _, topic := range strayTopics {
		if holds(topic) != (topic == straySubscribed) {
			t.Errorf("stray %s: held %v in Redis", topic, topic != straySubscribed)
		}
		if topic != straySubscribed {
			want[topic] = []string{"topic_vacated"}
		}
	}
	if waiting, err := e.rdb.HExists(ctx, k.webhooks("vac"), lastLost).Result(); err != nil || !waiting {
		t.Errorf("%s, vacated during the resync, does not wait to be vacated: %v", lastLost, err)
	}
	got := queuedTopicEvents(t, e)
	for topic, names := range want {
		if !slices.Equal(got[topic], names) {
			t.Errorf("%s: queued %v, want %v", topic, got[topic], names)
		}
	}
	if len(got) != len(want) {
		t.Errorf("events queued for %d topics, want %d", len(got), len(want))
	}
}

// queuedTopicEvents reads e's webhook queue: the names of each topic's
// events, in order.
func queuedTopicEvents(t *testing.T, e *Engine) map[string][]string {
	t.Helper()
	entries, err := e.rdb.XRange(t.Context(), e.keys.webhooks("events"), "-", "+").Result()
	mustDo(t, err)
	out := map[string][]string{}
	for _, m := range entries {
		var ev struct{ Name, Topic string }
		s, _ := m.Values["e"].(string)
		mustDo(t, json.Unmarshal([]byte(s), &ev))
		out[ev.Topic] = append(out[ev.Topic], ev.Name)
	}
	return out
}

func topicEvent(name, topic string) []byte {
	return fmt.Appendf(nil, `{"name":%q,"topic":%q}`, name, topic)
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
