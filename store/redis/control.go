package redis

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/herald-broker/herald/broker"
)

// Controls (docs/protocol.md section 9) go on the classic channel
// <prefix>control, which Redis Cluster too passes to every node, and into
// the stream <prefix>controls, which keeps the last maxControls of them.
// Each carries its stream ID. Pub/sub loses what is published while a
// node's connection is down, so after every reconnect the node reads the
// stream past the last control it handed over and hands over what it
// missed, if it is younger than controlCatchUp: a disconnect that comes
// much later could close a connection the user opened since.
const (
	maxControls    = 1000
	controlCatchUp = 10 * time.Second
)

// controlScript adds a control to the stream and publishes it with its ID.
//
// KEYS: the stream. ARGV: the control, the channel, the stream's bound.
// Returns the control's ID.
var controlScript = goredis.NewScript(`
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'c', ARGV[1])
redis.call('PUBLISH', ARGV[2], id .. '\n' .. ARGV[1])
return id
`)

// controlsSinceScript returns Redis's time (ms) and up to a bound of the
// controls after an ID, oldest first.
//
// KEYS: the stream. ARGV: the ID, the bound.
var controlsSinceScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return {now, redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', tonumber(ARGV[2]))}
`)

// controlCursor is where this node stands in the control stream: the ID
// of the last control it handed over, or before any, where the stream
// ended before the node first subscribed to the control channel. mu is
// held while a control is handed over, so that a catch-up and pub/sub
// never hand one over twice or out of order.
type controlCursor struct {
	mu   sync.Mutex
	last string // "": not known yet
	// owed says a break of the classic connection may have lost
	// controls that no catch-up has read yet (control_catchup.go);
	// since is when the first such break came. held are the controls
	// pub/sub brought meanwhile, "<id>\n<control>", oldest first.
	owed  bool
	since time.Time
	held  []string
	// breaks counts the breaks noted, so that a catch-up can tell that
	// one came while it read: its read does not pay that one's debt.
	breaks uint64
}

// controlWire is a Control as the stream and the channel carry it.
type controlWire struct {
	Kind    broker.ControlKind `json:"k"`
	User    string             `json:"u,omitempty"`
	Session string             `json:"s,omitempty"`
	Topic   string             `json:"t,omitempty"`
}

// Control adds c to the control stream and publishes it to every node
// whose classic pub/sub connection is subscribed to the control channel,
// which it is once the node subscribed anything.
func (e *Engine) Control(ctx context.Context, c broker.Control) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := broker.CheckControl(c); err != nil {
		return err
	}
	payload, err := json.Marshal(controlWire{Kind: c.Kind, User: c.User, Session: c.Session, Topic: c.Topic})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	err = controlScript.Run(ctx, e.rdb, []string{e.keys.controls()}, payload, e.keys.control(), maxControls).Err()
	if err != nil {
		return e.fail("control", err)
	}
	return nil
}

// dispatchControl hands a control from the control channel to the
// Handler, unless a catch-up handed it over already.
func (e *Engine) dispatchControl(payload string) {
	id, body, ok := strings.Cut(payload, "\n")
	if !ok {
		e.log.Error("dropped a malformed control")
		return
	}
	e.ctl.mu.Lock()
	defer e.ctl.mu.Unlock()
	if e.ctl.owed {
		e.holdControlLocked(payload)
		return
	}
	e.handControlLocked(id, body)
}

// handControlLocked hands the control body of stream ID id over if it
// comes after the last one. ctl.mu must be held.
func (e *Engine) handControlLocked(id, body string) {
	if e.ctl.last != "" && !idAfter(id, e.ctl.last) {
		return
	}
	var w controlWire
	c := broker.Control{}
	if err := json.Unmarshal([]byte(body), &w); err == nil {
		c = broker.Control{Kind: w.Kind, User: w.User, Session: w.Session, Topic: w.Topic}
	}
	e.ctl.last = id
	if broker.CheckControl(c) != nil {
		e.log.Error("dropped a malformed control", zap.String("id", id))
		return
	}
	if b := e.handler.Load(); b != nil {
		b.h.HandleControl(c)
	}
}

// markControls notes where the control stream ends, unless the node
// knows where it stands already. It runs before the node's first
// subscribe to the control channel, so that a catch-up after it hands
// over what was sent in between, and no control from before. It reads
// on a connection that needs no stamp (plainreads.go): it comes before
// the node's first subscribe of any topic, which failed while the
// stream's master was full after a restart, whichever master the
// topic was on.
func (e *Engine) markControls(ctx context.Context) error {
	e.ctl.mu.Lock()
	defer e.ctl.mu.Unlock()
	if e.ctl.last != "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	var newest []goredis.XMessage
	err := e.readPlain(e.masterOf(ctx, e.keys.controls()), func(c goredis.Cmdable) (err error) {
		newest, err = c.XRevRangeN(ctx, e.keys.controls(), "+", "-", 1).Result()
		return err
	})
	if err != nil {
		return err
	}
	e.ctl.last = "0-0"
	if len(newest) == 1 {
		e.ctl.last = newest[0].ID
	}
	return nil
}

// controlEntry reads an entry of the control stream: [id, ["c", body]].
func controlEntry(v any) (id, body string, ok bool) {
	pair, _ := v.([]any)
	if len(pair) != 2 {
		return "", "", false
	}
	id, _ = pair[0].(string)
	fields, _ := pair[1].([]any)
	if len(fields) != 2 {
		return "", "", false
	}
	body, _ = fields[1].(string)
	return id, body, id != ""
}

// idTime is the time part (ms) of a stream ID.
func idTime(id string) int64 {
	ms, _, _ := strings.Cut(id, "-")
	n, _ := strconv.ParseInt(ms, 10, 64)
	return n
}

// idAfter reports whether stream ID a comes after b.
func idAfter(a, b string) bool {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	an, _ := strconv.ParseUint(am, 10, 64)
	bn, _ := strconv.ParseUint(bm, 10, 64)
	if an != bn {
		return an > bn
	}
	x, _ := strconv.ParseUint(as, 10, 64)
	y, _ := strconv.ParseUint(bs, 10, 64)
	return x > y
}
