package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-broker/herald/internal/redistest"
)

// Section 12: everything in sections 2-11 holds in every mode, wildcards
// included. Two herald processes share a Redis Cluster (three masters, a
// replica each), then a Sentinel set; sections 8 and 9 run on them as on
// one Redis (presenceSpec, controlSpec), beside checks written from
// PROTOCOL.md where a cluster could split what one Redis keeps together:
// first subscriptions, broadcasts, batches, idempotency keys, wildcards,
// resumes, /sse ids and webhooks over topics that live on each of the
// three masters, published on one node and read on the other; errors and
// history answered as one node alone answers them; a Redis that refuses
// writes; and a keyed publish retried across a failover.

func TestSpecContractOnRedisCluster(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t, 3, 1)
	contractInMode(t, redisMode{
		url: cluster.URL(),
		spread: func(prefix string) []string {
			var topics []string
			seen := map[*redistest.Node]bool{}
			for i := 0; len(topics) < 3; i++ {
				topic := fmt.Sprint(prefix, i)
				if master := cluster.MasterOfKey(topic); !seen[master] {
					seen[master] = true
					topics = append(topics, topic)
				}
			}
			return topics
		},
		servers: cluster.Nodes,
		failover: func(t *testing.T, topic string) {
			master := cluster.MasterOfKey(topic)
			replicated(t, master.Addr(), "wait{"+topic+"}")
			master.Kill()
			cluster.WaitOK()
		},
	})
}

func TestSpecContractOnRedisSentinel(t *testing.T) {
	t.Parallel()
	sentinel := redistest.StartSentinel(t)
	contractInMode(t, redisMode{
		url:     sentinel.URL(),
		spread:  func(prefix string) []string { return []string{prefix + "0", prefix + "1", prefix + "2"} },
		servers: sentinel.Servers,
		failover: func(t *testing.T, topic string) {
			replicated(t, sentinel.MasterAddr(), "wait")
			sentinel.WaitFailover(sentinel.KillMaster())
		},
	})
}

// redisMode is a Redis deployment as the checks use it.
type redisMode struct {
	url string
	// spread names three topics prefix0, prefix1, ... that on a Cluster
	// live on three different masters.
	spread func(prefix string) []string
	// servers lists the data servers, masters and replicas.
	servers func() []*redistest.Node
	// failover kills the master of topic once what it took is
	// replicated, and waits until its replica took over.
	failover func(t *testing.T, topic string)
}

// contractInMode runs the checks on two nodes sharing mode's Redis.
func contractInMode(t *testing.T, mode redisMode) {
	spread := mode.spread
	backend, url := startHookBackend(t, 0)
	env := append(presenceEnv(mode.url), "HERALD_WEBHOOK_URL="+url+"/webhook", "HERALD_WEBHOOK_VACATED_DELAY=300ms", "HERALD_HOOK_TIMEOUT=300ms")
	a, b := startProcess(t, "a", env...), startProcess(t, "b", env...)
	t.Run("first subscriptions", func(t *testing.T) { firstSubscriptions(t, a, b, spread) })
	t.Run("presence", func(t *testing.T) { presenceSpec(t, a, b) })
	t.Run("control", func(t *testing.T) { controlSpec(t, a, b) })
	t.Run("publishes across masters", func(t *testing.T) { publishesAcrossMasters(t, a, b, spread) })
	t.Run("resumes on the other node", func(t *testing.T) { resumesOnTheOtherNode(t, a, b, spread) })
	t.Run("webhooks across masters", func(t *testing.T) { webhooksAcrossMasters(t, backend, a, b, spread) })
	t.Run("compression across nodes", func(t *testing.T) { compressionAcrossNodes(t, a, b) })
	one := startProcess(t, "one", presenceEnv("")...)
	t.Run("answers as on one node", func(t *testing.T) { answersAsOnOneNode(t, a, one) })
	t.Run("history as on one node", func(t *testing.T) { historyAsOnOneNode(t, a, one) })
	t.Run("a full Redis", func(t *testing.T) { fullRedis(t, a, b, mode) })
	t.Run("an idempotent retry across a failover", func(t *testing.T) { retryAcrossAFailover(t, a, b, mode.failover) })
	t.Run("shutdown of a node", func(t *testing.T) { shutdownOfANode(t, backend, a, b, spread) })
}

// firstSubscriptions: the cluster's first pattern subscriptions, and a's
// first subscriptions to topics of each master, made by the backend
// (section 9) and by a token's subs, are announced with subscribed, "and
// then live messages": a publish on the other node right after the
// announcement reaches them. (On a Cluster, patterns need every node to
// publish on a channel it skips while no node holds one, and a topic's
// messages reach a only once it subscribed the topic on its master.)
func firstSubscriptions(t *testing.T, a, b *process, spread func(string) []string) {
	type first struct {
		sub, topic string
		bySubs     bool // a token's subs, or else /api/subscribe
		c          *client
	}
	firsts := []*first{{sub: "g.*", topic: spread("g.")[0]}, {sub: "h.*", topic: spread("h.")[1], bySubs: true}}
	for i, topic := range spread("x.") {
		firsts = append(firsts, &first{sub: topic, topic: topic, bySubs: i == 1})
	}
	for _, f := range firsts {
		if f.bySubs {
			f.c = wsOpen(t, a.ws+"?token="+specToken(t, jwt.MapClaims{"sub": "h", "subs": []string{f.sub}}), dialOpts{})
			continue
		}
		f.c = wsOpen(t, a.ws+"?token="+anyToken(t, "g"), dialOpts{})
		if code, body := rawPost(t, &b.node, "/api/subscribe", fmt.Sprintf(`{"session":%q,"topic":%q}`, f.c.session, f.sub)); code != http.StatusOK {
			t.Fatalf("/api/subscribe: %d %s", code, body)
		}
	}
	var wg sync.WaitGroup
	for _, f := range firsts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if m, ok := frameWithin(f.c); !ok || m.Type != "subscribed" || m.Topic != f.sub || !m.Server {
				t.Errorf("the first of %s: %s", f.sub, m.text)
				return
			}
			if code, body := rawPost(t, &b.node, "/api/publish", fmt.Sprintf(`{"topic":%q,"data":"right after"}`, f.topic)); code != http.StatusOK {
				t.Errorf("publish to %s: %d %s", f.topic, code, body)
				return
			}
			if m, ok := frameWithin(f.c); !ok || m.Type != "message" || m.Topic != f.topic || m.Pattern != strings.TrimPrefix(f.sub, f.topic) {
				t.Errorf("%s subscribed on a, then %s published on b: got %q", f.sub, f.topic, m.text)
			}
		}()
	}
	wg.Wait()
	for _, f := range firsts {
		f.c.quiet(f.sub + " after its message")
	}
}

// frameWithin is c's next frame, false when none came in time; unlike
// c.next it may be called from a goroutine of the test.
func frameWithin(c *client) (frame, bool) {
	select {
	case f, ok := <-c.frames:
		return f, ok
	case <-time.After(wait):
		return frame{}, false
	}
}

// anyToken may subscribe and publish to every topic.
func anyToken(t testing.TB, user string) string {
	return specToken(t, jwt.MapClaims{"sub": user, "allow": map[string][]string{"subscribe": {">"}, "publish": {">"}}})
}

// replicated returns once what the master at addr took so far reached a
// replica: WAIT after a write of key, which comes after them.
func replicated(t *testing.T, addr, key string) {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	if err := c.Set(t.Context(), key, "1", 0).Err(); err != nil {
		t.Fatalf("write to %s: %v", addr, err)
	}
	if n, err := c.Do(t.Context(), "WAIT", 1, 5000).Int(); err != nil || n < 1 {
		t.Fatalf("WAIT on %s: %d replicas, %v", addr, n, err)
	}
}
