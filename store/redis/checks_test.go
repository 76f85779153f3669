package redis_test

import (
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// holdChecks has e's periodic checks wait until release: a periodic check
// reads a topic only until three checks have started after its last
// message (activity.go), which a busy machine may start before the test
// makes the topic's next check fail. A test holds them from before
// the topic's last message until its keys are broken.
func holdChecks(t *testing.T, e *redis.Engine) (release func()) {
	t.Helper()
	release, err := redis.HoldChecks(e)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	return release
}

// breakMeta puts a string where topic's position is kept: reading the
// position fails.
func breakMeta(t *testing.T, admin *goredis.Client, prefix, topic string) {
	t.Helper()
	meta := prefix + "{" + topic + "}:meta"
	if err := admin.Set(ctxFor(t), meta, "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
}

// breakHistory moves topic's history aside, puts a string in its place,
// and adds a message to the history moved aside without publishing it: a
// message pub/sub lost, which the topic's position shows but its history
// fails to give. repairHistory puts the history back.
func breakHistory(t *testing.T, admin *goredis.Client, prefix, topic string) {
	t.Helper()
	ctx := ctxFor(t)
	meta, hist := prefix+"{"+topic+"}:meta", prefix+"{"+topic+"}:hist"
	if err := admin.Rename(ctx, hist, hist+".aside").Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.Set(ctx, hist, "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	seq, err := admin.HIncrBy(ctx, meta, "seq", 1).Result()
	if err != nil {
		t.Fatal(err)
	}
	req := request(topic)
	err = admin.XAdd(ctx, &goredis.XAddArgs{Stream: hist + ".aside", ID: fmt.Sprintf("%d-0", seq),
		Values: []any{"i", req.ID, "m", req.Time, "d", req.Data}}).Err()
	if err == nil {
		err = admin.HSet(ctx, meta, "mark", seq).Err()
	}
	if err != nil {
		t.Fatal(err)
	}
}

func repairHistory(t *testing.T, admin *goredis.Client, prefix, topic string) {
	t.Helper()
	hist := prefix + "{" + topic + "}:hist"
	if err := admin.Rename(ctxFor(t), hist+".aside", hist).Err(); err != nil {
		t.Fatal(err)
	}
}

// The check of every topic after a reconnect goes on past topics Redis
// fails to read, their positions or their histories, and finds what
// pub/sub lost of the others in that one round: there is no other here.
func TestCheckGoesOnPastTopicsItCannotRead(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	prefix := uniquePrefix(t)
	nodes := cluster(t, srv, 2, redis.Config{Prefix: prefix, HistorySize: 10, CheckInterval: time.Hour})
	pub, sub := nodes[0], nodes[1]
	var badMeta, badHist []string
	for i := range 4 {
		badMeta = append(badMeta, fmt.Sprintf("ck.meta.%d", i))
	}
	for i := range 8 { // a check in map order would come to the good topic first once in nine
		badHist = append(badHist, fmt.Sprintf("ck.hist.%d", i))
	}
	topics := append(append([]string{"ck.good"}, badMeta...), badHist...)
	for _, topic := range topics {
		mustSubscribe(t, sub, topic)
		mustPublish(t, pub, request(topic))
		sub.rec.waitFor(t, topic, 1)
	}
	for _, topic := range badMeta {
		breakMeta(t, admin, prefix, topic)
	}
	for _, topic := range badHist {
		breakHistory(t, admin, prefix, topic)
	}
	lost := inject(t, srv, prefix, "ck.good")
	if err := admin.ClientKillByFilter(ctxFor(t), "TYPE", "pubsub").Err(); err != nil {
		t.Fatalf("CLIENT KILL: %v", err)
	}
	got := sub.rec.waitFor(t, "ck.good", 2)
	if got[1].ID != lost.ID {
		t.Fatalf("ck.good got %s after the reconnect, want the lost %s", got[1].ID, lost.ID)
	}
	for _, topic := range topics[1:] {
		if n := len(sub.rec.messages(topic)); n != 1 {
			t.Errorf("%s, which Redis cannot read, got %d messages, want the 1 from before", topic, n)
		}
	}
	sub.rec.checkBreaches(t)
}

// observedPair starts two engines on srv sharing a new prefix, history 10:
// pub, and sub with a recorder attached and its logs at level and above
// kept in logs as well as the test's.
func observedPair(t *testing.T, srv *redistest.Server, level zapcore.Level) (pub, sub *redis.Engine, rec *recorder, logs *observer.ObservedLogs, prefix string) {
	t.Helper()
	core, logs := observer.New(level)
	logger := zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core))
	prefix = uniquePrefix(t)
	pub = newEngine(t, srv.URL(), redis.Config{Prefix: prefix, HistorySize: 10})
	sub = newEngine(t, srv.URL(), redis.Config{Prefix: prefix, HistorySize: 10, Logger: logger})
	rec = newRecorder()
	sub.Attach(rec)
	return pub, sub, rec, logs, prefix
}

// A topic whose check failed is checked again at every interval, after
// its traffic stopped too, until Redis reads it; the failure, while it
// lasts, is logged at Warn once, naming the topic.
func TestCheckRetriesATopicItCannotRead(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	pub, sub, rec, logs, prefix := observedPair(t, srv, zap.WarnLevel)
	const topic = "rt.bad"
	mustSubscribe(t, sub, topic)
	release := holdChecks(t, sub)
	mustPublish(t, pub, request(topic))
	rec.waitFor(t, topic, 1)
	breakHistory(t, admin, prefix, topic)
	release()
	warned := func() int { return logs.FilterMessageSnippet("cannot check topics").Len() }
	if !eventually(func() bool { return warned() > 0 }) {
		t.Fatal("a check failing for longer than its interval was not logged at Warn")
	}
	entry := logs.FilterMessageSnippet("cannot check topics").All()[0]
	if names, _ := entry.ContextMap()["topics"].([]any); len(names) != 1 || names[0] != topic {
		t.Errorf("the warning names topics %v, want [%s]", entry.ContextMap()["topics"], topic)
	}
	// Past the topic's time among those with recent traffic: only its
	// failed check brings it into the next.
	time.Sleep(2 * (3 + 1) * testCheck)
	if n := warned(); n != 1 {
		t.Errorf("the lasting failure was logged at Warn %d times, want once", n)
	}
	repairHistory(t, admin, prefix, topic)
	got := rec.waitFor(t, topic, 2)
	wantSeqs(t, "once Redis reads the topic again", got, 1, 2)
	rec.checkBreaches(t)
}

// A topic whose check keeps failing holds up no other's forgetting: a
// topic only a pattern covers is forgotten once idle all the same, while
// the owed one is still checked.
func TestIdleTopicIsForgottenWhileAnotherIsOwed(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	prefix := uniquePrefix(t)
	short := redis.Config{Prefix: prefix, HistorySize: 10, HistoryTTL: 300 * time.Millisecond}
	pub, sub := newEngine(t, srv.URL(), short), newEngine(t, srv.URL(), short)
	// The owed topic's keys outlast the test: they are published with the
	// default history TTL.
	pubLasting := newEngine(t, srv.URL(), redis.Config{Prefix: prefix, HistorySize: 10})
	rec := newRecorder()
	sub.Attach(rec)
	mustSubscribe(t, sub, "fo.*")
	mustSubscribe(t, sub, "owed")
	release := holdChecks(t, sub)
	mustPublish(t, pub, request("fo.a"))
	mustPublish(t, pubLasting, request("owed"))
	rec.waitFor(t, "fo.a", 1)
	rec.waitFor(t, "owed", 1)
	breakHistory(t, admin, prefix, "owed")
	release()
	if !eventually(func() bool { return redis.TrackedTopics(sub) == 1 }) {
		t.Fatalf("tracking %d topics, want the idle pattern topic forgotten and only the owed one kept",
			redis.TrackedTopics(sub))
	}
	if n := len(rec.messages("owed")); n != 1 {
		t.Fatalf("the owed topic got %d messages, want the 1 before its history broke", n)
	}
	// Idle as it is, only its failed check keeps the topic in the checks.
	repairHistory(t, admin, prefix, "owed")
	got := rec.waitFor(t, "owed", 2)
	wantSeqs(t, "once Redis reads the owed topic again", got, 1, 2)
	rec.checkBreaches(t)
}

// A topic whose check fails is owed only while it is subscribed: once
// unsubscribed, no check reads it again, and the failure is over.
func TestUnsubscribedTopicIsNoLongerOwed(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	pub, sub, rec, logs, prefix := observedPair(t, srv, zap.InfoLevel)
	const topic = "gone.bad"
	mustSubscribe(t, sub, topic)
	release := holdChecks(t, sub)
	mustPublish(t, pub, request(topic))
	rec.waitFor(t, topic, 1)
	breakMeta(t, admin, prefix, topic)
	release()
	if !eventually(func() bool { return logs.FilterMessageSnippet("cannot check topics against Redis:").Len() > 0 }) {
		t.Fatal("a check failing for longer than its interval was not logged at Warn")
	}
	if err := sub.Unsubscribe(ctxFor(t), topic); err != nil {
		t.Fatal(err)
	}
	if !eventually(func() bool { return logs.FilterMessageSnippet("checked against Redis again").Len() > 0 }) {
		t.Fatal("the topic, unsubscribed, is still owed a check")
	}
}

// A check that picked up a topic before the last pattern covering it
// went hands nothing of it over after: once Unsubscribe returned, what is
// published to the topic is not delivered, whichever check was under way.
func TestCheckUnderWayDeliversNothingOfAPatternGone(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	// The test runs the check itself (CheckLater), and no call of it may
	// fail for want of a CPU.
	nodes := cluster(t, srv, 2, redis.Config{HistorySize: 10, CheckInterval: time.Hour, ProbeInterval: time.Hour, Timeout: time.Minute})
	pub, sub := nodes[0], nodes[1]
	mustSubscribe(t, sub, "gone.>")
	mustPublish(t, pub, request("gone.a"))
	sub.rec.waitFor(t, "gone.a", 1)
	check := redis.CheckLater(sub.Engine)
	if err := sub.Unsubscribe(ctxFor(t), "gone.>"); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, pub, request("gone.a"))
	if err := check(); err != nil {
		t.Fatal(err)
	}
	if n := len(sub.rec.messages("gone.a")); n != 1 {
		t.Fatalf("gone.a delivered %d messages, want the 1 before its pattern went", n)
	}
}
