//go:build unix

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/internal/redistest"
)

// costRig is two nodes on one Redis deployment and the masters to count on.
type costRig struct {
	a, b    *process
	masters []*goredis.Client
	all     []*goredis.Client // replicas too: the cluster bus reaches them
	idle    costSample        // per second, measured before the actions
}

// startCostRig starts deploy, two nodes on it with cfg's settings and
// limits, and measures what they cost Redis idle.
func startCostRig(b *testing.B, deploy, cfg string, limits ...string) *costRig {
	var url string
	var addrs []string
	if deploy == "cluster" {
		c := redistest.StartCluster(b, 3, 1)
		url, addrs = c.URL(), c.Addrs()
	} else {
		s := redistest.Start(b)
		url, addrs = s.URL(), []string{s.Addr()}
	}
	env := append([]string{"HERALD_REDIS_URL=" + url, "HERALD_LOG_LEVEL=warn"}, limits...)
	if cfg != "defaults" {
		_, hook := startHookBackend(b, 0)
		env = append(env, "HERALD_PRESENCE_TOPICS=room.>", "HERALD_WEBHOOK_URL="+hook+"/webhook",
			"HERALD_WEBHOOK_VACATED_DELAY=100ms")
	}
	r := &costRig{a: startProcess(b, "a", env...), b: startProcess(b, "b", env...)}
	for _, addr := range addrs {
		rdb := goredis.NewClient(&goredis.Options{Addr: addr})
		b.Cleanup(func() { rdb.Close() })
		role, err := rdb.Do(context.Background(), "ROLE").Slice()
		if err != nil {
			b.Fatal(err)
		}
		r.all = append(r.all, rdb)
		if role[0] == "master" {
			r.masters = append(r.masters, rdb)
		}
	}
	time.Sleep(3 * time.Second) // the nodes' start-up work done
	before, start := r.sample(b), time.Now()
	time.Sleep(5 * time.Second)
	r.idle = r.sample(b).minus(before).per(time.Since(start).Seconds())
	b.Logf("idle, a second: %s", r.idle)
	return r
}

// costSample is what the masters counted: commands by name, their CPU.
type costSample struct {
	calls      float64
	bus        float64 // cluster-bus publish messages every node received
	cpuUsec    float64
	byCommand  map[string]float64
	byMaster   []float64
	mastersHit int
}

func (r *costRig) sample(b *testing.B) costSample {
	s := costSample{byCommand: map[string]float64{}}
	for _, m := range r.masters {
		text, err := m.Info(context.Background(), "commandstats", "cpu").Result()
		if err != nil {
			b.Fatal(err)
		}
		var mine float64
		for line := range strings.SplitSeq(text, "\r\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			switch {
			case strings.HasPrefix(k, "cmdstat_"):
				calls, _, _ := strings.Cut(strings.TrimPrefix(v, "calls="), ",")
				n, _ := strconv.ParseFloat(calls, 64)
				name := strings.TrimPrefix(k, "cmdstat_")
				if name == "info" || name == "role" {
					continue // the measuring's own
				}
				s.byCommand[name] += n
				s.calls += n
				mine += n
			case k == "used_cpu_sys" || k == "used_cpu_user":
				f, _ := strconv.ParseFloat(v, 64)
				s.cpuUsec += f * 1e6
			}
		}
		s.byMaster = append(s.byMaster, mine)
	}
	for _, n := range r.all {
		text, err := n.ClusterInfo(context.Background()).Result()
		if err != nil {
			if strings.Contains(err.Error(), "cluster support disabled") {
				break // standalone
			}
			b.Fatal(err)
		}
		for line := range strings.SplitSeq(text, "\r\n") {
			k, v, _ := strings.Cut(line, ":")
			if k == "cluster_stats_messages_publish_received" || k == "cluster_stats_messages_publishshard_received" {
				f, _ := strconv.ParseFloat(v, 64)
				s.bus += f
			}
		}
	}
	return s
}

func (s costSample) minus(o costSample) costSample {
	d := costSample{calls: s.calls - o.calls, bus: s.bus - o.bus, cpuUsec: s.cpuUsec - o.cpuUsec, byCommand: map[string]float64{}}
	for k, v := range s.byCommand {
		d.byCommand[k] = v - o.byCommand[k]
	}
	for i, v := range s.byMaster {
		var ov float64
		if i < len(o.byMaster) {
			ov = o.byMaster[i]
		}
		d.byMaster = append(d.byMaster, v-ov)
	}
	return d
}

func (s costSample) times(f float64) costSample {
	d := costSample{calls: s.calls * f, bus: s.bus * f, cpuUsec: s.cpuUsec * f, byCommand: map[string]float64{}}
	for k, v := range s.byCommand {
		d.byCommand[k] = v * f
	}
	for _, v := range s.byMaster {
		d.byMaster = append(d.byMaster, v*f)
	}
	return d
}

func (s costSample) per(n float64) costSample {
	d := s.times(1 / n)
	for _, v := range d.byMaster {
		if v >= 0.5 {
			d.mastersHit++
		}
	}
	return d
}

func (s costSample) String() string {
	names := make([]string, 0, len(s.byCommand))
	for k, v := range s.byCommand {
		if v >= 0.05 || v <= -0.05 {
			names = append(names, k)
		}
	}
	slices.SortFunc(names, func(x, y string) int { return int(1000 * (s.byCommand[y] - s.byCommand[x])) })
	var sb strings.Builder
	fmt.Fprintf(&sb, "%.1f commands, %.0f µs CPU, %.1f bus messages; by master", s.calls, s.cpuUsec, s.bus)
	for _, v := range s.byMaster {
		fmt.Fprintf(&sb, " %.1f", v)
	}
	sb.WriteString(";")
	for _, k := range names {
		fmt.Fprintf(&sb, " %s %.2f", k, s.byCommand[k])
	}
	return sb.String()
}
