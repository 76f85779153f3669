package main

import (
	"strings"
	"sync"
	"time"

	"github.com/herald-broker/herald/broker"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// A refusal (a bad API key or token, a foreign origin, an address over its
// limits, a forbidden subscribe, a close for too many failed commands) is
// logged by a logger named broker.RefusalLogger (api.refusals,
// broker.refusals), one line per refusal, its message naming the kind. Refusals are ordinary on
// the internet and a flood of them must not flood the log, so each kind
// (logger and message) gets a token bucket: refusalBurst lines at once,
// then one per refusalEvery; the rest are counted, and every
// refusalSummaryEvery a line per kind says how many were suppressed.
const (
	refusalBurst        = 10
	refusalEvery        = 6 * time.Second
	refusalSummaryEvery = time.Minute
	// maxRefusalKinds bounds the kinds remembered; refusal messages are
	// constants, so it is never reached unless one is not.
	maxRefusalKinds = 64
	// suppressedMessage is the line that counts a kind's suppressed ones.
	suppressedMessage = "more refusals of this kind suppressed"
)

// refusalLimit is the token buckets of the refusal kinds, shared by every
// core it wraps; it writes the suppressed counts from its own goroutine,
// which close stops.
type refusalLimit struct {
	burst   float64
	every   time.Duration
	summary time.Duration

	mu    sync.Mutex
	kinds map[refusalKey]*refusalKind

	stop chan struct{}
	done chan struct{}
}

type refusalKey struct{ logger, message string }

// refusalKind is one kind's bucket and what it suppressed since the last
// count was written.
type refusalKind struct {
	tokens     float64
	stamp      time.Time
	suppressed int
	level      zapcore.Level
	core       zapcore.Core // where the last suppressed one would have gone
}

// newRefusalLimit starts the limit's goroutine; close stops it.
func newRefusalLimit(burst int, every, summary time.Duration) *refusalLimit {
	l := &refusalLimit{
		burst: float64(burst), every: every, summary: summary,
		kinds: map[refusalKey]*refusalKind{},
		stop:  make(chan struct{}), done: make(chan struct{}),
	}
	go l.run()
	return l
}

func (l *refusalLimit) run() {
	defer close(l.done)
	t := time.NewTicker(l.summary)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.writeSuppressed()
		}
	}
}

// close stops the goroutine and writes the counts not yet written.
func (l *refusalLimit) close() {
	close(l.stop)
	<-l.done
	l.writeSuppressed()
}

// wrap is for zap.WrapCore: core's refusal lines go through the limit.
func (l *refusalLimit) wrap(core zapcore.Core) zapcore.Core {
	return &refusalCore{Core: core, limit: l}
}

// allow takes a token of ent's kind, or counts ent as suppressed.
func (l *refusalLimit) allow(ent zapcore.Entry, core zapcore.Core) bool {
	key := refusalKey{ent.LoggerName, ent.Message}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.kinds[key]
	if k == nil {
		if len(l.kinds) >= maxRefusalKinds {
			key.message = "(other)"
			k = l.kinds[key]
		}
		if k == nil {
			k = &refusalKind{tokens: l.burst, stamp: now}
			l.kinds[key] = k
		}
	}
	k.tokens = min(l.burst, k.tokens+float64(now.Sub(k.stamp))/float64(l.every))
	k.stamp = now
	if k.tokens >= 1 {
		k.tokens--
		return true
	}
	k.suppressed++
	k.level, k.core = ent.Level, core
	return false
}

// suppressedCount is one kind's count, taken for writing.
type suppressedCount struct {
	key   refusalKey
	n     int
	level zapcore.Level
	core  zapcore.Core
}

// writeSuppressed writes a line for each kind that suppressed some since
// the last time, outside the lock.
func (l *refusalLimit) writeSuppressed() {
	var counts []suppressedCount
	l.mu.Lock()
	for key, k := range l.kinds {
		if k.suppressed > 0 {
			counts = append(counts, suppressedCount{key, k.suppressed, k.level, k.core})
			k.suppressed, k.core = 0, nil
		}
	}
	l.mu.Unlock()
	now := time.Now()
	for _, c := range counts {
		ent := zapcore.Entry{Level: c.level, Time: now, LoggerName: c.key.logger, Message: suppressedMessage}
		_ = c.core.Write(ent, []zapcore.Field{
			zap.String("kind", c.key.message),
			zap.Int("suppressed", c.n),
		})
	}
}

// refusalCore is a core whose refusal lines pass through a refusalLimit.
type refusalCore struct {
	zapcore.Core
	limit *refusalLimit
}

func (c *refusalCore) With(fields []zapcore.Field) zapcore.Core {
	return &refusalCore{Core: c.Core.With(fields), limit: c.limit}
}

func (c *refusalCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if !c.Enabled(ent.Level) {
		return ce
	}
	if isRefusalLogger(ent.LoggerName) && !c.limit.allow(ent, c.Core) {
		return ce
	}
	return c.Core.Check(ent, ce)
}

// isRefusalLogger reports whether name is a refusals logger's, under any
// parent (api.refusals).
func isRefusalLogger(name string) bool {
	return name == broker.RefusalLogger || strings.HasSuffix(name, "."+broker.RefusalLogger)
}
