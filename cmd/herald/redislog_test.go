package main

import (
	"context"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// go-redis's lines become warnings of the process log, named go-redis,
// whichever run set its logger last.
func TestRedisLogIsRouted(t *testing.T) {
	for range 2 {
		core, logs := observer.New(zap.DebugLevel)
		routeRedisLog(zap.New(core))
		goRedisLog.Printf(context.Background(), "redis: %s failed\n", "dial")
		entries := logs.All()
		if len(entries) != 1 || entries[0].Level != zap.WarnLevel || entries[0].LoggerName != "go-redis" ||
			entries[0].Message != "redis: dial failed" {
			t.Fatalf("the log: %v", entries)
		}
	}
}
