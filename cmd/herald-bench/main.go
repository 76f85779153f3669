// Command herald-bench loads a Herald server on this machine and measures
// it: idle connections and their memory, fan-out throughput and latency,
// connection churn, and a cluster. Run "herald-bench --help" for the
// scenarios and their flags.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"

	"github.com/herald-broker/herald/internal/bench"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopProfile, err := startProfile(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "herald-bench:", err)
		return 2
	}
	defer stopProfile()
	if len(args) > 0 && args[0] == "worker" {
		if err := bench.RunWorker(ctx, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "herald-bench worker:", err)
			return 1
		}
		return 0
	}
	if len(args) > 0 && args[0] == bench.HandshakesCommand {
		return runHandshakes(ctx, args[1:])
	}
	cfg, err := bench.ParseArgs(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "herald-bench:", err)
		return 2
	}
	report, runErr := bench.Run(ctx, cfg, bench.ExecSpawner{}, os.Stderr)
	if line, err := json.Marshal(report); err == nil {
		fmt.Println(string(line))
	}
	fmt.Fprint(os.Stderr, report.Human())
	if runErr != nil {
		fmt.Fprintln(os.Stderr, "herald-bench:", runErr)
		return 1
	}
	return 0
}

// profileEnv names a folder where every process of a run, parent and
// workers, writes its CPU profile: to see where the tool's own time goes.
const profileEnv = "HERALD_BENCH_CPUPROFILE"

func startProfile(args []string) (stop func(), err error) {
	dir := os.Getenv(profileEnv)
	if dir == "" {
		return func() {}, nil
	}
	role := "parent"
	if len(args) > 0 && args[0] == "worker" {
		role = "worker"
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%d.pprof", role, os.Getpid())))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", profileEnv, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", profileEnv, err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// runHandshakes runs the handshakes command: one address opening
// connections, TLS handshakes or plain, as fast as it can.
func runHandshakes(ctx context.Context, args []string) int {
	cfg, err := bench.ParseHandshakeArgs(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "herald-bench handshakes:", err)
		return 2
	}
	report, runErr := bench.RunHandshakes(ctx, cfg)
	if line, err := json.Marshal(report); err == nil {
		fmt.Println(string(line))
	}
	fmt.Fprint(os.Stderr, report.Human())
	if runErr != nil {
		fmt.Fprintln(os.Stderr, "herald-bench handshakes:", runErr)
		return 1
	}
	return 0
}
