package redis

import (
	"strings"
	"testing"
	"time"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
)

// checkingSink is a messageSink that also passes the topics it is asked
// to check (broker.MatchChecker) to a channel.
type checkingSink struct {
	messageSink
	checked chan string
}

func (s checkingSink) CheckMatch(topic string) { s.checked <- topic }

// A message whose topic no pattern of the node matches, though its match
// went through more than broker.MaxWalkedNodes trie nodes (patterns that
// follow the topic and part from it at its last token), is not handed
// over but its topic is given to the Handler's CheckMatch, whose broker
// closes the connections that hold such patterns; a message of a topic
// whose match is short is not checked.
func TestALongMatchIsChecked(t *testing.T) {
	srv := redistest.Start(t)
	e := startEngine(t, Config{URL: srv.URL(), NodeID: "n1", HistorySize: 10})
	sink := checkingSink{messageSink: make(chan *broker.Message, 8), checked: make(chan string, 8)}
	e.Attach(sink)
	const topic = "a.b.c.d.e.f.g.h"
	for i := range 100 {
		toks := strings.Split(topic, ".")
		for j := range len(toks) - 1 {
			if i&(1<<j) != 0 {
				toks[j] = "*"
			}
		}
		toks[len(toks)-1] = "zz"
		if err := e.Subscribe(t.Context(), strings.Join(toks, ".")); err != nil {
			t.Fatal(err)
		}
	}
	for i, tp := range []string{"x.y", topic} {
		if _, err := e.Publish(t.Context(), broker.PublishRequest{Topic: tp, Data: []byte(`1`), ID: "m", Time: int64(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case got := <-sink.checked:
		if got != topic {
			t.Fatalf("checked %q, want %q", got, topic)
		}
	case m := <-sink.messageSink:
		t.Fatalf("a message no pattern matches was handed over: %+v", m)
	case <-time.After(10 * time.Second):
		t.Fatal("the topic whose match is long was never checked")
	}
}
