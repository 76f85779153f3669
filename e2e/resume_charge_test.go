package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/internal/redistest"
)

// One address resuming a topic's 100 messages over and over, as its
// command budget lets it, has Redis read no more than 16 messages for
// each command the budget counts: a resume of 100 messages, some 60 KB,
// counts 7 commands, not the one its bytes alone count, because reading
// them costs Redis some ten times what a command to subscribe costs it.
// Redis reads history one message in the first XRANGE, then 16 an
// XRANGE (8 for 100 messages), counted in INFO commandstats.
func TestResumesCountTheMessagesRedisReads(t *testing.T) {
	redis := redistest.Start(t)
	admin := goredis.NewClient(&goredis.Options{Addr: redis.Addr()})
	t.Cleanup(func() { admin.Close() })
	const burst = 64
	n := startProcess(t, "a", "HERALD_REDIS_URL="+redis.URL(),
		"HERALD_COMMAND_RATE_PER_IP=1", "HERALD_COMMAND_BURST_PER_IP="+strconv.Itoa(burst))
	pad := strings.Repeat("x", 400)
	const messages = 100
	for i := range messages {
		if code, reply := post(t, &n.node, "/api/publish", fmt.Sprintf(`{"topic":"hist","data":{"n":%d,"pad":%q}}`, i, pad)); code != 200 {
			t.Fatalf("publish %d: %d %v", i, code, reply)
		}
	}
	c := dial(t, n.ws)
	epoch := c.subscribe("e", "hist").Epoch
	c.cmd("u", `{"type":"unsubscribe","id":"u","topic":"hist"}`)

	before, start := xrangeCalls(t, admin), time.Now()
	resumes := 0
	// held: the last resume's unsubscribe was refused; got is how much of
	// the resume's history came, which must come whole and in order, all
	// of it before an accepted unsubscribe's reply.
	held, got := false, uint64(0)
	inOrder := func(f frame) {
		if f.Type != "message" || f.Seq != got+1 {
			t.Fatalf("resume %d's history, after seq %d: got %s", resumes, got, f.text)
		}
		got++
	}
	for resumes < 200 {
		c.send(`{"type":"subscribe","id":"s","topic":"hist","since":{"epoch":%q,"seq":0}}`, epoch)
		// Every resume before this one was unsubscribed after its whole
		// history: nothing may come between that and this reply.
		f, stray := c.replyAfter("s")
		if len(stray) != 0 {
			t.Fatalf("%d messages after an accepted unsubscribe, the first %s", len(stray), stray[0].text)
		}
		if f.Type != "subscribed" {
			break // rate_limited: nothing subscribed
		}
		resumes++
		got = 0
		c.send(`{"type":"unsubscribe","id":"u","topic":"hist"}`)
		f, msgs := c.replyAfter("u")
		for _, m := range msgs {
			inOrder(m)
		}
		if f.Type != "unsubscribed" {
			held = true // rate_limited, as it is when the resume's charge is owed
			break
		}
		if got != messages {
			t.Fatalf("resume %d sent %d messages before its unsubscribe was answered, want %d", resumes, got, messages)
		}
	}
	// A subscription whose unsubscribe was refused stays, and gets its whole
	// history: the refusal, answered as the command comes, can be sent
	// while the resume's messages still go out, before the last of them.
	for held && got < messages {
		inOrder(c.next())
	}
	c.quiet("a message past the last resume's history")
	read := xrangeCalls(t, admin) - before
	// A resume and its unsubscribe count 8 commands: the budget's burst and
	// what it gained meanwhile pay for that many, and one more resume may
	// take its last command and owe the rest.
	allowed := (burst+int(time.Since(start).Seconds())+1)/8 + 1
	t.Logf("%d resumes, %d XRANGE calls; the last one's unsubscribe refused: %v", resumes, read, held)
	if resumes > allowed || read > 8*allowed {
		t.Errorf("%d resumes of %d messages, %d XRANGE calls in Redis, from a budget of %d commands: want at most %d resumes and %d calls",
			resumes, messages, read, burst, allowed, 8*allowed)
	}
	if resumes == 0 {
		t.Error("no resume went through")
	}
}

// xrangeCalls is how many XRANGE calls the Redis of admin ran, those of
// scripts included.
func xrangeCalls(t *testing.T, admin *goredis.Client) int {
	t.Helper()
	return redistest.CommandCalls(t, admin.Options().Addr, "xrange")
}
