package web

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
	"github.com/herald-broker/herald/store/memory"
)

// TestClientBacksOffASlowConsumerThatCannotKeepUp: a real node whose
// resumes read 4 KiB at most closes a client resuming more with 4000
// behind what fits (docs/protocol.md section 2). Here more is published
// while it waits than one resume reads, so it never catches up: each
// reconnect reads one resume's worth and is closed again. Its reconnects
// back off as after any other failure in a row, rather than coming back
// every minDelay.
func TestClientBacksOffASlowConsumerThatCannotKeepUp(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{
		Engine: memory.New(memory.Config{HistorySize: 1000, HistoryTTL: time.Hour}),
		Node: node.Config{
			NodeID: "slow-consumer-node",
			Broker: broker.Config{MaxSubscriptions: 100, RateLimit: 1000, MaxResumeBytes: 4096},
			API:    api.Config{APIKeys: []string{"k1"}, Files: Handler()},
		},
	})
	publishKiB := func(count int) {
		for i := 0; i < count; i++ {
			publishHTTP(t, n.Base, `{"topic":"news","data":"`+strings.Repeat("x", 1024)+`"}`)
		}
	}
	publishKiB(30)
	p := newPage(t, n.Base+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.retries = [];
		window.h = new herald.Herald('/ws', { minDelay: 400, maxDelay: 60000 });
		h.on('state', (s, info) => { if (s === 'disconnected' && info.code === 4000) retries.push(info.retryIn); });
		h.subscribe('news', (m) => got.push(m.seq), { backlog: 30 });
		h.connect();
	})`)
	for closes := 1; closes <= 4; closes++ {
		p.wait(`retries.length >= ` + strconv.Itoa(closes))
		publishKiB(10) // more than the next resume reads
	}
	if got := p.value(`got.length > 0 && got.length < 70`); got != "true" {
		t.Fatalf("the client got %s messages, want some and not all: %s", p.value(`got.length`), p.value(`got.join()`))
	}
	t.Logf("reconnect delays after each 4000: %s ms; messages got: %s", p.value(`retries.join()`), p.value(`got.length`))
	// The fourth delay's ceiling is 8 times minDelay, at least half of it.
	if got := p.value(`retries[3] > 2 * 400`); got != "true" {
		t.Errorf("reconnect delays after four 4000s in a row: %s ms, want them growing past twice minDelay", p.value(`retries.join()`))
	}
	p.checkNoProblems()
}

// TestClientCatchesUpAfterFailuresWithoutTheirBackoff: a client that
// failed attempts in a row (here its token function failed, as a node
// down or a network gone would make it) and then resumes more than a
// resume reads gets it in pieces, each closed with 4000 (docs/protocol.md
// section 2). The failures' backoff is for a node that did not answer;
// this one answers, and each piece brings the client nearer: it comes
// back for the next one after minDelay, not after the delay the failures
// grew, while more piles up.
func TestClientCatchesUpAfterFailuresWithoutTheirBackoff(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{
		Engine: memory.New(memory.Config{HistorySize: 1000, HistoryTTL: time.Hour}),
		Node: node.Config{
			NodeID: "slow-consumer-node",
			Broker: broker.Config{MaxSubscriptions: 100, RateLimit: 1000, MaxResumeBytes: 4096},
			API:    api.Config{APIKeys: []string{"k1"}, Files: Handler()},
		},
	})
	for i := 0; i < 20; i++ {
		publishHTTP(t, n.Base, `{"topic":"news","data":"`+strings.Repeat("x", 1024)+`"}`)
	}
	p := newPage(t, n.Base+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.failed = []; window.slow = []; window.fails = 5;
		window.h = new herald.Herald('/ws', { minDelay: 50, maxDelay: 60000,
			token: () => { if (fails-- > 0) throw new Error('no token now'); return 'anonymous'; } });
		h.on('state', (s, info) => {
			if (s === 'disconnected') (info.code === 4000 ? slow : failed).push(info.retryIn);
		});
		h.subscribe('news', (m) => got.push(m.seq), { backlog: 20 });
		h.connect();
	})`)
	p.wait(`got.length === 20`)
	t.Logf("delays after the failures: %s ms; after the 4000s: %s ms", p.value(`failed.join()`), p.value(`slow.join()`))
	if got := p.value(`failed.length === 5 && failed[4] > 50 && slow.length > 1`); got != "true" {
		t.Fatalf("failures %s and 4000s %s: want 5 failures backing off past minDelay, then the resume in pieces",
			p.value(`failed.join()`), p.value(`slow.join()`))
	}
	if got := p.value(`slow.filter((ms) => ms > 50).join()`); got != "" {
		t.Errorf("delays over minDelay after 4000s that each brought the client nearer: %s ms", got)
	}
	p.checkNoProblems()
}
