package broker

import (
	"sync"
	"testing"
)

// trieProbeConn records, at each frame it is sent, whether the pattern
// trie could be write-locked then: whether a pattern subscribe would have
// had to wait for the fan-out that sends it.
type trieProbeConn struct {
	ix    *index
	probe bool   // set once the test's subscriptions are made
	free  []bool // per frame sent while probing
}

func (c *trieProbeConn) Send([]byte) bool {
	if c.probe {
		t := &c.ix.patterns
		ok := t.mu.TryLock()
		if ok {
			t.mu.Unlock()
		}
		c.free = append(c.free, ok)
	}
	return true
}

func (c *trieProbeConn) Close(int, string) {}

// TestFanoutHoldsTheTrieOnlyForPatterns: a message that no pattern takes
// is offered to its topic's subscribers with the trie free, whether the
// trie is empty or holds patterns of other topics; one that a pattern
// takes is offered through it with the trie held, so that an unsubscribe
// from the pattern waits for the fan-out and replies after it.
func TestFanoutHoldsTheTrieOnlyForPatterns(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	subscribe := func(c *trieProbeConn, pattern string) {
		s := b.Connect(c, ClientInfo{})
		sub := &subscription{session: s, pattern: pattern, exact: !IsPattern(pattern)}
		s.addLocked(sub)
		b.index(sub)
	}
	topic := &trieProbeConn{ix: b.idx}
	subscribe(topic, "room.1")
	publish := func(seq uint64) {
		b.HandleMessage(&Message{Topic: "room.1", Epoch: "e", Seq: seq, ID: "id", Data: []byte(`1`)})
	}

	topic.probe = true
	publish(1) // no pattern at all
	other := &trieProbeConn{ix: b.idx}
	subscribe(other, "lobby.*")
	other.probe = true
	publish(2) // a pattern of another topic
	if len(topic.free) != 2 || !topic.free[0] || !topic.free[1] {
		t.Errorf("trie free at the topic's frames: %v, want [true true]", topic.free)
	}

	matching := &trieProbeConn{ix: b.idx}
	subscribe(matching, "room.*")
	matching.probe = true
	publish(3)
	if len(matching.free) != 1 || matching.free[0] {
		t.Errorf("trie free at the pattern's frame: %v, want [false]", matching.free)
	}
	if len(other.free) != 0 {
		t.Errorf("the other topic's pattern got %d frames", len(other.free))
	}
}

// BenchmarkPatternSubscribeDuringFanout subscribes and unsubscribes a
// pattern of another topic while messages fan out to 10,000 subscribers
// of one topic without pauses: what a pattern subscribe waits for the
// fan-outs running meanwhile.
func BenchmarkPatternSubscribeDuringFanout(b *testing.B) {
	br, _ := fanoutBroker(b, 10_000)
	stop := make(chan struct{})
	var fanning sync.WaitGroup
	fanning.Add(1)
	go func() { // ended and waited for below
		defer fanning.Done()
		m := &Message{Topic: "t", Epoch: "e", ID: "id", Data: []byte(`{"text":"hi"}`)}
		for {
			select {
			case <-stop:
				return
			default:
			}
			m.Seq++
			br.HandleMessage(m)
		}
	}()
	s := br.Connect(&plainConn{}, ClientInfo{})
	b.ReportAllocs()
	for b.Loop() {
		sub := &subscription{session: s, pattern: "other.*"}
		br.index(sub)
		br.unindex(sub)
	}
	close(stop)
	fanning.Wait()
}
