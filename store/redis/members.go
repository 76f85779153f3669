package redis

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/herald-broker/herald/broker"
)

// WatchMembers has fn told every join and leave this node's scripts
// publish: the ones its sessions cause, and those of the dead nodes it
// cleans up after. Each change of the cluster reaches exactly one node's
// fn, which is what the member_added and member_removed webhooks need
// (docs/protocol.md section 11). fn must not block.
func (e *Engine) WatchMembers(fn func(broker.PresenceChange)) {
	e.members.Store(&fn)
}

// membersChanged tells the watcher the changes whose payloads a presence
// script returned, each followed by its order, one after another; a reply
// that holds none (a count) tells nothing.
func (e *Engine) membersChanged(payloads string) {
	fn := e.members.Load()
	if fn == nil {
		return
	}
	for len(payloads) >= 2 && payloads[0] == '\n' {
		c, _, rest, err := parseChangePrefix(payloads)
		if err == nil {
			c.After, c.Seq, rest, err = parseOrder(rest)
		}
		var back lostPending
		if err == nil {
			back, rest, err = parseBack(rest)
		}
		if err != nil {
			e.log.Error("a presence script returned a malformed change")
			return
		}
		if back.keep > 0 && c.Join { // presence_lost_queue.go
			back.user, back.at = c.User, time.Now()
			e.pres.lostQueued.addBack(lostReport{c.Topic, c.Seq}, back)
		}
		(*fn)(c)
		payloads = rest
	}
}

// parseOrder reads the netstring "<after> <seq>" a presence script puts
// after a change it returns, and what follows it.
func parseOrder(s string) (after, seq uint64, rest string, err error) {
	text, tail, ok := strings.Cut(s, ":")
	n, err := strconv.Atoi(text)
	if !ok || err != nil || n < 0 || n > len(tail) {
		return 0, 0, "", fmt.Errorf("herald/redis: presence change order %q is malformed", s)
	}
	a, b, _ := strings.Cut(tail[:n], " ")
	if after, err = strconv.ParseUint(a, 10, 64); err == nil {
		seq, err = strconv.ParseUint(b, 10, 64)
	}
	if err != nil {
		return 0, 0, "", fmt.Errorf("herald/redis: presence change order %q: %w", tail[:n], err)
	}
	return after, seq, tail[n:], nil
}

// parseBack reads what the add script puts after the order of a join of
// a user whose lost join's leave may be unqueued (marked): "b" and the
// netstring of how long that leave may still be queued (ms), the
// master's term and the term before it, space-separated. It returns
// them as the keep, term and before of a lostPending, and a zero one and
// s when s does not start with it.
func parseBack(s string) (back lostPending, rest string, err error) {
	if !strings.HasPrefix(s, "b") {
		return lostPending{}, s, nil
	}
	text, tail, ok := strings.Cut(s[1:], ":")
	n, err := strconv.Atoi(text)
	if !ok || err != nil || n < 0 || n > len(tail) {
		return lostPending{}, "", fmt.Errorf("herald/redis: a join's mark of a leave taken over %q is malformed", s)
	}
	left, terms, _ := strings.Cut(tail[:n], " ")
	back.term, back.before, _ = strings.Cut(terms, " ")
	ms, err := strconv.ParseInt(left, 10, 64)
	if err != nil {
		return lostPending{}, "", fmt.Errorf("herald/redis: a join's mark of a leave taken over %q: %w", tail[:n], err)
	}
	back.keep = time.Duration(ms) * time.Millisecond
	return back, tail[n:], nil
}
