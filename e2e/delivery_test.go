package e2e

import (
	"fmt"
	"sync"
	"testing"
)

// Every subscriber of a topic, exact or by pattern, sees one seq order
// while HTTP and WebSocket publishers race.
func TestOneSeqOrderForAllSubscribers(t *testing.T) {
	n := startNode(t, options{})
	const subscribers, publishers, each = 20, 6, 50
	clients := make([]*client, subscribers)
	for i := range clients {
		clients[i] = dial(t, n.ws)
		topic := "room.1"
		if i%4 == 0 {
			topic = "room.*"
		}
		clients[i].subscribe("s", topic)
	}
	var wg sync.WaitGroup
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p%2 == 0 {
				for i := 0; i < each; i++ {
					publish(t, n, "room.1", fmt.Sprintf(`{"p":%d,"i":%d}`, p, i))
				}
				return
			}
			pub := dial(t, n.ws)
			for i := 0; i < each; i++ {
				pub.send(`{"type":"publish","id":"%d","topic":"room.1","data":{"p":%d,"i":%d}}`, i, p, i)
			}
			for i := 0; i < each; i++ {
				if f := pub.reply(fmt.Sprint(i)); f.Type != "published" {
					t.Errorf("publish over WebSocket: %+v", f)
				}
			}
		}()
	}
	wg.Wait()

	const total = publishers * each
	sameSeqOrder(t, clients, total, func(ci int, f frame) {
		if wantPattern := map[bool]string{true: "room.*"}[ci%4 == 0]; f.Pattern != wantPattern {
			t.Fatalf("client %d: pattern %q, want %q", ci, f.Pattern, wantPattern)
		}
	})
}

// sameSeqOrder reads total messages from every client and fails unless
// each saw seqs 1..total in order with the same message at each seq; check,
// when not nil, looks at every message too.
func sameSeqOrder(t *testing.T, clients []*client, total uint64, check func(client int, f frame)) {
	t.Helper()
	ids := make([]string, total+1)
	for ci, c := range clients {
		for want := uint64(1); want <= total; want++ {
			f := c.next()
			if f.Type != "message" || f.Seq != want {
				t.Fatalf("client %d: got %s seq %d, want message seq %d", ci, f.Type, f.Seq, want)
			}
			if ids[want] == "" {
				ids[want] = f.Msg
			} else if ids[want] != f.Msg {
				t.Fatalf("client %d: seq %d is %s, another client saw %s", ci, want, f.Msg, ids[want])
			}
			if check != nil {
				check(ci, f)
			}
		}
	}
}

// A client that drops and resumes with since while a publisher keeps
// going gets every message it missed once, in order, then live ones.
func TestResumeRacingPublisher(t *testing.T) {
	n := startNode(t, options{historySize: 1000})
	for round := 0; round < 25; round++ {
		topic := fmt.Sprintf("race.%d", round)
		const total = 60
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; i < total; i++ {
				publish(t, n, topic, fmt.Sprint(i))
			}
		}()

		first := dial(t, n.ws)
		sub := first.subscribe("a", topic)
		epoch, last := sub.Epoch, sub.Seq
		for i := 0; i < round%5 && last < total; i++ { // read a few, then drop
			f := first.next()
			if f.Seq != last+1 {
				t.Fatalf("round %d: live seq %d after %d", round, f.Seq, last)
			}
			last = f.Seq
		}
		first.conn.Close()

		second := dial(t, n.ws)
		second.send(`{"type":"subscribe","id":"b","topic":%q,"since":{"epoch":%q,"seq":%d}}`, topic, epoch, last)
		r := second.reply("b")
		if r.Type != "subscribed" || r.Recovered == nil || !*r.Recovered || r.Epoch != epoch {
			t.Fatalf("round %d: resume reply %+v", round, r)
		}
		<-done
		for last < total {
			f := second.next()
			if f.Type != "message" || f.Seq != last+1 {
				t.Fatalf("round %d: got %s seq %d after %d", round, f.Type, f.Seq, last)
			}
			last = f.Seq
		}
		publish(t, n, topic, `"after"`)
		if f := second.next(); f.Seq != total+1 || string(f.Data) != `"after"` {
			t.Fatalf("round %d: live after resume: %+v", round, f)
		}
	}
}
