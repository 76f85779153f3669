// Command herald runs one Herald node: the WebSocket and HTTP API server of
// docs/protocol.md, configured by HERALD_* variables or flags (section 7).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	raiseProcs(os.LookupEnv) // before anything runs: see procsFor
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr, stop)
	stop()
	os.Exit(code)
}
