package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runScenario parses args as the command line would and runs them with
// in-process workers.
func runScenario(t *testing.T, args ...string) *Report {
	t.Helper()
	var help bytes.Buffer
	cfg, err := ParseArgs(append(args, "--progress", "200ms", "--op-timeout", "5s"), &help)
	if err != nil {
		t.Fatalf("ParseArgs(%q): %v", args, err)
	}
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := Run(ctx, cfg, InProcessSpawner{}, &log)
	t.Logf("progress:\n%s", log.String())
	if r != nil {
		t.Logf("summary:\n%s", r.Human())
	}
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !strings.Contains(log.String(), "open=") {
		t.Errorf("no progress line printed")
	}
	if _, err := json.Marshal(r); err != nil {
		t.Errorf("report does not encode: %v", err)
	}
	return r
}

func TestFanoutDeliversEveryMessage(t *testing.T) {
	url := newFakeHub(t).serve()
	r := runScenario(t, "fanout", "--url", url, "--conns", "60", "--topics", "7",
		"--publishers", "3", "--duration", "400ms", "--drain", "5s", "--source-ips", "3",
		"--conns-per-worker", "25")
	if r.Workers != 3 {
		t.Errorf("workers = %d, want 3 for 60 connections at 25 a worker", r.Workers)
	}
	if r.Connected != 60 || r.ConnectErrors != 0 {
		t.Errorf("connected %d, failed %d; want 60, 0 (%v)", r.Connected, r.ConnectErrors, r.ErrorKinds)
	}
	if r.Published == 0 || r.Expected == 0 {
		t.Fatalf("published %d, expected %d: nothing was measured", r.Published, r.Expected)
	}
	if r.Delivered != r.Expected || r.Completeness != 1 || r.WorstTopic != 1 {
		t.Errorf("delivered %d of %d (completeness %v, worst topic %v)", r.Delivered, r.Expected, r.Completeness, r.WorstTopic)
	}
	if r.Gaps != 0 || r.Dups != 0 {
		t.Errorf("gaps %d, dups %d in a server that sends in order", r.Gaps, r.Dups)
	}
	if r.Latency.Count != r.Delivered {
		t.Errorf("latency counted %d deliveries of %d", r.Latency.Count, r.Delivered)
	}
}

func TestFanoutAtFixedRate(t *testing.T) {
	url := newFakeHub(t).serve()
	r := runScenario(t, "fanout", "--url", url, "--conns", "10", "--rate", "20",
		"--publishers", "2", "--duration", "1s")
	// 20 a second for one second is about 20 sends; a closed loop would
	// make thousands. The bounds are loose: the machine may be busy.
	if r.Published < 5 || r.Published > 60 {
		t.Errorf("published %d at 20/s for 1s", r.Published)
	}
	if r.Completeness != 1 {
		t.Errorf("completeness %v", r.Completeness)
	}
}

func TestFanoutCountsRefusedPublishes(t *testing.T) {
	url := newFakeHub(t).serve()
	r := runScenario(t, "fanout", "--url", url, "--conns", "2", "--topic-prefix", "forbidden.",
		"--publishers", "1", "--rate", "20", "--duration", "300ms", "--drain", "0s")
	if r.Published != 0 || r.PublishErrors == 0 || r.ErrorKinds["publish:http_403"] == 0 {
		t.Errorf("published %d, failed %d, kinds %v; want only 403s", r.Published, r.PublishErrors, r.ErrorKinds)
	}
}

func TestClusterSpreadsOverNodes(t *testing.T) {
	hub := newFakeHub(t)
	urls := hub.serve() + "," + hub.serve()
	r := runScenario(t, "cluster", "--urls", urls, "--conns", "40", "--topics", "4",
		"--publishers", "2", "--duration", "300ms")
	if r.Completeness != 1 || r.Delivered == 0 {
		t.Errorf("delivered %d of %d", r.Delivered, r.Expected)
	}
	if len(r.URLs) != 2 {
		t.Errorf("urls %v", r.URLs)
	}
	hub.mu.Lock()
	defer hub.mu.Unlock()
	if len(hub.byHost) != 4 {
		t.Errorf("connections and publishes by node %v, want both kinds on both", hub.byHost)
	}
}

// With --publish-urls the subscribers are all on one node and the
// publishers all post to the other; --redis counts this process's bytes
// from a listener that sends nothing, so 0 and no error.
func TestClusterSubscribersOnOneNodePublishersOnAnother(t *testing.T) {
	hub := newFakeHub(t)
	subNode, pubNode := hub.serve(), hub.serve()
	redis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer redis.Close()
	pid := strconv.Itoa(os.Getpid())
	r := runScenario(t, "cluster", "--urls", subNode, "--publish-urls", pubNode, "--conns", "20", "--topics", "4",
		"--publishers", "2", "--duration", "300ms", "--redis", redis.Addr().String(), "--server-pid", pid)
	if r.Completeness != 1 || r.Delivered == 0 {
		t.Errorf("delivered %d of %d", r.Delivered, r.Expected)
	}
	if len(r.PublishURLs) != 1 || r.PublishURLs[0] != pubNode {
		t.Errorf("publish urls %v, want %s", r.PublishURLs, pubNode)
	}
	if n, ok := r.RedisBytesIn[pid]; !ok || n != 0 || r.RedisBytesError != "" {
		t.Errorf("bytes from redis %v (error %q), want 0 for pid %s", r.RedisBytesIn, r.RedisBytesError, pid)
	}
	hub.mu.Lock()
	defer hub.mu.Unlock()
	subHost, pubHost := strings.TrimSuffix(strings.TrimPrefix(subNode, "ws://"), "/ws"), strings.TrimSuffix(strings.TrimPrefix(pubNode, "ws://"), "/ws")
	if len(hub.byHost) != 2 || hub.byHost["ws "+subHost] == 0 || hub.byHost["publish "+pubHost] == 0 {
		t.Errorf("connections and publishes by node %v, want subscriptions on %s only and publishes on %s only", hub.byHost, subHost, pubHost)
	}
}

func TestIdleHoldsAndChecksEveryConnection(t *testing.T) {
	hub := newFakeHub(t)
	url := hub.serve()
	pid := strconv.Itoa(os.Getpid())
	r := runScenario(t, "idle", "--url", url, "--conns", "30", "--topics", "3",
		"--hold", "300ms", "--conns-per-worker", "10", "--server-pid", pid)
	if r.Connected != 30 || r.Alive != 30 {
		t.Errorf("connected %d, alive %d; want 30, 30", r.Connected, r.Alive)
	}
	if r.PingsAnswered != 30 {
		t.Errorf("answered %d pings, want one on each of 30 connections", r.PingsAnswered)
	}
	if r.HeartbeatS != 25 {
		t.Errorf("heartbeat %d, want the welcome's 25", r.HeartbeatS)
	}
	if runtime.GOOS == "linux" && (r.ServerRSSBeforeKiB == 0 || r.ServerRSSSubscribedKiB == 0) {
		t.Errorf("RSS not read: %d, %d", r.ServerRSSBeforeKiB, r.ServerRSSSubscribedKiB)
	}
}

func TestIdleHoldDefaultsToTwoHeartbeats(t *testing.T) {
	hub := newFakeHub(t)
	hub.heartbeat = 0 // a hold of 0 s plus the 5 s margin
	r := runScenario(t, "idle", "--url", hub.serve(), "--conns", "3")
	if r.HoldS < 5 || r.HoldS > 6 {
		t.Errorf("held %vs, want 2×0 + 5", r.HoldS)
	}
}

func TestChurnCompletesCycles(t *testing.T) {
	url := newFakeHub(t).serve()
	r := runScenario(t, "churn", "--url", url, "--rate", "40", "--duration", "500ms",
		"--workers", "2", "--topics", "3")
	if r.Cycles < 10 || r.ConnectErrors != 0 || r.ReplyErrors != 0 {
		t.Errorf("cycles %d, connect errors %d, errors %d (%v)", r.Cycles, r.ConnectErrors, r.ReplyErrors, r.ErrorKinds)
	}
	if r.CycleLatency.Count != uint64(r.Cycles) {
		t.Errorf("cycle latency counted %d of %d", r.CycleLatency.Count, r.Cycles)
	}
}

func TestConnectFailuresAreCounted(t *testing.T) {
	hub := newFakeHub(t)
	url := hub.serve()
	url = strings.Replace(url, "/ws", "/nowhere", 1) // 404: no upgrade
	var help bytes.Buffer
	cfg, err := ParseArgs([]string{"idle", "--url", url, "--conns", "5", "--hold", "10ms", "--progress", "100ms"}, &help)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(context.Background(), cfg, InProcessSpawner{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "no connection") {
		t.Errorf("Run: %v, want no connection could be opened", err)
	}
	if r.ConnectErrors != 5 || r.ErrorKinds["connect:handshake"] != 5 {
		t.Errorf("connect errors %d, kinds %v; want 5 handshake failures", r.ConnectErrors, r.ErrorKinds)
	}
}

func TestRunStopsAtItsDeadline(t *testing.T) {
	// A listener that accepts and never answers: every handshake hangs.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	cfg, err := ParseArgs([]string{"fanout", "--url", "ws://" + ln.Addr().String() + "/ws", "--conns", "5",
		"--op-timeout", "1m", "--deadline", "2s", "--progress", "100ms"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r, err := Run(context.Background(), cfg, InProcessSpawner{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "--deadline of 2s") {
		t.Errorf("err %v, want the deadline named", err)
	}
	if r == nil || r.ConnectErrors != 5 || r.Published != 0 {
		t.Errorf("report %+v: want 5 connect errors and no publishing", r)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("a 2s run took %v", took)
	}
}
