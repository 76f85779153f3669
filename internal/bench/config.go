package bench

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// MaxConnsPerWorker keeps a worker under this machine's 20,000 open files a
// process, with room for its other descriptors.
const MaxConnsPerWorker = 15000

// Config is one run, as the command line gives it.
type Config struct {
	Scenario       string
	Server         string   // ServerHerald or ServerCentrifugo
	Targets        []Target // the subscribers' nodes
	APIKey         string
	Conns          int
	Topics         int
	TopicPrefix    string
	Publishers     int
	Rate           float64 // fanout: publishes/s in all, 0 for max; churn: cycles/s
	Duration       time.Duration
	Hold           time.Duration // idle; 0: two heartbeats plus 5 s
	Drain          time.Duration
	Deadline       time.Duration // the whole run, hard
	ServerPIDs     []int
	SourceIPs      int
	ConnsPerWorker int
	Workers        int // churn
	ConnectRate    float64
	Inflight       int
	OpTimeout      time.Duration
	Progress       time.Duration

	// PublishTargets are the nodes the HTTP publishers post to: Targets
	// unless --publish-urls names others, so that subscribers on one node
	// get what publishers post to another through Redis.
	PublishTargets []Target
	// RedisAddr is the Redis the nodes share, when given: the report
	// then says how many bytes each server process read from it.
	RedisAddr string
}

// ErrUsage is wrapped by every bad command line.
var ErrUsage = errors.New("herald/bench: bad command line")

// Scenarios lists the subcommands in the order help shows them.
var Scenarios = []string{ScenarioIdle, ScenarioFanout, ScenarioChurn, ScenarioCluster}

var scenarioHelp = map[string]string{
	ScenarioIdle:    "hold N subscribed connections past two heartbeats; server RSS per connection; check all are alive",
	ScenarioFanout:  "N subscribers over T topics, P HTTP publishers; deliveries/s, completeness, latency, CPU",
	ScenarioChurn:   "connect, subscribe, receive one message, disconnect, at a rate; connects/s and latency",
	ScenarioCluster: "fanout over several nodes (--urls): subscribers spread over them, publishers on all, or on the --publish-urls nodes",
}

// ParseArgs reads a scenario and its flags. Help goes to out; asking for
// it returns flag.ErrHelp.
func ParseArgs(args []string, out io.Writer) (Config, error) {
	if len(args) == 0 || isHelp(args[0]) {
		Usage(out)
		if len(args) == 0 {
			return Config{}, fmt.Errorf("%w: no scenario given", ErrUsage)
		}
		return Config{}, flag.ErrHelp
	}
	cfg := Config{Scenario: args[0]}
	if _, ok := scenarioHelp[cfg.Scenario]; !ok {
		return Config{}, fmt.Errorf("%w: unknown scenario %q (want one of %s)", ErrUsage, args[0], strings.Join(Scenarios, ", "))
	}
	fs, raw := newFlagSet(&cfg, out)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, err
		}
		return Config{}, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	if err := cfg.finish(raw); err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	return cfg, nil
}

// rawFlags are the flags that need parsing after the flag package.
type rawFlags struct {
	urls, publishURLs, pids, token string
}

func newFlagSet(cfg *Config, out io.Writer) (*flag.FlagSet, *rawFlags) {
	s := cfg.Scenario
	fs := flag.NewFlagSet(s, flag.ContinueOnError)
	fs.SetOutput(out)
	raw := &rawFlags{}
	urlHelp := "WebSocket URL of the node, ws://127.0.0.1:8080/ws; comma-separated for several (loopback only)"
	fs.StringVar(&raw.urls, "url", "ws://127.0.0.1:8080/ws", urlHelp)
	fs.StringVar(&raw.urls, "urls", "ws://127.0.0.1:8080/ws", "same as --url")
	fs.StringVar(&cfg.Server, "server", ServerHerald, "protocol the server speaks: herald, herald-sse (Herald's GET /sse streams, idle and fanout only), or centrifugo (v6 JSON protocol, idle and fanout only)")
	fs.StringVar(&raw.token, "token", "", "JWT sent as Authorization: Bearer on every WebSocket, when the server checks them")
	fs.StringVar(&cfg.APIKey, "api-key", "", "API key for /api/* (Authorization: Bearer; Centrifugo: X-API-Key), when the server has keys")
	fs.StringVar(&raw.pids, "server-pid", "", "server process id(s), comma-separated, for RSS and CPU from /proc")
	fs.IntVar(&cfg.Topics, "topics", 1, "topics; connection i subscribes to topic i mod T")
	fs.StringVar(&cfg.TopicPrefix, "topic-prefix", "bench.", "topic names are this plus a number")
	fs.IntVar(&cfg.SourceIPs, "source-ips", 16, "bind connections to 127.0.0.1 .. 127.0.0.N in turn, so source ports never run out")
	fs.IntVar(&cfg.ConnsPerWorker, "conns-per-worker", MaxConnsPerWorker, "connections per worker process (at most 15000)")
	fs.Float64Var(&cfg.ConnectRate, "connect-rate", 5000, "new connections a second while connecting, in all (0: no limit)")
	fs.IntVar(&cfg.Inflight, "inflight", 200, "connection attempts (churn: cycles) at once, per worker")
	fs.DurationVar(&cfg.OpTimeout, "op-timeout", 10*time.Second, "limit for one connect+subscribe, publish or ping")
	fs.DurationVar(&cfg.Deadline, "deadline", 0, "hard limit for the whole run (0: computed from the other durations)")
	fs.DurationVar(&cfg.Progress, "progress", time.Second, "how often progress is printed on stderr")
	if s != ScenarioChurn {
		fs.IntVar(&cfg.Conns, "conns", 1000, "subscribed connections")
	}
	switch s {
	case ScenarioIdle:
		fs.DurationVar(&cfg.Hold, "hold", 0, "how long to hold the connections (0: two heartbeats from welcome plus 5s; herald-sse: two of the default 25s)")
	case ScenarioFanout, ScenarioCluster:
		fs.IntVar(&cfg.Publishers, "publishers", 4, "HTTP publishers, each one keep-alive connection; spread over the URLs")
		publishHelp := "WebSocket URLs of the nodes the publishers post to, comma-separated (empty: the --urls nodes); " +
			"with it the --urls nodes hold the subscribers only: subscribers on node A, publishers on node B"
		fs.StringVar(&raw.publishURLs, "publish-urls", "", publishHelp)
		fs.StringVar(&raw.publishURLs, "publish-url", "", "same as --publish-urls")
		fs.StringVar(&cfg.RedisAddr, "redis", "", "host:port of the Redis the nodes share (loopback only): report the bytes each "+
			"--server-pid read from it while publishing and draining, from the kernel's counters of its sockets (ss -ti)")
		fs.Float64Var(&cfg.Rate, "rate", 0, "publishes a second in all, over every publishing node, shared evenly by the "+
			"--publishers (each keeps rate/publishers); 0: closed loop, each publisher as fast as replies come. "+
			"Either way a publisher has one publish in flight: at a rate one that falls behind its schedule "+
			"sends at once until it catches up, so the rate offered drops when answers take longer than "+
			"publishers/rate; the report gives the rate achieved (publish_attempted_per_s) and how far behind it fell")
		fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to publish")
		fs.DurationVar(&cfg.Drain, "drain", 5*time.Second, "after publishing, wait at most this for the last deliveries")
	case ScenarioChurn:
		fs.Float64Var(&cfg.Rate, "rate", 100, "cycles (connect, subscribe, receive, disconnect) a second, in all")
		fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to start new cycles")
		fs.IntVar(&cfg.Workers, "workers", 1, "worker processes")
	}
	fs.Usage = func() { scenarioUsage(out, fs) }
	return fs, raw
}

// finish checks the flags and fills what follows from them.
func (c *Config) finish(raw *rawFlags) error {
	if err := c.checkServer(); err != nil {
		return err
	}
	if err := c.parseTargets(raw.urls, raw.publishURLs, raw.token); err != nil {
		return err
	}
	pids, err := parsePIDs(raw.pids)
	if err != nil {
		return err
	}
	c.ServerPIDs = pids
	if err := c.checkRedis(); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	if c.Deadline == 0 {
		c.Deadline = c.defaultDeadline()
	}
	return nil
}

func (c *Config) checkServer() error {
	if _, ok := dialects[c.Server]; !ok {
		return fmt.Errorf("--server: unknown server %q (want one of %s)", c.Server, strings.Join(Servers, ", "))
	}
	if !serverSupports(c.Server, c.Scenario) {
		return fmt.Errorf("--server %s: the %s scenario is Herald's only", c.Server, c.Scenario)
	}
	return nil
}

// checkRedis refuses a --redis that is not a loopback host:port, or that
// has no --server-pid whose sockets to count.
func (c *Config) checkRedis() error {
	if c.RedisAddr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(c.RedisAddr)
	if err != nil || port == "" {
		return fmt.Errorf("--redis: %q is not host:port", c.RedisAddr)
	}
	if err := checkLoopback(host); err != nil {
		return fmt.Errorf("--redis: %w: %q", err, c.RedisAddr)
	}
	if host == "localhost" {
		c.RedisAddr = net.JoinHostPort("127.0.0.1", port)
	}
	if len(c.ServerPIDs) == 0 {
		return errors.New("--redis: needs --server-pid, the processes whose bytes from Redis are counted")
	}
	return nil
}

// check refuses values that make no run.
func (c *Config) check() error {
	const long = 24 * time.Hour
	checks := []struct {
		bad bool
		msg string
	}{
		{c.Scenario != ScenarioChurn && c.Conns < 1, "--conns must be at least 1"},
		{c.Topics < 1 || c.Topics > 1_000_000, "--topics must be between 1 and 1000000"},
		{c.ConnsPerWorker < 1 || c.ConnsPerWorker > MaxConnsPerWorker, "--conns-per-worker must be between 1 and 15000"},
		{c.SourceIPs < 1 || c.SourceIPs > 65000, "--source-ips must be between 1 and 65000"},
		{c.ConnectRate < 0, "--connect-rate must not be negative"},
		{c.Inflight < 1, "--inflight must be at least 1"},
		{c.OpTimeout <= 0 || c.OpTimeout > time.Hour, "--op-timeout must be between 0 and 1h"},
		{c.Deadline < 0 || c.Deadline > long, "--deadline must be between 0 and 24h"},
		{c.Progress <= 0, "--progress must be positive"},
		{c.Hold < 0 || c.Hold > long, "--hold must be between 0 and 24h"},
		{c.Drain < 0 || c.Drain > time.Hour, "--drain must be between 0 and 1h"},
		{c.Rate < 0, "--rate must not be negative"},
		{c.usesDuration() && (c.Duration <= 0 || c.Duration > long), "--duration must be between 0 and 24h"},
		{c.usesPublishers() && (c.Publishers < 1 || c.Publishers > 10000), "--publishers must be between 1 and 10000"},
		{c.Scenario == ScenarioChurn && c.Rate == 0, "churn: --rate must be positive"},
		{c.Scenario == ScenarioChurn && (c.Workers < 1 || c.Workers > 64), "--workers must be between 1 and 64"},
		{strings.ContainsAny(c.TopicPrefix, "\"\\ *>") || len(c.TopicPrefix) > 200, "--topic-prefix must be plain topic characters"},
	}
	for _, ch := range checks {
		if ch.bad {
			return errors.New(ch.msg)
		}
	}
	return nil
}

// perPublisherRate is each publisher's share of --rate; 0 for a closed
// loop.
func (c *Config) perPublisherRate() float64 {
	if c.Rate <= 0 || c.Publishers < 1 {
		return 0
	}
	return c.Rate / float64(c.Publishers)
}

func (c *Config) usesDuration() bool { return c.Scenario != ScenarioIdle }
func (c *Config) usesPublishers() bool {
	return c.Scenario == ScenarioFanout || c.Scenario == ScenarioCluster
}

// defaultDeadline leaves time to connect, run and report, and no more.
func (c *Config) defaultDeadline() time.Duration {
	d := 2*c.OpTimeout + 30*time.Second
	if c.ConnectRate > 0 {
		d += time.Duration(float64(c.Conns) / c.ConnectRate * float64(time.Second))
	}
	switch c.Scenario {
	case ScenarioIdle:
		if c.Hold > 0 {
			return d + c.Hold
		}
		return d + 3*time.Minute // two default heartbeats and more
	case ScenarioChurn:
		return d + c.Duration
	}
	return d + c.Duration + c.Drain
}
