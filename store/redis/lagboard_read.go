package redis

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// lagLists are the other nodes' lists as this node read them last, by
// node, so that the board sends a list again only when it changed: a
// read of an unchanged board costs each node behind its id and gen.
type lagLists struct {
	mu    sync.Mutex
	known map[string]nodeTopics
}

type nodeTopics struct {
	gen    string
	topics []string // nil: all topics
}

// OthersBehind reads which topics the other nodes that said their
// delivery is behind are busy delivering, while their word holds: all
// of them when one of those nodes did not say which (all), or the union
// of their lists, sorted. No node behind: false and nil.
func (e *Engine) OthersBehind(ctx context.Context) (all bool, topics []string, err error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	l := &e.lagLists
	l.mu.Lock()
	defer l.mu.Unlock()
	args := make([]any, 0, 2+2*len(l.known))
	args = append(args, "others", e.probeID)
	for node, nt := range l.known {
		args = append(args, node, nt.gen)
	}
	reply, err := lagScript.Run(ctx, e.rdb, []string{e.keys.lagBehind(), e.keys.lagTopics()}, args...).StringSlice()
	if err != nil {
		return false, nil, fmt.Errorf("herald/redis: read nodes behind: %w", err)
	}
	read := make(map[string]nodeTopics, len(reply)/2)
	for i := 0; i+1 < len(reply); i += 2 {
		node, list := reply[i], reply[i+1]
		nt, ok := parseLagList(list)
		if !ok { // just the gen: the list this node has
			nt = l.known[node]
		}
		read[node] = nt
		all = all || nt.topics == nil
	}
	l.known = read
	if all {
		return true, nil, nil
	}
	for _, nt := range read {
		topics = append(topics, nt.topics...)
	}
	slices.Sort(topics)
	return false, slices.Compact(topics), nil
}

// parseLagList reads a node's list as lagScript returns it: "" (a node
// that lists no topics: all of them), "<gen>\n*", "<gen>\n<topics>"; not
// ok when it is a bare gen, the one the reader has.
func parseLagList(list string) (nodeTopics, bool) {
	if list == "" {
		return nodeTopics{}, true
	}
	gen, rest, ok := strings.Cut(list, "\n")
	if !ok {
		return nodeTopics{}, false
	}
	if rest == "*" {
		return nodeTopics{gen: gen}, true
	}
	return nodeTopics{gen: gen, topics: strings.Split(rest, "\n")}, true
}
