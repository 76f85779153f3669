package broker

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// A stream closed while it opens, its patterns found past
// MaxMatchingPatterns by a fan-out of a topic as its later topics are set
// up, is refused (or starts closed); the topics after the close are not
// set up on a session that is gone, the release of those before runs
// once their setup is done, not beside it (the race detector watches
// their workerMarks), and the engine holds none of them at the end.
func TestStreamClosedWhileItOpens(t *testing.T) {
	b, eng := newTestBroker(t, Config{})
	topics := overlappingPatterns(MaxMatchingPatterns + 1)
	for i := len(topics); i < maxStreamTopics; i++ {
		topics = append(topics, fmt.Sprintf("other.%d", i))
	}
	for round := range 200 {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := uint64(1); ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				b.HandleMessage(msg(overlapTopic, uint64(round)<<32|seq))
			}
		}()
		o, err := b.OpenStream(context.Background(), ClientInfo{}, topics, "")
		close(stop)
		wg.Wait()
		if err == nil {
			o.Abort()
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		eng.mu.Lock()
		active := len(eng.active)
		eng.mu.Unlock()
		if active == 0 {
			break
		}
		if time.Now().After(deadline) {
			eng.mu.Lock()
			t.Logf("%v", eng.active)
			eng.mu.Unlock()
			t.Fatalf("the engine holds %d patterns of streams closed as they opened", active)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
