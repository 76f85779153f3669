package bench

import (
	"flag"
	"fmt"
	"io"
)

func isHelp(a string) bool { return a == "-h" || a == "--help" || a == "-help" || a == "help" }

// Usage prints what the tool does and every scenario's flags.
func Usage(out io.Writer) {
	fmt.Fprintf(out, `herald-bench: load generator for Herald (docs/protocol.md), loopback targets only.

Usage: herald-bench <scenario> [flags]
       herald-bench <scenario> --help

Progress goes to stderr every --progress; at the end one JSON line goes to
stdout and a human summary to stderr. Connections are spread over worker
processes (the tool re-runs itself as "herald-bench worker") and over source
addresses 127.0.0.1..127.0.0.N. Every run stops by itself at --deadline.

Publishing (fanout, cluster) is done by this process: --publishers HTTP
publishers, each with one keep-alive connection and one publish in flight.
Without --rate they run a closed loop, each sending as soon as its last
publish is answered. --rate R is the total: each publisher follows a
schedule of R/publishers a second and, when answers come too slowly to keep
it, sends at once until it has caught up (no open loop: the rate offered
then drops, and the report says the rate achieved and how far behind the
schedule publishes began; give more --publishers). Delivery latency counts
from a publish's due time at a rate, from its send without. The publish
round trip (write of the request to the last byte of its answer, accepted
publishes only) is reported apart.

Examples, against "herald --addr 127.0.0.1:8080" whose pid is $PID:
  herald-bench idle    --url ws://127.0.0.1:8080/ws --conns 19000 --topics 100 --server-pid $PID
  herald-bench fanout  --url ws://127.0.0.1:8080/ws --conns 10000 --topics 1 --publishers 4 --duration 10s --server-pid $PID
  herald-bench fanout  --url ws://127.0.0.1:8080/ws --conns 10000 --rate 2 --publishers 1 --server-pid $PID
  herald-bench churn   --url ws://127.0.0.1:8080/ws --rate 500 --duration 10s --server-pid $PID
  herald-bench cluster --urls ws://127.0.0.1:8081/ws,ws://127.0.0.1:8082/ws,ws://127.0.0.1:8083/ws --conns 3000
  herald-bench cluster --urls ws://127.0.0.1:8081/ws --publish-urls ws://127.0.0.1:8082/ws --conns 10000 --topics 100 \
      --publishers 32 --redis 127.0.0.1:6379 --server-pid $NODE_A,$NODE_B
  herald-bench cluster --urls ws://127.0.0.1:8081/ws --publish-urls ws://127.0.0.1:8082/ws --conns 100 --topics 100 \
      --publishers 128 --rate 20000 --duration 10s --server-pid $NODE_A,$NODE_B

One address opening connections as fast as it can, each dropped once its TLS
handshake is done (--plain: at once), the node's CPU per handshake:
  herald-bench handshakes --addr 127.0.0.1:8443 --parallel 8 --duration 10s --server-pid $PID

The same scenarios against Centrifugo v6 (idle and fanout; see scripts/compare.sh):
  herald-bench fanout  --server centrifugo --url ws://127.0.0.1:8000/connection/websocket --api-key $KEY --conns 10000

Scenarios:
`)
	for _, s := range Scenarios {
		fmt.Fprintf(out, "  %-8s %s\n", s, scenarioHelp[s])
	}
	for _, s := range Scenarios {
		fmt.Fprintf(out, "\nFlags of %s:\n", s)
		fs, _ := newFlagSet(&Config{Scenario: s}, out)
		fs.PrintDefaults()
	}
}

func scenarioUsage(out io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(out, "Usage: herald-bench %s [flags]\n  %s\n\nFlags:\n", fs.Name(), scenarioHelp[fs.Name()])
	fs.PrintDefaults()
}
