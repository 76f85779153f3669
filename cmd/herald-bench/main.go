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
	"syscall"

	"github.com/herald-broker/herald/internal/bench"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) > 0 && args[0] == "worker" {
		if err := bench.RunWorker(ctx, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "herald-bench worker:", err)
			return 1
		}
		return 0
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
