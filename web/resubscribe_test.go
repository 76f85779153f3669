package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// resubscribeRounds is how many times the page subscribes to the topic
// again in TestClientResubscribedAtOnceStartsAtItsReply.
const resubscribeRounds = 12

// flowAhead is how many messages publishFlow keeps in flight past what the
// page took: enough that an unsubscribe always has some of the old
// subscription's on their way.
const flowAhead = 100

// A page that unsubscribes from a topic and subscribes to it again at once,
// while a backend publishes to it fast, gets in the new subscription's
// handler what follows the new subscribe's reply, all of it, and nothing
// before it. The messages the node sent for the old subscription before it
// took the unsubscribe come before that reply, to a subscription that has
// not yet begun: none is the new one's (it starts after the reply's seq,
// docs/protocol.md section 2).
func TestClientResubscribedAtOnceStartsAtItsReply(t *testing.T) {
	t.Parallel()
	base := startNode(t)
	p := newPage(t, base+"/", `document.readyState === 'complete'`)
	p.run(`import('/herald.js').then((herald) => {
		window.rounds = [];
		window.taken = 0; // the last seq the page took: a handler's, or a reply's
		window.h = new herald.Herald('/ws', { minDelay: 50, maxDelay: 200, pingInterval: 0 });
		// Each round's subscription, three messages past its reply, is
		// dropped and made again in one task, as a page switching away and
		// back does.
		window.subscribeRound = () => {
			const round = { start: null, seqs: [] };
			rounds.push(round);
			const sub = h.subscribe('flow', (m) => {
				round.seqs.push(m.seq);
				taken = Math.max(taken, m.seq);
				if (round.start === null || m.seq !== round.start + 3 || rounds.length >= ` + strconv.Itoa(resubscribeRounds) + `) return;
				setTimeout(() => { void sub.unsubscribe(); subscribeRound(); });
			});
			sub.ready.then((reply) => { round.start = reply.seq; taken = Math.max(taken, reply.seq); });
		};
		subscribeRound();
		h.connect();
	})`)

	ctx, stop := context.WithCancel(testContext(t))
	published := make(chan error, 1)
	taken := func() (int, error) {
		return chromedp.Run(p.ctx, chromedp.Evaluate[int](`taken`))
	}
	go func() { published <- publishFlow(ctx, base, taken) }()
	p.wait(`rounds.length === ` + strconv.Itoa(resubscribeRounds) + ` && rounds.at(-1).start !== null`)
	stop()
	if err := <-published; err != nil {
		t.Fatalf("publishing: %v", err)
	}
	// The publisher may have stopped before anything followed the last
	// round's reply: the topic's last seq is then that reply's, which the
	// round never gets. One message published now, after the reply, is
	// the last round's.
	publishHTTP(t, base, `{"topic":"flow","data":1}`)
	last := lastSeq(t, base, "flow")
	p.wait(`rounds.at(-1).seqs.includes(` + strconv.Itoa(last) + `)`)

	var rounds []struct {
		Start *int
		Seqs  []int
	}
	if err := json.Unmarshal([]byte(p.value(`JSON.stringify(rounds)`)), &rounds); err != nil {
		t.Fatal(err)
	}
	early := 0
	for i, r := range rounds {
		if r.Start == nil {
			t.Fatalf("round %d: no reply: %+v", i, r)
		}
		var before []int
		for _, seq := range r.Seqs {
			if seq <= *r.Start {
				before = append(before, seq)
			}
		}
		early += len(before)
		if len(before) > 0 {
			t.Errorf("round %d: the handler got %d seqs at or before its reply's seq %d, %d to %d",
				i, len(before), *r.Start, before[0], before[len(before)-1])
		}
		// Each round but the last gets what came until its unsubscribe, at
		// least three messages; the last gets the rest.
		end := *r.Start + 3
		if i == len(rounds)-1 {
			end = last
		} else if n := len(r.Seqs); n > 0 && r.Seqs[n-1] > end {
			end = r.Seqs[n-1]
		}
		if got, want := fmt.Sprint(r.Seqs[len(before):]), fmt.Sprint(seqsFrom(*r.Start+1, end)); got != want {
			t.Errorf("round %d: after its reply's seq %d the handler got %s, want %s", i, *r.Start, got, want)
		}
	}
	t.Logf("%d rounds; %d messages published; %d seqs before a reply reached a handler", len(rounds), last, early)
	p.checkNoProblems()
}

// When the node kept the topic's subscription as the page subscribed to it
// again at once (the unsubscribe refused for now), what it sent of the
// topic ahead of the new subscribe's reply goes on past the reply's seq,
// and is not sent again: that part comes after the reply, gaps trimmed to
// it; the part at or before the reply's seq is older than the new
// subscription's start and does not come.
func TestClientResubscribedAtOnceTakesWhatFollowsItsReplyAheadOfIt(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startClient(t, f, subscribeWithGaps, "{}")
	p.run(`window.first = sub('chat.lobby')`)
	c := f.acceptSubscribed(ctx, "e1", 2)
	c.send(epochMessage("chat.lobby", "e1", 3))
	p.wait(`got.join() === '3'`)

	p.run(`void first.unsubscribe(); got = []; sub('chat.lobby')`)
	unsubscribe, again := c.expect(ctx, "unsubscribe"), c.expect(ctx, "subscribe")
	c.send(map[string]any{"type": "error", "id": unsubscribe["id"], "code": "rate_limited", "message": "slow down"})
	c.send(epochMessage("chat.lobby", "e1", 4))
	c.send(gap("chat.lobby", "e1", 5, 6))
	c.send(epochMessage("chat.lobby", "e1", 7))
	c.send(subscribed(again, "e1", 5))
	c.send(epochMessage("chat.lobby", "e1", 8))
	p.wait(`got.at(-1) === 8`)
	if got := p.value(`got.join()`); got != "7,8" {
		t.Errorf("the new subscription got %s, want 7,8: what follows its reply's seq 5", got)
	}
	want := gapInfo{Type: "gap", Topic: "chat.lobby", Epoch: "e1", From: 6, To: 6}
	if got := gapsOf(t, p, "chat.lobby"); len(got) != 1 || got[0] != want {
		t.Errorf("onGap got %+v, want only %+v: the gap past the reply's seq", got, want)
	}
	p.checkNoProblems()
}

// publishFlow publishes to topic flow of the node at base, ten messages a
// batch, until ctx ends or it has sent 10000 batches, keeping at most
// flowAhead messages past the last seq the page took (taken): published
// back to back, they outran a page on a busy machine by thousands, and
// the page's rounds waited on messages behind the last batch. A batch
// sent is finished, not cancelled, when ctx ends: cancelled, the node
// went on publishing it until it saw the request gone, after the test
// had read the topic's last seq.
func publishFlow(ctx context.Context, base string, taken func() (int, error)) error {
	body := `{"messages":[` + strings.Repeat(`{"topic":"flow","data":1},`, 9) + `{"topic":"flow","data":1}]}`
	for batch := 0; batch < 10000; batch++ {
		for {
			seq, err := taken()
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				return fmt.Errorf("reading what the page took: %w", err)
			}
			if batch*10-seq <= flowAhead {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		sent, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		req, err := http.NewRequestWithContext(sent, http.MethodPost, base+"/api/batch", strings.NewReader(body))
		if err != nil {
			cancel()
			return err
		}
		req.Header.Set("Authorization", "Bearer k1")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			return fmt.Errorf("batch %d: %w", batch, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		cancel()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("batch %d: status %d", batch, res.StatusCode)
		}
	}
	return nil
}

// lastSeq reads the seq of topic's last message from the node at base.
func lastSeq(t *testing.T, base, topic string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/api/history?limit=1&topic="+topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer k1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("reading %s's history: %v", topic, err)
	}
	defer res.Body.Close()
	var history struct{ Seq int }
	if err := json.NewDecoder(res.Body).Decode(&history); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("reading %s's history: status %d, %v", topic, res.StatusCode, err)
	}
	return history.Seq
}

// seqsFrom is from, from+1, ..., to.
func seqsFrom(from, to int) []int {
	var seqs []int
	for seq := from; seq <= to; seq++ {
		seqs = append(seqs, seq)
	}
	return seqs
}

// TestClientResumingBesideATokensSubTakesWhatItSent: after a reconnect the
// node makes the token's subs before it reads the page's resumes, so of a
// topic the page took from them it sends messages ahead of the resume's
// reply. That reply sends nothing again (docs/protocol.md section 2: the
// connection has the topic) and, messages having been published while the
// page was away, says recovered:false: what came ahead of it reaches the
// page without waiting for the topic's next message.
func TestClientResumingBesideATokensSubTakesWhatItSent(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startClient(t, f, "", "{}", "user:42.notices")
	c := f.acceptSubscribed(ctx, "e1", 3)
	c.send(epochMessage("user:42.notices", "e1", 4))
	p.wait(`got.join() === '4'`)

	c.drop()
	c = f.accept(ctx)
	c.welcome()
	c.send(map[string]any{"type": "subscribed", "topic": "user:42.notices", "epoch": "e1", "seq": 6, "server": true})
	c.send(epochMessage("user:42.notices", "e1", 7))
	resume := c.expect(ctx, "subscribe")
	if since, _ := resume["since"].(map[string]any); since["seq"] != float64(4) {
		t.Fatalf("resume %v, want one since seq 4", resume)
	}
	c.send(subscribed(resume, "e1", 7, false))
	p.wait(`lost.length === 1`)
	if got := p.value(`got.join()`); got != "4,7" {
		t.Errorf("the page got %s, want 4,7: what the node sent ahead of the reply", got)
	}
	p.checkNoProblems()
}
