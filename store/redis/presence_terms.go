package redis

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// A failover may lose the entries a live node added last, and that node
// adds them again once it sees its pub/sub connection replaced
// (resyncAfterReconnect), which may be seconds after another node checks
// the joins it sent (presence_lost.go): a slow new master, a reconnect
// later than the checker's, a resync that fails and is tried again each
// second. A user Redis does not list then may be a live node's, about to
// come back, and its leave would be false (and its member_removed,
// followed by a member_added). So each node tells, in the synced hash
// beside the registry, the terms of the masters whose data it knows
// holds its entries, and a check takes a join for lost only on a master
// whose term every live node tells.
//
// A master's term is its replication ID (INFO's master_replid): a
// replica promoted takes a new one, and so does a server that starts
// again without its data, so a term names the data a master holds, where
// the nodes' clocks would not. A node tells the term of a master it
// holds no entry on whenever it reads it (it has nothing there to lose),
// and the term of one it holds entries on only once a resync went
// through wholly within that term (read before and after it), or when
// it told that term already. On Cluster a failover changes one master's
// term, and only the checks of that master's topics wait. A node that
// told nothing (one older than the synced hash) is not waited for, nor
// one whose heartbeat lapsed: the cleanup after it, or the check, sends
// its users' leaves. A master whose INFO cannot be read (refused to the
// URL's user) has no term, and its checks wait for nobody, as before; a
// node that knows no master's term tells nothing, so that another whose
// user reads INFO does not wait for it.

// syncedTerms is what this node tells of the terms its entries are in.
type syncedTerms struct {
	mu   sync.Mutex
	told map[string]string // by master's address ("" off Cluster)
}

// masterTerms returns the term of each master the engine reaches, by
// address ("" off Cluster): "" for one that did not answer, or answered
// as a replica (a slot map not yet read again after a failover names
// the old master, whose INFO then gives its new master's term).
func (e *Engine) masterTerms(ctx context.Context) map[string]string {
	terms := make(map[string]string)
	read := func(ctx context.Context, c goredis.UniversalClient) string {
		ictx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
		defer cancel()
		info, err := c.Info(ictx, "replication").Result()
		if err != nil || infoField(info, "role") != "master" {
			return ""
		}
		return infoField(info, "master_replid")
	}
	if !e.shards.on() {
		terms[""] = read(ctx, e.rdb)
		return terms
	}
	var mu sync.Mutex
	_ = e.shards.cc.ForEachMaster(ctx, func(ctx context.Context, m *goredis.Client) error {
		t := read(ctx, m)
		mu.Lock()
		terms[m.Options().Addr] = t
		mu.Unlock()
		return nil
	})
	return terms
}

// entryMasters returns the masters this node holds entries on, by
// address ("" off Cluster); all is true when the slot map names no
// master for one of them, which may then be on any.
func (e *Engine) entryMasters(ctx context.Context) (masters map[string]bool, all bool) {
	masters = make(map[string]bool)
	for _, topic := range e.pres.entryTopics() {
		if !e.shards.on() {
			masters[""] = true
			break
		}
		addr := e.slotMasterOf(ctx, e.keys.presUsers(topic))
		if addr == "" {
			return masters, true
		}
		masters[addr] = true
	}
	return masters, false
}

// tellTerms updates the terms this node tells and writes them under its
// life. resynced holds the terms read before a resync that went through
// (nil otherwise): each still the same now is told. Of the others, a
// master's term is told when the node holds no entry there, or told it
// already; a master that did not answer keeps what was told of it. It
// reports whether a master the node holds entries on answered with a term
// it cannot tell: after a resync, one whose term was not read before it
// (a slot map read again during the resync, or a master that did not
// answer then), which another resync tells.
func (e *Engine) tellTerms(ctx context.Context, resynced map[string]string) (untold bool, err error) {
	now := e.masterTerms(ctx)
	held, anywhere := e.entryMasters(ctx) // read after the terms: an entry added in between counts
	s := &e.presTerms
	s.mu.Lock()
	told := make(map[string]string, len(now))
	for addr, t := range now {
		switch {
		case t == "":
			if old, ok := s.told[addr]; ok {
				told[addr] = old
			}
		case resynced[addr] == t || !held[addr] && !anywhere || s.told[addr] == t:
			told[addr] = t
		default:
			untold = true
		}
	}
	s.told = told
	list := make([]string, 0, len(told))
	for _, t := range told {
		list = append(list, t)
	}
	s.mu.Unlock()
	slices.Sort(list)
	wctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	if len(list) == 0 && !untold {
		// No master's term read, ever (INFO refused to the URL's user):
		// told as none, the node would be waited for by every check, on
		// every topic, where another node's user reads its master's term
		// in the script. One that read a term it cannot tell yet (its
		// entries not added back) tells none, and is waited for.
		if err := e.rdb.HDel(wctx, e.keys.presSynced(), e.pres.currentLife()).Err(); err != nil {
			return untold, fmt.Errorf("herald/redis: tell that this node knows no master's term: %w", err)
		}
		return untold, nil
	}
	if err := e.rdb.HSet(wctx, e.keys.presSynced(), e.pres.currentLife(), strings.Join(list, " ")).Err(); err != nil {
		return untold, fmt.Errorf("herald/redis: tell the terms of this node's entries: %w", err)
	}
	return untold, nil
}

// untellTerms removes what life told of its terms. A closing node calls
// it once more after its last presence round (Engine.Close): a round
// that ran beside leaveAll could write them back after leaveAll removed
// them, under a life gone from the registry that nobody would clean up
// after, and the hash would keep a field for each such close. The checks
// read only the live lives' fields, so a failure here is left alone.
func (e *Engine) untellTerms(ctx context.Context, life string) {
	dctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	if err := e.rdb.HDel(dctx, e.keys.presSynced(), life).Err(); err != nil {
		e.log.Debug("cannot remove the terms this node told", zap.Error(err))
	}
}

// forgetUnregisteredTerms removes the terms told under lives the
// registry does not hold: a write of a node's terms can reach Redis after
// the node closed and removed them (one whose reply timed out, so that
// Close did not wait for it, over a link that held it), and nobody cleans
// up after a life gone from the registry. The hash is read before the
// registry, and a node writes its terms only once its life is registered,
// so a life found in the hash and then not in the registry is gone (but
// for one whose registration failed, whose node writes its terms again
// once it is registered). Two reads of a few fields, once a round.
func (e *Engine) forgetUnregisteredTerms(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	lives, err := e.rdb.HKeys(rctx, e.keys.presSynced()).Result()
	if err != nil || len(lives) == 0 {
		return
	}
	scores, err := e.rdb.ZMScore(rctx, e.keys.presNodes(), lives...).Result()
	if err != nil || len(scores) != len(lives) {
		return
	}
	var gone []string
	for i, score := range scores {
		if score == 0 { // not in the registry: a heartbeat's score is a time
			gone = append(gone, lives[i])
		}
	}
	if len(gone) == 0 {
		return
	}
	if err := e.rdb.HDel(rctx, e.keys.presSynced(), gone...).Err(); err != nil {
		e.log.Debug("cannot remove the terms of nodes gone", zap.Error(err))
	}
}

// termsAllTell returns the terms every live node tells, space-separated,
// or "*" when no live node tells any (no check waits then): two reads
// per check, whatever the topics and users.
func (e *Engine) termsAllTell(ctx context.Context) (string, error) {
	rctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	lives, err := liveLivesScript.Run(rctx, e.rdb, []string{e.keys.presNodes()}).StringSlice()
	if err != nil {
		return "", fmt.Errorf("herald/redis: read the live nodes: %w", err)
	}
	if len(lives) == 0 {
		return "*", nil
	}
	told, err := e.rdb.HMGet(rctx, e.keys.presSynced(), lives...).Result()
	if err != nil {
		return "", fmt.Errorf("herald/redis: read the terms the live nodes tell: %w", err)
	}
	byLife := make(map[string]string, len(lives))
	for i, v := range told {
		if s, ok := v.(string); ok {
			byLife[lives[i]] = s
		}
	}
	return commonTerms(lives, byLife), nil
}

// longestLapse is the longest lapse of the live nodes, from leftMs, the
// longest time in ms until one's heartbeat lapses: a node beats every
// third of its lapse, each beat putting its lapse off to the lapse from
// then, so a node that beats in time has at least two thirds of it
// left. It is maxCountedLapse at most.
func longestLapse(leftMs int64) time.Duration {
	if leftMs <= 0 {
		return 0
	}
	if leftMs >= maxCountedLapse.Milliseconds()*2/3 { // also before it could overflow
		return maxCountedLapse
	}
	return time.Duration(leftMs) * time.Millisecond * 3 / 2
}

// maxCountedLapse is the longest lapse of another node read off the
// registry (noteOthers), and so the longest the records of lost joins'
// reported leaves are kept for (lostLeaveKeep) by a node whose own lapse
// is no longer: two hours at most. A registration showing a longer one is of a node
// misconfigured (the herald command allows 15 s at most), or read off a
// master whose clock went back since it was written, and counted as it
// shows, it had those records kept for months (a month's lapse, 540
// days), or, past some 20 years, overflowed the keep to less than
// nothing, which deleted each record as it was written, and every node
// reported the leave again. A node of a longer lapse whose check comes
// later than that after the first may report a leave again; its own
// records are kept for its own lapse.
const maxCountedLapse = 10 * time.Minute

// commonTerms returns the terms that every one of lives tells in told,
// space-separated; "*" when none of them tells any.
func commonTerms(lives []string, told map[string]string) string {
	var common []string
	telling := false
	for _, life := range lives {
		terms, ok := told[life]
		if !ok {
			continue // tells nothing: not waited for
		}
		mine := strings.Fields(terms)
		if !telling {
			common, telling = mine, true
			continue
		}
		common = slices.DeleteFunc(common, func(t string) bool { return !slices.Contains(mine, t) })
	}
	if !telling {
		return "*"
	}
	return strings.Join(common, " ")
}
