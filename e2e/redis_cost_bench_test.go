//go:build unix

package e2e

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkRedisCostPerAction measures the Redis work each kind of request
// of one anonymous client makes two herald processes do, on a Redis
// Cluster of three masters with a replica each and on one Redis: the
// commands the masters ran (INFO commandstats, commands inside scripts
// counted as well as the script) and their CPU (INFO cpu) per action, less
// what the idle nodes cost over the same time. The nodes' rate limits are
// lifted so that one client can repeat an action quickly; the per-second
// figures at the default limits are these times the rates those limits
// allow. Run with -benchtime 300x.
func BenchmarkRedisCostPerAction(b *testing.B) {
	for _, deploy := range []string{"cluster", "standalone"} {
		for _, cfg := range []string{"defaults", "presence+webhooks"} {
			b.Run(deploy+"/"+cfg, func(b *testing.B) { redisCostRun(b, deploy, cfg) })
		}
	}
}

func redisCostRun(b *testing.B, deploy, cfg string) {
	r := startCostRig(b, deploy, cfg, "HERALD_RATE_LIMIT=100000",
		"HERALD_COMMAND_RATE_PER_IP=1000000", "HERALD_CONNECT_RATE_PER_IP=100000")
	prefix := strconv.FormatInt(time.Now().UnixNano()%1e6, 36)
	c := dial(b, r.a.ws)
	// history to resume from (100 messages of some 100 bytes, and 100 of
	// some 600: just under the 64 KiB a resume sends for one command), and
	// a topic with 200 present sessions
	for i := range 100 {
		c.cmd("h", `{"type":"publish","id":"h","topic":"hist.%s","data":{"n":%d,"pad":"%s"}}`, prefix, i, strings.Repeat("x", 100))
		c.cmd("h", `{"type":"publish","id":"h","topic":"histbig.%s","data":{"n":%d,"pad":"%s"}}`, prefix, i, strings.Repeat("x", 600))
	}
	if cfg != "defaults" {
		for range 200 {
			dial(b, r.b.ws).subscribe("p", "room.big."+prefix)
		}
	}
	n := 0
	next := func() int { n++; return n }
	r.measure(b, "publish (legitimate, for comparison)", func(i int) {
		c.cmd("p", `{"type":"publish","id":"p","topic":"pub.%d","data":{"text":"hi"}}`, i%100)
	})
	r.measure(b, "connect and close", func(int) { dial(b, r.a.ws).clientClose() })
	r.measure(b, "subscribe+unsubscribe new exact topic", func(int) {
		topic := fmt.Sprintf("x.%s.%d", prefix, next())
		c.subscribe("s", topic)
		c.cmd("u", `{"type":"unsubscribe","id":"u","topic":%q}`, topic)
	})
	r.measure(b, "subscribe+unsubscribe new pattern", func(int) {
		topic := fmt.Sprintf("p.%s.%d.*", prefix, next())
		c.subscribe("s", topic)
		c.cmd("u", `{"type":"unsubscribe","id":"u","topic":%q}`, topic)
	})
	for _, hist := range []string{"hist", "histbig"} {
		topic := hist + "." + prefix
		epoch := c.subscribe("e", topic).Epoch // a resume from another epoch would read none
		c.cmd("u", `{"type":"unsubscribe","id":"u","topic":%q}`, topic)
		r.measure(b, "subscribe since seq 0 ("+hist+", 100 messages)+unsubscribe", func(int) {
			c.send(`{"type":"subscribe","id":"s","topic":%q,"since":{"epoch":%q,"seq":0}}`, topic, epoch)
			c.reply("s")
			c.cmd("u", `{"type":"unsubscribe","id":"u","topic":%q}`, topic)
		})
	}
	r.measure(b, "/sse with 32 new topics, closed", func(int) {
		r.sse(b, "t", prefix, next())
	})
	r.measure(b, "/sse with 32 new patterns, closed", func(int) {
		r.sse(b, "p", prefix, next())
	})
	r.measure(b, "connect, 32 new topics, close", func(int) {
		cc := dial(b, r.a.ws)
		for j := range 32 {
			topic := fmt.Sprintf("k.%s.%d.%d", prefix, next(), j)
			if cfg != "defaults" {
				topic = "room." + topic
			}
			cc.send(`{"type":"subscribe","id":"%d","topic":%q}`, j, topic)
		}
		for j := range 32 {
			cc.reply(strconv.Itoa(j))
		}
		cc.clientClose()
	})
	r.measure(b, "subscribe to a topic held", func(int) { c.subscribe("s", "hist."+prefix) })
	r.measure(b, "unsubscribe from a topic not held, then ping", func(i int) {
		c.cmd("u", `{"type":"unsubscribe","id":"u","topic":"none.%d"}`, i)
		c.cmd("g", `{"type":"ping","id":"g"}`) // ten errors in a row would close c
	})
	held := dial(b, r.b.ws)
	held.subscribe("w", ">")
	time.Sleep(2 * time.Second) // the lease seen by both nodes
	r.measure(b, "publish while another client holds >", func(i int) {
		c.cmd("p", `{"type":"publish","id":"p","topic":"pub.%d","data":{"text":"hi"}}`, i%100)
	})
	held.clientClose()
	r.holding(b, cfg, prefix)
	if cfg == "defaults" {
		return
	}
	r.measure(b, "subscribe+unsubscribe new presence topic, presence:true", func(int) {
		topic := fmt.Sprintf("room.%s.%d", prefix, next())
		c.send(`{"type":"subscribe","id":"s","topic":%q,"presence":true}`, topic)
		c.reply("s")
		c.cmd("u", `{"type":"unsubscribe","id":"u","topic":%q}`, topic)
	})
	r.measure(b, "presence of a topic with 200 sessions", func(int) {
		c.cmd("q", `{"type":"presence","id":"q","topic":"room.big.%s"}`, prefix)
	})
	r.measure(b, "presence of a topic nobody holds", func(i int) {
		c.cmd("q", `{"type":"presence","id":"q","topic":"room.none.%s.%d"}`, prefix, i)
	})
}

// holding measures what topics held, with no command sent, cost Redis
// each second: 2,000 of them (in presence topics, when presence is on)
// over two connections.
func (r *costRig) holding(b *testing.B, cfg, prefix string) {
	b.Run("holding_2000_topics,_a_second_per_topic", func(b *testing.B) {
		const conns, topics = 2, 1000
		for k := range conns {
			cc := dial(b, r.a.ws)
			for j := range topics {
				topic := fmt.Sprintf("held.%s.%d.%d", prefix, k, j)
				if cfg != "defaults" {
					topic = "room." + topic
				}
				cc.send(`{"type":"subscribe","id":"%d","topic":%q}`, j, topic)
				if j%100 == 99 { // wait for the last of each hundred
					for cc.next().ID != strconv.Itoa(j) {
					}
				}
			}
		}
		time.Sleep(6 * time.Second) // past the keepers' first round
		before, start := r.sample(b), time.Now()
		time.Sleep(12 * time.Second)
		secs := time.Since(start).Seconds()
		d := r.sample(b).minus(before).minus(r.idle.times(secs)).per(secs * conns * topics)
		b.ReportMetric(d.calls, "redis-cmds/topic/s")
		b.ReportMetric(d.cpuUsec, "redis-cpu-µs/topic/s")
		b.Logf("holding, per topic and second: %s", d)
	})
}

// sse opens and closes one stream of 32 new topics (kind "t") or patterns.
func (r *costRig) sse(b *testing.B, kind, prefix string, n int) {
	q := make([]string, 32)
	for j := range q {
		topic := fmt.Sprintf("sse.%s.%s.%d.%d", kind, prefix, n, j)
		if kind == "p" {
			topic += ".*"
		}
		q[j] = "topic=" + topic
	}
	s, resp, body := sseOpen(b, r.a.base+"/sse?"+strings.Join(q, "&"), http.Header{})
	if s == nil {
		b.Fatalf("/sse: %d %s", resp.StatusCode, body)
	}
	if ev := s.next(); ev.event != "subscribed" {
		b.Fatalf("/sse: first event %q", ev.event)
	}
	s.cancel()
	s.resp.Body.Close()
}

// measure runs action b.N times and reports what the masters did for it,
// after a settle long enough for the work it leaves behind (unsubscribes
// sent later, webhook vacatings) to be done.
func (r *costRig) measure(b *testing.B, name string, action func(i int)) {
	b.Run(strings.ReplaceAll(name, " ", "_"), func(b *testing.B) {
		time.Sleep(time.Second)
		before, start := r.sample(b), time.Now()
		b.ResetTimer()
		for i := range b.N {
			action(i)
		}
		b.StopTimer()
		time.Sleep(2 * time.Second)
		d := r.sample(b).minus(before).minus(r.idle.times(time.Since(start).Seconds())).per(float64(b.N))
		b.ReportMetric(d.calls, "redis-cmds/op")
		b.ReportMetric(d.cpuUsec, "redis-cpu-µs/op")
		b.ReportMetric(float64(d.mastersHit), "masters")
		b.ReportMetric(d.bus, "bus-msgs/op")
		b.Logf("%s, per op: %s", name, d)
	})
}
