package redis

import (
	"context"
	"sync"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"
)

// Redis replicates asynchronously, so a failover can lose the last
// occupancy changes the old master took: a topic this node left stays
// listed as held by it on the new master, and no topic_vacated, nor a
// later topic_occupied, is ever queued for it while the node lives (or
// the other way round, a topic it holds is not listed). So the engine
// keeps the topics each node name it recorded holds, and after a
// reconnect, or after a webhook call failed (a failover of the {webhooks}
// master that no pub/sub connection saw), or once the {webhooks} slot is
// on another master (noteWebhooksMaster), it sets Redis right
// (webhook_resync.go): the topics it holds are occupied again (a topic
// the new master lacks gets its topic_occupied), and those Redis lists
// that it does not hold are let go, a topic no node holds then getting
// its topic_vacated at once, not after the delay: it was left before the
// failover, and a subscriber that comes now must find it vacated, to be
// reported. The backend may then be sent an event it was sent before
// the failover; the webhook sender leaves such repeats out.
type heldTopics struct {
	// gate is held for writing while a resync makes the topics to check
	// unchecked and while it checks a batch of them; OccupyTopic and
	// VacateTopic hold it for reading.
	gate  sync.RWMutex
	mu    sync.Mutex // guards nodes and unchecked
	nodes map[string]map[string]heldTopic
	// unchecked are, while a resync goes on, the topics of each node name
	// it has not checked yet: those the node held when it began, and those
	// Redis listed as the node's then (with their topic_vacated). A report
	// of one of them checks it first (checkFirst), so that every topic is
	// checked as it stood when the resync began, before any later change.
	unchecked map[string]map[string]listedTopic
	troubles  atomic.Uint64 // webhook calls that failed
	// unsure are, by node name, the topics whose vacating failed and is
	// to be tried again (see VacateTopic); mu guards it.
	unsure map[string]map[string]bool

	run    sync.Mutex // one resync at a time; guards synced and master
	synced [2]uint64  // reconnects and troubles when Redis was last set right; the resync's own
	// master is, on Cluster, the address of the {webhooks} slot's master
	// when a resync last looked ("": not yet). See noteWebhooksMaster.
	master string
}

// heldTopic is what OccupyTopic was given for a topic, to give it again.
type heldTopic struct {
	occupied, vacated []byte
	max, maxWaiting   int
}

// listedTopic is what Redis listed of a topic as a node's when a resync
// began: whether it did, and the topic_vacated kept with it.
type listedTopic struct {
	listed  bool
	vacated string
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
	delete(h.unsure[node], topic)
}

// failedToLeave notes that node's vacating of topic failed: Redis may
// have run it nonetheless.
func (h *heldTopics) failedToLeave(node, topic string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.unsure == nil {
		h.unsure = make(map[string]map[string]bool)
	}
	if h.unsure[node] == nil {
		h.unsure[node] = make(map[string]bool)
	}
	h.unsure[node][topic] = true
}

// leavingUnsure reports whether node's last vacating of topic failed.
func (h *heldTopics) leavingUnsure(node, topic string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.unsure[node][topic]
}

func (h *heldTopics) get(node, topic string) (heldTopic, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.nodes[node][topic]
	return t, ok
}

// names are the node names that held topics.
func (h *heldTopics) names() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.nodes))
	for node := range h.nodes {
		out = append(out, node)
	}
	return out
}

// begin makes the topics each node holds, and those listed (by node) as
// its in Redis, unchecked, and returns them by node. The gate must be
// held for writing. A node name that held topics since listed was read
// has none listed.
func (h *heldTopics) begin(listed map[string]map[string]string) map[string][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.unchecked = make(map[string]map[string]listedTopic, len(h.nodes))
	order := make(map[string][]string, len(h.nodes))
	for node := range h.nodes {
		inRedis := listed[node]
		pending := make(map[string]listedTopic, len(h.nodes[node])+len(inRedis))
		for topic := range h.nodes[node] {
			pending[topic] = listedTopic{}
		}
		for topic, vacated := range inRedis {
			pending[topic] = listedTopic{listed: true, vacated: vacated}
		}
		h.unchecked[node] = pending
		topics := make([]string, 0, len(pending))
		for topic := range pending {
			topics = append(topics, topic)
		}
		order[node] = topics
	}
	return order
}

// take takes topic out of node's unchecked topics; ok is false when it
// is not among them (no resync goes on, or it was checked already).
func (h *heldTopics) take(node, topic string) (listedTopic, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	l, ok := h.unchecked[node][topic]
	if ok {
		delete(h.unchecked[node], topic)
	}
	return l, ok
}

// putBack makes topics unchecked again after their check failed.
func (h *heldTopics) putBack(node string, topics map[string]listedTopic) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.unchecked[node] == nil {
		return // a new resync began meanwhile
	}
	for topic, l := range topics {
		h.unchecked[node][topic] = l
	}
}

// checkCall is the script that sets topic right for node, given what
// Redis listed of it when the resync began; ok is false when there is
// nothing to set right (node neither holds it nor was listed). Run under
// the gate: for writing, or for reading by the report of that topic.
func (e *Engine) checkCall(node, topic string, l listedTopic) (call scriptRun, ok bool) {
	k := e.keys
	if t, held := e.held.get(node, topic); held {
		return scriptRun{occupyScript,
			[]string{k.webhooks("occ:" + topic), k.webhooks("vac"), k.webhooks("due"), k.webhooks("events"),
				k.webhooks("held:" + node), k.webhooks("silent")},
			[]any{node, topic, t.occupied, t.max, t.vacated, t.maxWaiting}}, true
	}
	if !l.listed {
		return scriptRun{}, false
	}
	return scriptRun{strayScript,
		[]string{k.webhooks("occ:" + topic), k.webhooks("held:" + node), k.webhooks("silent"), k.webhooks("events")},
		[]any{node, topic, l.vacated}}, true
}

// checkFirst checks topic for node when a resync goes on and has not
// yet, before a report changes it: the change must come after the check,
// as it would have had it waited for the whole resync. The gate must be
// held for reading. Only that report touches the topic meanwhile (the
// reports of one topic come one after another).
func (e *Engine) checkFirst(ctx context.Context, node, topic string) error {
	l, ok := e.held.take(node, topic)
	if !ok {
		return nil
	}
	call, ok := e.checkCall(node, topic, l)
	if !ok {
		return nil
	}
	if err := e.runWebhook(ctx, call.script, call.keys, call.args...).Err(); err != nil {
		e.held.putBack(node, map[string]listedTopic{topic: l})
		return err
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
