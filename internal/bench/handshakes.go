package bench

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// HandshakesCommand is the subcommand that opens connections from one
// address as fast as it can, each dropped once its TLS handshake is done
// (or, with --plain, at once), to measure what such a client costs a node.
const HandshakesCommand = "handshakes"

// HandshakeConfig is one run of the handshakes command.
type HandshakeConfig struct {
	Addr      string // the node's host:port, loopback only
	From      string // the one source address
	Parallel  int    // connections being opened at once
	Duration  time.Duration
	ServerPID int  // 0: no CPU figures
	Plain     bool // connect and close, no TLS
	OpTimeout time.Duration
}

// HandshakeReport is what a run saw.
type HandshakeReport struct {
	Completed int64 `json:"completed"` // handshakes done (--plain: connections opened)
	Failed    int64 `json:"failed"`    // refused, reset or closed before the handshake was done
	// Errors counts the failures by phase and kind, "handshake:eof".
	Errors           map[string]int64 `json:"errors,omitempty"`
	Seconds          float64          `json:"seconds"`
	CompletedPerS    float64          `json:"completed_per_s"`
	AttemptedPerS    float64          `json:"attempted_per_s"`
	ServerCPUSeconds float64          `json:"server_cpu_s,omitempty"`
	// ServerCores is the server's CPU time over the run's: 1 is one core.
	ServerCores float64 `json:"server_cores,omitempty"`
	// CPUPerCompletedMicros is the server's CPU over the completed
	// handshakes, the failed attempts' cost included.
	CPUPerCompletedMicros float64 `json:"server_cpu_per_completed_us,omitempty"`
}

// ParseHandshakeArgs reads the handshakes command's flags.
func ParseHandshakeArgs(args []string, out io.Writer) (HandshakeConfig, error) {
	var c HandshakeConfig
	fs := flag.NewFlagSet(HandshakesCommand, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "the node's host:port (loopback only)")
	fs.StringVar(&c.From, "from", "127.0.0.1", "the loopback address every connection comes from")
	fs.IntVar(&c.Parallel, "parallel", 8, "connections being opened at once")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long to open connections")
	fs.IntVar(&c.ServerPID, "server-pid", 0, "server process id, for its CPU from /proc")
	fs.BoolVar(&c.Plain, "plain", false, "open TCP connections and close them at once, no TLS")
	fs.DurationVar(&c.OpTimeout, "op-timeout", 10*time.Second, "limit for one connect and handshake")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	host, _, err := net.SplitHostPort(c.Addr)
	switch {
	case err != nil:
		return c, fmt.Errorf("%w: --addr %q: %w", ErrUsage, c.Addr, err)
	case checkLoopback(host) != nil || checkLoopback(c.From) != nil:
		return c, fmt.Errorf("%w: --addr %q and --from %q must be loopback", ErrUsage, c.Addr, c.From)
	case c.Parallel < 1 || c.Duration <= 0 || c.OpTimeout <= 0:
		return c, fmt.Errorf("%w: --parallel, --duration and --op-timeout must be positive", ErrUsage)
	}
	return c, nil
}

// RunHandshakes opens connections from c.From until c.Duration has passed
// or ctx ends, c.Parallel at a time, and counts them. The client keeps no
// session cache, so every handshake is a full one, certificate and all.
func RunHandshakes(ctx context.Context, c HandshakeConfig) (HandshakeReport, error) {
	var r HandshakeReport
	cpuBefore, err := serverCPU(c.ServerPID)
	if err != nil {
		return r, err
	}
	end := time.Now().Add(c.Duration)
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	// A dial past end fails at once, before ctx's own timer has ended it.
	over := func() bool { return ctx.Err() != nil || !time.Now().Before(end) }
	dialer := net.Dialer{Timeout: c.OpTimeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(c.From)}}
	client := &tls.Config{InsecureSkipVerify: true} // the node's certificate is not what is measured
	var completed, failed atomic.Int64
	var kinds errorKinds
	start := time.Now()
	var wg sync.WaitGroup
	for range c.Parallel {
		wg.Go(func() {
			for !over() {
				phase, err := openOne(ctx, &dialer, client, c)
				if err != nil && !over() { // the run's end cuts the last ones short
					failed.Add(1)
					kinds.add(phase, err)
					continue
				}
				if err == nil {
					completed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	r.Seconds = time.Since(start).Seconds()
	r.Completed, r.Failed, r.Errors = completed.Load(), failed.Load(), kinds.snapshot()
	r.CompletedPerS = float64(r.Completed) / r.Seconds
	r.AttemptedPerS = float64(r.Completed+r.Failed) / r.Seconds
	if c.ServerPID == 0 {
		return r, nil
	}
	cpuAfter, err := serverCPU(c.ServerPID)
	if err != nil {
		return r, err
	}
	r.ServerCPUSeconds = cpuAfter - cpuBefore
	r.ServerCores = r.ServerCPUSeconds / r.Seconds
	if r.Completed > 0 {
		r.CPUPerCompletedMicros = r.ServerCPUSeconds / float64(r.Completed) * 1e6
	}
	return r, nil
}

// openOne opens one connection and closes it once its handshake is done;
// on failure it names the phase that failed.
func openOne(ctx context.Context, d *net.Dialer, client *tls.Config, c HandshakeConfig) (phase string, err error) {
	conn, err := d.DialContext(ctx, "tcp", c.Addr)
	if err != nil {
		return "connect", fmt.Errorf("herald/bench: connect: %w", err)
	}
	// Reset rather than closed: a closed socket would wait out TIME_WAIT
	// here, and one source address runs out of ports within seconds.
	_ = conn.(*net.TCPConn).SetLinger(0)
	defer conn.Close()
	if c.Plain {
		return "", nil
	}
	hsCtx, cancel := context.WithTimeout(ctx, c.OpTimeout)
	defer cancel()
	if err := tls.Client(conn, client).HandshakeContext(hsCtx); err != nil {
		return "handshake", fmt.Errorf("herald/bench: handshake: %w", err)
	}
	return "", nil
}

func serverCPU(pid int) (float64, error) {
	if pid == 0 {
		return 0, nil
	}
	return ProcCPU(pid)
}

// Human is the report as a few lines for a person.
func (r HandshakeReport) Human() string {
	s := fmt.Sprintf("%d completed (%.0f/s), %d failed, %.0f attempts/s over %.1f s\n",
		r.Completed, r.CompletedPerS, r.Failed, r.AttemptedPerS, r.Seconds)
	if r.ServerCPUSeconds > 0 {
		s += fmt.Sprintf("server CPU %.2f s: %.2f cores, %.0f µs per completed\n",
			r.ServerCPUSeconds, r.ServerCores, r.CPUPerCompletedMicros)
	}
	return s
}
