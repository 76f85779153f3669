package e2e

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
)

// One address subscribing to and leaving new topics, with the webhooks
// on or presence topics, as fast as its command budget lets it has Redis
// run no more commands for each command its budget counts than a
// subscribe without them costs (7.5: BENCHMARKS.md, Hardening), with
// room: a subscribe that makes the node hold a topic counts the
// occupancy's work, and one that joins a topic's presence the
// presence's, where each counted as one command and had Redis run some
// 18 (new topics, webhooks on), 14 (new presence topics) and 25 (both)
// for each; a signed-in client's join of a presence topic with the
// webhooks on counts its member_added and member_removed too. What the
// node's webhook sender polls meanwhile is allowed for apart.
func TestSubscribesCountTheirRedisWork(t *testing.T) {
	const (
		burst      = 300
		perCommand = 10 // Redis commands a counted command may cost
		idleRate   = 150
	)
	for _, tc := range []struct {
		kind     string
		webhooks bool
		user     string // signed in as; "": anonymous
	}{{"new", true, ""}, {"room", true, ""}, {"room", false, ""}, {"room", true, "ada"}, {"room", false, "ada"}} {
		t.Run(fmt.Sprintf("%s,webhooks=%v,user=%q", tc.kind, tc.webhooks, tc.user), func(t *testing.T) {
			kind := tc.kind
			redis := redistest.Start(t)
			env := []string{"HERALD_REDIS_URL=" + redis.URL(), "HERALD_PRESENCE_TOPICS=room.*",
				"HERALD_RATE_LIMIT=100000", "HERALD_COMMAND_RATE_PER_IP=1", "HERALD_COMMAND_BURST_PER_IP=" + strconv.Itoa(burst)}
			backend, hook := startHookBackend(t, 0)
			if tc.webhooks {
				env = append(env, "HERALD_WEBHOOK_URL="+hook+"/webhook", "HERALD_WEBHOOK_VACATED_DELAY=100ms")
			}
			if tc.user != "" {
				env = append(env, "HERALD_JWT_SECRET="+presenceSecret)
			}
			n := startProcess(t, "a", env...)
			url := n.ws
			if tc.user != "" {
				url += "?token=" + userToken(t, tc.user)
			}
			c := dial(t, url)
			unsubscribes := redistest.CommandCalls(t, redis.Addr(), "unsubscribe")
			before, start := redistest.AllCommandCalls(t, redis.Addr()), time.Now()
			topics := 0
			for topics < 2*burst {
				topic := fmt.Sprintf("%s.%d", kind, topics)
				c.send(`{"type":"subscribe","id":"s","topic":%q}`, topic)
				if f := c.reply("s"); f.Type != "subscribed" {
					break // rate_limited
				}
				topics++
				if r := c.cmd("u", `{"type":"unsubscribe","id":"u","topic":%q}`, topic); r["type"] != "unsubscribed" {
					break // rate_limited: the close leaves it
				}
			}
			c.clientClose()
			eventually(t, "Redis unsubscribed from every topic", func() bool {
				return redistest.CommandCalls(t, redis.Addr(), "unsubscribe")-unsubscribes >= topics
			})
			if last := fmt.Sprintf("%s.%d", kind, topics-1); tc.webhooks {
				eventually(t, "the last topic's topic_vacated sent", func() bool { return sent(backend, "topic_vacated", last) })
			}
			spent := time.Since(start)
			calls := redistest.AllCommandCalls(t, redis.Addr()) - before
			// The last subscribe, and the close, may owe what the budget no
			// longer held: a few commands.
			counted := burst + int(spent.Seconds()) + 1 + 8
			idle := int(idleRate * spent.Seconds())
			t.Logf("%d topics subscribed and left in %v; Redis ran %d commands, %.1f a topic; the budget counts %d commands",
				topics, spent.Round(time.Millisecond), calls, float64(calls)/float64(max(topics, 1)), counted)
			if allowed := perCommand*counted + idle; calls > allowed {
				t.Errorf("Redis ran %d commands for one address's %d topics in %v, whose budget counts %d commands: want at most %d a command and %d a second for the node's polls, %d",
					calls, topics, spent.Round(time.Millisecond), counted, perCommand, idleRate, allowed)
			}
			if topics == 0 {
				t.Error("no subscribe went through")
			}
		})
	}
}

// sent reports whether backend took an event called name, of topic.
func sent(backend *hookBackend, name, topic string) bool {
	for _, e := range backend.taken() {
		if e["name"] == name && e["topic"] == topic {
			return true
		}
	}
	return false
}

// Subscribes a client sends together, as herald.js sends its own as it
// connects, count their work as those sent one at a time do: each is let
// through only if the budget holds its work too, where counted once set
// up, after the budget had let all of them through at one command each,
// what they counted past the one burst an address may owe was forgiven.
func TestSubscribesSentTogetherCountTheirWork(t *testing.T) {
	const burst, conns, each = 300, 10, 30
	for _, tc := range []struct {
		kind     string
		webhooks bool
		counts   int // a subscribe's commands of the budget
	}{{"room", false, 1 + 2}, {"new", true, 1 + 3}} {
		t.Run(fmt.Sprintf("%s,webhooks=%v", tc.kind, tc.webhooks), func(t *testing.T) {
			redis := redistest.Start(t)
			env := []string{"HERALD_REDIS_URL=" + redis.URL(), "HERALD_PRESENCE_TOPICS=room.*",
				"HERALD_COMMAND_RATE_PER_IP=1", "HERALD_COMMAND_BURST_PER_IP=" + strconv.Itoa(burst)}
			if tc.webhooks {
				_, hook := startHookBackend(t, 0)
				env = append(env, "HERALD_WEBHOOK_URL="+hook+"/webhook")
			}
			n := startProcess(t, "a", env...)
			clients := make([]*client, conns)
			for i := range clients {
				clients[i] = dial(t, n.ws)
			}
			start := time.Now()
			for i, c := range clients {
				for j := range each {
					c.send(`{"type":"subscribe","id":"s%d","topic":"%s.c%dt%d"}`, j, tc.kind, i, j)
				}
			}
			subscribed := subscribedOf(clients, each)
			// The rate adds one command a second to the burst.
			want := (burst + int(time.Since(start).Seconds()) + 1) / tc.counts
			t.Logf("%d of %d subscribes sent together went through; the budget holds %d", subscribed, conns*each, want)
			if subscribed > want+1 {
				t.Errorf("%d subscribes sent together went through on a burst of %d, which holds %d of %d commands each",
					subscribed, burst, want, tc.counts)
			}
			if subscribed < burst/tc.counts-1 {
				t.Errorf("%d subscribes sent together went through, fewer than the burst of %d holds at %d commands each",
					subscribed, burst, tc.counts)
			}
		})
	}
}

// SSE streams of one address opened together count their topics' work
// as they open, as subscribes sent together do: each is let through only
// if the budget holds its topics' work too, where counted once set up,
// after the budget had let every stream through at one command a topic,
// what they counted past the one burst an address may owe was forgiven.
// Redis's commands are counted too: the budget is to bound them.
func TestStreamsOpenedTogetherCountTheirWork(t *testing.T) {
	const burst, streams, each = 300, 20, 30
	const counts = 1 + 2 // a presence topic's commands of the budget
	redis := redistest.Start(t)
	n := startProcess(t, "a", "HERALD_REDIS_URL="+redis.URL(), "HERALD_PRESENCE_TOPICS=room.*",
		"HERALD_COMMAND_RATE_PER_IP=1", "HERALD_COMMAND_BURST_PER_IP="+strconv.Itoa(burst))
	urls := make([]string, streams)
	for i := range urls {
		q := make([]string, each)
		for j := range q {
			q[j] = fmt.Sprintf("topic=room.s%dt%d", i, j)
		}
		urls[i] = sseURL(n, strings.Join(q, "&"))
	}
	before, start := redistest.AllCommandCalls(t, redis.Addr()), time.Now()
	opened := make(chan bool, streams)
	for _, url := range urls {
		go func() {
			s, resp, body := sseOpen(t, url, http.Header{})
			if s == nil {
				if resp.StatusCode != http.StatusTooManyRequests {
					t.Errorf("/sse: %d %s, want 200 or 429", resp.StatusCode, body)
				}
				opened <- false
				return
			}
			ev := s.next()
			if ev.event != "subscribed" {
				t.Errorf("/sse: first event %q, want subscribed", ev.event)
			}
			opened <- ev.event == "subscribed"
		}()
	}
	topics := 0
	for range streams {
		if <-opened {
			topics += each
		}
	}
	calls := redistest.AllCommandCalls(t, redis.Addr()) - before
	spent := time.Since(start)
	// The rate adds one command a second to the burst.
	counted := burst + int(spent.Seconds()) + 1
	want := counted / counts
	t.Logf("%d of %d topics of streams opened together were streamed, Redis ran %d commands; the budget holds %d",
		topics, streams*each, calls, want)
	if topics > want {
		t.Errorf("%d topics of streams opened together were streamed on a burst of %d, which holds %d of %d commands each",
			topics, burst, want, counts)
	}
	// As TestSubscribesCountTheirRedisWork allows: 10 Redis commands a
	// counted command, and 150 a second for the node's own polls.
	if allowed := 10*counted + int(150*spent.Seconds()); calls > allowed {
		t.Errorf("Redis ran %d commands for one address's streams, whose budget counts %d commands: want at most %d",
			calls, counted, allowed)
	}
	if topics < burst/counts-each {
		t.Errorf("%d topics of streams opened together were streamed, fewer than the burst of %d holds in whole streams at %d commands each",
			topics, burst, counts)
	}
}

// Subscribes of the same new topics sent together from several
// connections, with the webhooks on, count the topics' occupancy once,
// as only the first of each makes the node hold it: counted as each
// came, before the node held the topic, ten connections sending
// subscribes of the same 20 new topics had 75 to 136 of their 200
// through on a burst of 300, which holds their 260 commands.
func TestSharedTopicsSentTogetherCountTheirOccupancyOnce(t *testing.T) {
	const burst, conns, each = 300, 10, 20
	redis := redistest.Start(t)
	_, hook := startHookBackend(t, 0)
	n := startProcess(t, "a", "HERALD_REDIS_URL="+redis.URL(), "HERALD_WEBHOOK_URL="+hook+"/webhook",
		"HERALD_COMMAND_RATE_PER_IP=1", "HERALD_COMMAND_BURST_PER_IP="+strconv.Itoa(burst))
	clients := make([]*client, conns)
	for i := range clients {
		clients[i] = dial(t, n.ws)
	}
	for _, c := range clients {
		for j := range each {
			c.send(`{"type":"subscribe","id":"s%d","topic":"news.t%d"}`, j, j)
		}
	}
	subscribed := subscribedOf(clients, each)
	t.Logf("%d of %d subscribes of %d shared new topics sent together went through", subscribed, conns*each, each)
	if subscribed != conns*each {
		t.Errorf("%d of %d subscribes of %d shared new topics sent together went through on a burst of %d, which holds their %d commands",
			subscribed, conns*each, each, burst, conns*each+each*3)
	}
}

// subscribedOf reads the answers to the each subscribes (ids s...) every
// client sent and returns how many subscribed. A refusal is answered as
// it comes, before the subscribes ahead of it: the answers come in any
// order.
func subscribedOf(clients []*client, each int) int {
	subscribed := 0
	for _, c := range clients {
		for answered := 0; answered < each; {
			if f := c.next(); strings.HasPrefix(f.ID, "s") {
				answered++
				if f.Type == "subscribed" {
					subscribed++
				}
			}
		}
	}
	return subscribed
}
