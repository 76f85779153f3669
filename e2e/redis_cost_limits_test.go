//go:build unix

package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// BenchmarkRedisCostAtLimits has one address, under the default limits
// (presence and webhooks on), make the Redis work the per-action figures
// of BenchmarkRedisCostPerAction found dearest as fast as those limits let
// it: subscribing to and leaving new presence topics, or resuming a topic
// of 100 messages (some 60 KB, under the 64 KiB a resume sends for one
// command) from its start and leaving it. 20 connections on each node
// each send one command every 10 ms (HERALD_RATE_LIMIT's 100 a second;
// together the 2,000 a second of HERALD_COMMAND_RATE_PER_IP on each
// node) for 10 s; it reports what Redis did a second. On a machine whose
// cores the nodes and Redis share, the commands the nodes got through are
// reported too: they may fall short of the limits.
func BenchmarkRedisCostAtLimits(b *testing.B) {
	for _, deploy := range []string{"cluster", "standalone"} {
		for _, attack := range []string{"new_presence_topics", "resumes"} {
			b.Run(deploy+"/"+attack, func(b *testing.B) { redisCostAtLimits(b, deploy, attack) })
		}
	}
}

func redisCostAtLimits(b *testing.B, deploy, attack string) {
	r := startCostRig(b, deploy, "presence+webhooks")
	prefix := strconv.FormatInt(time.Now().UnixNano()%1e6, 36)
	history := "hist." + prefix
	c := dial(b, r.a.ws)
	for range 100 {
		c.cmd("h", `{"type":"publish","id":"h","topic":%q,"data":{"pad":"%s"}}`, history, strings.Repeat("x", 400))
	}
	epoch := c.subscribe("e", history).Epoch
	c.clientClose()
	subscribe := func(k, i int) (topic, cmd string) {
		if attack == "resumes" {
			return history, fmt.Sprintf(`{"type":"subscribe","id":"c","topic":%q,"since":{"epoch":%q,"seq":0}}`, history, epoch)
		}
		topic = fmt.Sprintf("room.lim.%s.%d.%d", prefix, k, i)
		return topic, fmt.Sprintf(`{"type":"subscribe","id":"c","topic":%q}`, topic)
	}
	var conns []*client
	for k := range 40 {
		node := r.a
		if k%2 == 1 {
			node = r.b
		}
		conns = append(conns, dial(b, node.ws))
	}
	const run = 10 * time.Second
	before, start := r.sample(b), time.Now()
	type result struct {
		counts [2]int
		err    error
	}
	done := make(chan result, len(conns))
	for k, cc := range conns {
		go func() {
			counts, err := flipPaced(cc, func(i int) (string, string) { return subscribe(k, i) }, run)
			done <- result{counts, err}
		}()
	}
	var ok, refused int
	for range conns {
		got := <-done
		if got.err != nil {
			b.Fatal(got.err)
		}
		ok, refused = ok+got.counts[0], refused+got.counts[1]
	}
	secs := time.Since(start).Seconds()
	time.Sleep(2 * time.Second) // the vacatings after the last leaves
	d := r.sample(b).minus(before).minus(r.idle.times(time.Since(start).Seconds())).per(secs)
	b.ReportMetric(float64(ok)/secs, "answered/s")
	b.ReportMetric(float64(refused)/secs, "refused/s")
	b.ReportMetric(d.calls, "redis-cmds/s")
	b.ReportMetric(d.cpuUsec/1e4, "redis-cpu-%")
	b.Logf("%.0f commands answered and %.0f refused a second; Redis a second: %s", float64(ok)/secs, float64(refused)/secs, d)
}

// flipPaced subscribes cc to what subscribe gives for each i (a topic and
// the command) and leaves it, one command every 10 ms, for run, and counts the commands answered and
// those refused rate_limited. It waits for each answer before the next
// command, so it never has more than one unanswered. A refused subscribe
// is not left: its unsubscribe would be answered not_subscribed, and ten
// such errors in a row close the connection (4003).
func flipPaced(cc *client, subscribe func(i int) (topic, cmd string), run time.Duration) ([2]int, error) {
	var counts [2]int
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	end := time.Now().Add(run)
	for i := 0; time.Now().Before(end); i++ {
		<-tick.C
		topic, cmd := subscribe(i / 2)
		if i%2 == 1 {
			cmd = fmt.Sprintf(`{"type":"unsubscribe","id":"c","topic":%q}`, topic)
		}
		if err := writeFrame(cc.conn, ws.OpText, []byte(cmd)); err != nil {
			return counts, fmt.Errorf("%s: %w", topic, err)
		}
		for answered := false; !answered; {
			select {
			case f, open := <-cc.frames:
				if !open {
					return counts, fmt.Errorf("%s: the connection ended", topic)
				}
				if answered = f.ID == "c"; answered && f.Code == "rate_limited" {
					counts[1]++
					if i%2 == 0 {
						i++ // nothing to leave: on to the next subscribe
					}
				} else if answered {
					counts[0]++
				}
			case <-time.After(wait):
				return counts, fmt.Errorf("%s: no answer in %s", topic, wait)
			}
		}
	}
	return counts, nil
}
