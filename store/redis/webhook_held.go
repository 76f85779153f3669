package redis

import (
	"context"
	"sync"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Redis replicates asynchronously, so a failover can lose the last
// occupancy changes the old master took: a topic this node left stays
// listed as held by it on the new master, and no topic_vacated, nor a
// later topic_occupied, is ever queued for it while the node lives (or
// the other way round, a topic it holds is not listed). So the engine
// keeps the topics each node name it recorded holds, and after a
// reconnect, or after a webhook call failed (a failover of the {webhooks}
// master that no pub/sub connection saw), it sets Redis right: the topics
// it holds are occupied again (a topic the new master lacks gets its
// topic_occupied), and those Redis lists that it does not hold are let
// go, a topic no node holds then getting its topic_vacated at once, not
// after the delay: it was left before the failover, and a subscriber that
// comes now must find it vacated, to be reported. The backend may then be sent an event it was sent before
// the failover; the webhook sender leaves such repeats out.
type heldTopics struct {
	gate     sync.RWMutex // held for writing while Redis is set right
	mu       sync.Mutex   // guards nodes
	nodes    map[string]map[string]heldTopic
	troubles atomic.Uint64 // webhook calls that failed
	synced   [2]uint64     // reconnects and troubles when Redis was last set right; the resync's own
}

// heldTopic is what OccupyTopic was given for a topic, to give it again.
type heldTopic struct {
	occupied, vacated []byte
	max, maxWaiting   int
}

func (h *heldTopics) hold(node, topic string, t heldTopic) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.nodes == nil {
		h.nodes = make(map[string]map[string]heldTopic)
	}
	if h.nodes[node] == nil {
		h.nodes[node] = make(map[string]heldTopic)
	}
	h.nodes[node][topic] = t
}

func (h *heldTopics) leave(node, topic string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.nodes[node], topic) // the node's name stays, for its strays
}

// snapshot copies what each node name holds.
func (h *heldTopics) snapshot() map[string]map[string]heldTopic {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]map[string]heldTopic, len(h.nodes))
	for node, topics := range h.nodes {
		out[node] = make(map[string]heldTopic, len(topics))
		for t, v := range topics {
			out[node][t] = v
		}
	}
	return out
}

// resyncHeldTopics sets Redis right after a reconnect or a failed webhook
// call since the last time; a round that fails is tried again at the next.
func (e *Engine) resyncHeldTopics(ctx context.Context) {
	now := [2]uint64{e.stats.reconnects.Load(), e.held.troubles.Load()}
	if now == e.held.synced {
		return
	}
	e.held.gate.Lock() // no occupy or vacate in between
	defer e.held.gate.Unlock()
	held := e.held.snapshot()
	topics := 0
	for node, mine := range held {
		if err := e.resyncNode(ctx, node, mine); err != nil {
			e.log.Warn("webhook topics not checked against Redis; trying again", zap.Error(err))
			return
		}
		topics += len(mine)
	}
	e.held.synced = now
	e.log.Info("webhook topics checked against Redis", zap.Int("topics", topics))
}

// resyncNode occupies again the topics node holds and vacates those Redis
// lists as node's that it does not.
func (e *Engine) resyncNode(ctx context.Context, node string, mine map[string]heldTopic) error {
	k := e.keys
	for topic, t := range mine {
		rctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
		err := occupyScript.Run(rctx, e.rdb,
			[]string{k.webhooks("occ:" + topic), k.webhooks("vac"), k.webhooks("due"), k.webhooks("events"),
				k.webhooks("held:" + node), k.webhooks("silent")},
			node, topic, t.occupied, t.max, t.vacated, t.maxWaiting).Err()
		cancel()
		if err != nil {
			return err
		}
	}
	rctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	listed, err := e.rdb.HGetAll(rctx, k.webhooks("held:"+node)).Result()
	cancel()
	if err != nil {
		return err
	}
	for topic, vacated := range listed {
		if _, ok := mine[topic]; ok {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
		err := strayScript.Run(rctx, e.rdb,
			[]string{k.webhooks("occ:" + topic), k.webhooks("held:" + node), k.webhooks("silent"), k.webhooks("events")},
			node, topic, vacated).Err()
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

// strayScript: KEYS occ, held, silent, events; ARGV node, topic, event.
// Takes node out of the topic's holders, and queues its topic_vacated at
// once when no node holds it then (unless it was held silent).
var strayScript = goredis.NewScript(`
redis.call('HDEL', KEYS[2], ARGV[2])
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('HLEN', KEYS[1]) > 0 then return 0 end
if redis.call('SREM', KEYS[3], ARGV[2]) == 1 then return 0 end
redis.call('XADD', KEYS[4], '*', 'e', ARGV[3])
return 1
`)
