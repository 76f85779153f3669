package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// redisLog is go-redis's logger: what go-redis itself has to say (a pool
// that cannot dial, a sentinel that changed its mind) becomes a warning
// of the process log, not a bare line of text in the middle of its JSON.
// go-redis has one logger for the whole process, so it is set once; the
// zap logger behind it is swapped by each run (the tests run several).
type redisLog struct {
	log atomic.Pointer[zap.Logger]
}

var (
	goRedisLog     redisLog
	goRedisLogOnce sync.Once
)

// routeRedisLog sends go-redis's lines to log, named "go-redis", as
// warnings. Call it before the first client exists.
func routeRedisLog(log *zap.Logger) {
	goRedisLog.log.Store(log.Named("go-redis"))
	goRedisLogOnce.Do(func() { goredis.SetLogger(&goRedisLog) })
}

// Printf implements go-redis's internal.Logging.
func (l *redisLog) Printf(_ context.Context, format string, v ...any) {
	if log := l.log.Load(); log != nil {
		log.Warn(strings.TrimSpace(fmt.Sprintf(format, v...)))
	}
}
