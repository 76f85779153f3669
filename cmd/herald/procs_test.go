package main

import "testing"

func TestProcsForDoublesUnlessTheEnvironmentSetsThem(t *testing.T) {
	unset := func(string) (string, bool) { return "", false }
	set := func(k string) (string, bool) { return "3", k == "GOMAXPROCS" }
	if got := procsFor(unset, 2); got != 4 {
		t.Errorf("2 cores, GOMAXPROCS unset: %d Ps, want 4", got)
	}
	if got := procsFor(set, 3); got != 3 {
		t.Errorf("GOMAXPROCS=3 in the environment: %d Ps, want 3 kept", got)
	}
}
