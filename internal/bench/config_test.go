package bench

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

func TestParseArgsDefaults(t *testing.T) {
	cfg, err := ParseArgs([]string{"fanout"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Conns != 1000 || cfg.Topics != 1 || cfg.Publishers != 4 || cfg.Duration != 10*time.Second {
		t.Errorf("defaults %+v", cfg)
	}
	if len(cfg.Targets) != 1 || cfg.Targets[0].HostPort != "127.0.0.1:8080" || cfg.Targets[0].Path != "/ws" {
		t.Errorf("default target %+v", cfg.Targets)
	}
	if cfg.Deadline < cfg.Duration+cfg.Drain {
		t.Errorf("deadline %v shorter than the run", cfg.Deadline)
	}
}

func TestParseArgsReadsEveryKind(t *testing.T) {
	cfg, err := ParseArgs([]string{"cluster", "--urls", "ws://127.0.0.1:1/ws, ws://localhost:2/ws?x=1",
		"--server-pid", "10,20", "--api-key", "k", "--token", "jwt", "--rate", "2", "--deadline", "1m"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Targets) != 2 || cfg.Targets[1].HostPort != "127.0.0.1:2" || cfg.Targets[1].Path != "/ws?x=1" {
		t.Errorf("targets %+v", cfg.Targets)
	}
	if cfg.Targets[0].Token != "jwt" || cfg.APIKey != "k" || cfg.Rate != 2 || cfg.Deadline != time.Minute {
		t.Errorf("config %+v", cfg)
	}
	if len(cfg.ServerPIDs) != 2 || cfg.ServerPIDs[1] != 20 {
		t.Errorf("pids %v", cfg.ServerPIDs)
	}
}

// --publish-urls splits the nodes: subscribers on --urls, publishers on
// --publish-urls; without it the publishers use the --urls nodes.
func TestParseArgsPublishURLs(t *testing.T) {
	cfg, err := ParseArgs([]string{"cluster", "--urls", "ws://127.0.0.1:1/ws", "--publish-urls", "ws://localhost:2/ws, ws://127.0.0.1:3/ws",
		"--redis", "localhost:6379", "--server-pid", "10,20"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Targets) != 1 || cfg.Targets[0].HostPort != "127.0.0.1:1" {
		t.Errorf("subscribers' targets %+v", cfg.Targets)
	}
	if len(cfg.PublishTargets) != 2 || cfg.PublishTargets[0].HostPort != "127.0.0.1:2" || cfg.PublishTargets[1].HostPort != "127.0.0.1:3" {
		t.Errorf("publishers' targets %+v", cfg.PublishTargets)
	}
	if cfg.RedisAddr != "127.0.0.1:6379" {
		t.Errorf("redis %q", cfg.RedisAddr)
	}
	cfg, err = ParseArgs([]string{"fanout", "--url", "ws://127.0.0.1:1/ws", "--publish-url", "ws://127.0.0.1:2/ws"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.PublishTargets) != 1 || cfg.PublishTargets[0].HostPort != "127.0.0.1:2" || cfg.Targets[0].HostPort != "127.0.0.1:1" {
		t.Errorf("fanout: subscribers %+v, publishers %+v", cfg.Targets, cfg.PublishTargets)
	}
	cfg, err = ParseArgs([]string{"cluster", "--urls", "ws://127.0.0.1:1/ws,ws://127.0.0.1:2/ws"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.PublishTargets) != 2 || cfg.PublishTargets[1] != cfg.Targets[1] || cfg.RedisAddr != "" {
		t.Errorf("without --publish-urls: publishers %+v, subscribers %+v", cfg.PublishTargets, cfg.Targets)
	}
}

func TestParseArgsRefusesBadInput(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{nil, "no scenario"},
		{[]string{"flood"}, "unknown scenario"},
		{[]string{"fanout", "--url", "ws://10.1.2.3:8080/ws"}, "loopback"},
		{[]string{"fanout", "--url", "ws://example.com/ws"}, "loopback"},
		{[]string{"fanout", "--url", "ws://[::2]:80/ws"}, "loopback"},
		{[]string{"fanout", "--url", "http://127.0.0.1:8080/ws"}, "scheme"},
		{[]string{"fanout", "--url", "ws://:8080/ws"}, "no host"},
		{[]string{"fanout", "--url", ","}, "no URL"},
		{[]string{"cluster", "--urls", "ws://127.0.0.1:1/ws"}, "at least two"},
		{[]string{"fanout", "--conns", "0"}, "--conns"},
		{[]string{"fanout", "--topics", "0"}, "--topics"},
		{[]string{"fanout", "--publishers", "0"}, "--publishers"},
		{[]string{"fanout", "--rate", "-1"}, "--rate"},
		{[]string{"fanout", "--duration", "0s"}, "--duration"},
		{[]string{"fanout", "--conns-per-worker", "20000"}, "--conns-per-worker"},
		{[]string{"fanout", "--source-ips", "0"}, "--source-ips"},
		{[]string{"fanout", "--server-pid", "abc"}, "--server-pid"},
		{[]string{"fanout", "--server-pid", "-3"}, "--server-pid"},
		{[]string{"fanout", "--topic-prefix", "a b"}, "--topic-prefix"},
		{[]string{"fanout", "--hold", "1s"}, "not defined"},
		{[]string{"fanout", "extra"}, "unexpected argument"},
		{[]string{"idle", "--hold", "-1s"}, "--hold"},
		{[]string{"churn", "--rate", "0"}, "--rate"},
		{[]string{"churn", "--workers", "0"}, "--workers"},
		{[]string{"idle", "--op-timeout", "0s"}, "--op-timeout"},
		{[]string{"fanout", "--server", "nats"}, "unknown server"},
		{[]string{"churn", "--server", "centrifugo"}, "Herald's only"},
		{[]string{"cluster", "--server", "centrifugo", "--urls", "ws://127.0.0.1:1/ws,ws://127.0.0.1:2/ws"}, "Herald's only"},
		{[]string{"cluster", "--urls", "ws://127.0.0.1:1/ws", "--publish-urls", "ws://127.0.0.1:1/ws"}, "at least two nodes together"},
		{[]string{"cluster", "--urls", "ws://127.0.0.1:1/ws", "--publish-urls", " , "}, "--publish-urls: no URL"},
		{[]string{"fanout", "--publish-urls", "http://127.0.0.1:2/ws"}, "--publish-urls: url"},
		{[]string{"fanout", "--publish-urls", "ws://10.1.2.3:2/ws"}, "loopback"},
		{[]string{"idle", "--publish-urls", "ws://127.0.0.1:2/ws"}, "not defined"},
		{[]string{"fanout", "--redis", "127.0.0.1", "--server-pid", "1"}, "not host:port"},
		{[]string{"fanout", "--redis", "10.1.2.3:6379", "--server-pid", "1"}, "--redis: only loopback"},
		{[]string{"fanout", "--redis", "127.0.0.1:6379"}, "needs --server-pid"},
		{[]string{"churn", "--redis", "127.0.0.1:6379", "--server-pid", "1"}, "not defined"},
	}
	for _, c := range cases {
		_, err := ParseArgs(c.args, &bytes.Buffer{})
		if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want a usage error about %q", c.args, err, c.want)
		}
	}
}

func TestHelpDocumentsEveryFlag(t *testing.T) {
	var out bytes.Buffer
	if _, err := ParseArgs([]string{"--help"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, s := range Scenarios {
		fs, _ := newFlagSet(&Config{Scenario: s}, &bytes.Buffer{})
		fs.VisitAll(func(f *flag.Flag) {
			if !strings.Contains(out.String(), "-"+f.Name+" ") && !strings.Contains(out.String(), "-"+f.Name+"\n") {
				t.Errorf("%s: flag --%s missing from help", s, f.Name)
			}
		})
	}
	out.Reset()
	if _, err := ParseArgs([]string{"churn", "-h"}, &out); !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "cycles") {
		t.Errorf("churn -h: %v\n%s", err, out.String())
	}
}

func TestMakePlansSplitsConnections(t *testing.T) {
	cfg, err := ParseArgs([]string{"idle", "--conns", "31000", "--connect-rate", "3000"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	plans := makePlans(cfg, time.Now())
	if len(plans) != 3 || plans[2].First != 30000 || plans[2].Count != 1000 || plans[1].Count != MaxConnsPerWorker {
		t.Errorf("plans %+v", plans)
	}
	if plans[0].ConnectRate != 1000 {
		t.Errorf("each worker connects at %v/s, want 1000", plans[0].ConnectRate)
	}
	if a := plans[0].sourceAddr(17).IP.String(); a != "127.0.0.2" {
		t.Errorf("connection 17 of 16 source addresses binds %s", a)
	}
	if a := (Plan{SourceIPs: 1000}).sourceAddr(999).IP.String(); a != "127.0.3.232" {
		t.Errorf("source address 1000 is %s", a)
	}
}

func TestSubscribersOf(t *testing.T) {
	cfg := Config{Conns: 10, Topics: 3}
	sum := 0
	for topic, want := range []int{4, 3, 3} {
		if got := subscribersOf(cfg, topic); got != want {
			t.Errorf("topic %d: %d subscribers, want %d", topic, got, want)
		}
		sum += subscribersOf(cfg, topic)
	}
	if sum != 10 {
		t.Errorf("subscribers add up to %d", sum)
	}
}

func TestTargetsSpreadEachTopicOverNodes(t *testing.T) {
	p := Plan{Topics: 3, Targets: []Target{{URL: "a"}, {URL: "b"}}}
	for topic := 0; topic < 3; topic++ {
		seen := map[string]bool{}
		for i := topic; i < 12; i += 3 {
			seen[p.targetOf(i).URL] = true
		}
		if len(seen) != 2 {
			t.Errorf("topic %d has subscribers on %v only", topic, seen)
		}
	}
}
