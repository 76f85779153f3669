package redis_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
)

// TestLeftEpochBackStartsNewEpoch has failovers follow each other: a
// topic's epoch E1 is delivered up to seq 10, a failover loses seq 10 and
// the topic goes on in E2 (and, for "TwoBack", another one moves it on to
// E3), then a server whose copy of the topic is still E1 at seq 8 takes
// over (its copy came with its mark in a full resync, so the publish
// script sees nothing wrong). The subscribers' nodes left E1: they must
// not go back to it, which would hand their subscribers E1's seqs again
// (and, after a publish, seq 9 naming another message than the one they
// had), nor leave it in Redis, where a client resuming from E1 seq 5
// would be told it recovered everything after getting 6-8 only. They
// start the topic a new epoch instead, whether a position check or a
// message shows them E1 first.
func TestLeftEpochBackStartsNewEpoch(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { admin.Close() })
	for _, tc := range []struct {
		name         string
		failovers    int  // that move the topic on before E1 is back
		publishFirst bool // publish in E1 again before the nodes check
	}{
		{"ByCheck", 1, false},
		{"ByMessage", 1, true},
		{"TwoBack", 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const topic = "back"
			prefix := uniquePrefix(t)
			keys := []string{prefix + "{" + topic + "}:meta", prefix + "{" + topic + "}:hist"}
			// Periodic checks and probes far off: the test runs each check itself (CheckLater).
			nodes := cluster(t, srv, 3, redis.Config{HistorySize: 100, Prefix: prefix, CheckInterval: time.Hour, ProbeInterval: time.Hour})
			pub, subs := nodes[0], nodes[1:]
			for _, sub := range subs {
				mustSubscribe(t, sub, topic)
			}
			first := publishN(t, pub, topic, 8)
			stale := dumpKeys(t, admin, keys) // E1 at seq 8, mark and all
			sent := []broker.PublishResult{publishN(t, pub, topic, 1), publishN(t, pub, topic, 1)}
			left := []string{first.Epoch}
			for i := range tc.failovers {
				loseLast(t, admin, keys, sent)
				sent = []broker.PublishResult{publishN(t, pub, topic, 2), publishN(t, pub, topic, 1)}
				if slices.Contains(left, sent[1].Epoch) || sent[1].Seq != 3 {
					t.Fatalf("publish after failover %d = %+v, want seq 3 of a new epoch", i+1, sent[1])
				}
				left = append(left, sent[1].Epoch)
			}
			for _, sub := range subs {
				sub.rec.waitCovered(t, topic, sent[1].Epoch, 3)
			}

			restoreKeys(t, admin, stale) // the stale server takes over
			var again broker.PublishResult
			if tc.publishFirst {
				again = mustPublish(t, pub, request(topic))
				t.Logf("publish once E1 is back: %+v", again)
			}
			for _, sub := range subs {
				if err := redis.CheckLater(sub.Engine)(); err != nil {
					t.Fatal(err)
				}
			}

			ctx := ctxFor(t)
			pos, err := pub.Position(ctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			resumed, err := pub.ResumeHistory(ctx, topic, broker.Position{Epoch: first.Epoch, Seq: 5}, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("after the checks: Redis at %+v; a resume from E1 seq 5 reads %+v (unsure %v, %d messages)",
				pos, resumed.Position, resumed.Unsure, len(resumed.Messages))
			for i, sub := range subs {
				t.Logf("node%d handed over: %s", i+1, epochRuns(sub.rec.covered(topic), left))
			}
			if slices.Contains(left, resumed.Epoch) {
				t.Errorf("a resume from E1 seq 5 reads %+v, in epoch %d of %v, which the nodes had left",
					resumed.Position, slices.Index(left, resumed.Epoch)+1, left)
			}
			if slices.Contains(left, pos.Epoch) {
				t.Fatalf("topic at %+v after the nodes checked: back in epoch %d of %v, which they had left",
					pos, slices.Index(left, pos.Epoch)+1, left)
			}
			if got := subs[0].Stats().Rebases; got != 1 { // the second node found the first one's new epoch
				t.Errorf("the first node to check counted %d rebases, want 1", got)
			}
			next := mustPublish(t, pub, request(topic))
			if next.Epoch != pos.Epoch || next.Seq != 1 {
				t.Fatalf("publish in the new epoch = %+v, want seq 1 of %s", next, pos.Epoch)
			}
			for i, sub := range subs {
				name := fmt.Sprintf("node%d", i+1)
				wantNoReturn(t, name, sub.rec, topic, left, again.ID)
				if !eventually(func() bool {
					got := sub.rec.messages(topic)
					return got[len(got)-1].ID == next.ID
				}) {
					t.Fatalf("%s never got the message of the new epoch", name)
				}
				sub.rec.checkBreaches(t)
			}
		})
	}
}

// wantNoReturn fails if sub handed over, after a span of epoch left[i],
// one of an epoch left before it, or the message with id again.
func wantNoReturn(t *testing.T, name string, rec *recorder, topic string, left []string, again string) {
	t.Helper()
	reached := 0
	for _, sp := range rec.covered(topic) {
		i := slices.Index(left, sp.epoch)
		if i >= 0 && i < reached {
			t.Errorf("%s handed over %+v of epoch %d after epoch %d", name, sp, i+1, reached+1)
		}
		reached = max(reached, i)
	}
	for _, m := range rec.messages(topic) {
		if again != "" && m.ID == again {
			t.Errorf("%s handed over %+v, seq %d of E1 again for another message", name, m, m.Seq)
		}
	}
}

// epochRuns writes spans as summary does, each run led by its epoch's
// place in left (E1, E2, ...) or "new".
func epochRuns(spans []span, left []string) string {
	out := ""
	for i := 0; i < len(spans); {
		j := i
		for j+1 < len(spans) && spans[j+1].epoch == spans[i].epoch {
			j++
		}
		name := "new"
		if k := slices.Index(left, spans[i].epoch); k >= 0 {
			name = "E" + string(rune('1'+k))
		}
		out += name + ":" + summary(spans[i:j+1]) + " "
		i = j + 1
	}
	return out
}

// loseLast does what a replica that took over without the last of sent
// would: the topic's seq and id are those of sent[0] and the stream ends
// there, while the mark, which the replica does not have, stays apart.
func loseLast(t *testing.T, admin *goredis.Client, keys []string, sent []broker.PublishResult) {
	t.Helper()
	ctx := ctxFor(t)
	if err := admin.HSet(ctx, keys[0], "seq", sent[0].Seq, "id", sent[0].ID).Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.XDel(ctx, keys[1], formatID(sent[1].Seq)).Err(); err != nil {
		t.Fatal(err)
	}
}

func formatID(seq uint64) string { return strconv.FormatUint(seq, 10) + "-0" }

// dumpKeys snapshots keys as a server that stopped replicating would keep
// them.
func dumpKeys(t *testing.T, admin *goredis.Client, keys []string) map[string]string {
	t.Helper()
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		v, err := admin.Dump(context.Background(), k).Result()
		if err != nil {
			t.Fatalf("DUMP %s: %v", k, err)
		}
		out[k] = v
	}
	return out
}

func restoreKeys(t *testing.T, admin *goredis.Client, dumps map[string]string) {
	t.Helper()
	for k, v := range dumps {
		if err := admin.RestoreReplace(context.Background(), k, 0, v).Err(); err != nil {
			t.Fatalf("RESTORE %s: %v", k, err)
		}
	}
}
