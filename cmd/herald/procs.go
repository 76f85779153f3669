package main

import "runtime"

// procsFor is the GOMAXPROCS a node runs with. Each event loop of
// transport (one per core) keeps a P while it works through its system
// calls, and a goroutine made ready by the network poller waits for a
// free P: with as many Ps as cores, busy loops leave publishes and
// upgrades waiting for the runtime's background poll (up to 10 ms) and the
// fan-out that feeds the loops slows down. Twice as many Ps as cores
// leaves one for everything else beside each loop; the kernel still
// shares the cores. A GOMAXPROCS set in the environment is kept.
func procsFor(lookupEnv func(string) (string, bool), current int) int {
	if _, set := lookupEnv("GOMAXPROCS"); set {
		return current
	}
	return 2 * current
}

// raiseProcs applies procsFor and returns the values before and after.
func raiseProcs(lookupEnv func(string) (string, bool)) (before, after int) {
	before = runtime.GOMAXPROCS(0)
	after = procsFor(lookupEnv, before)
	if after != before {
		runtime.GOMAXPROCS(after)
	}
	return before, after
}
