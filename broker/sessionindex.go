package broker

import (
	"hash/maphash"
	"sync"
)

// sessionShards splits the session index over several locks, so that the
// connects and disconnects of many event loops rarely meet.
const sessionShards = 16

// sessionIndex finds this node's sessions by id and by user, for the
// backend's controls (docs/protocol.md section 9). It costs a connection one
// slot by id (sessionSet, 11 to 21 bytes), and an authenticated one a
// pointer in its user's list.
type sessionIndex struct {
	seed   maphash.Seed
	shards [sessionShards]sessionShard
}

type sessionShard struct {
	mu     sync.Mutex
	byID   sessionSet
	byUser map[string][]*Session // only users with a session here
}

func newSessionIndex() *sessionIndex {
	x := &sessionIndex{seed: maphash.MakeSeed()}
	for i := range x.shards {
		x.shards[i].byID = newSessionSet(x.seed)
		x.shards[i].byUser = make(map[string][]*Session)
	}
	return x
}

// idShard picks by the id's first byte, random in a version 4 uuid.
func (x *sessionIndex) idShard(id [16]byte) *sessionShard {
	return &x.shards[id[0]%sessionShards]
}

func (x *sessionIndex) userShard(user string) *sessionShard {
	return &x.shards[maphash.String(x.seed, user)%sessionShards]
}

// add records s under its id and, when it has one, its user.
func (x *sessionIndex) add(s *Session) {
	x.inShards(s, func(ids *sessionSet) { ids.add(s) }, func(sh *sessionShard, user string) {
		sh.byUser[user] = append(sh.byUser[user], s)
	})
}

// remove forgets s; removing it twice is harmless.
func (x *sessionIndex) remove(s *Session) {
	x.inShards(s, func(ids *sessionSet) { ids.remove(s) }, func(sh *sessionShard, user string) {
		sh.removeUserLocked(user, s)
	})
}

// inShards runs byID on the id set of s's id shard and then, when s has
// a user, byUser on its user's shard, each under that shard's lock.
func (x *sessionIndex) inShards(s *Session, byID func(*sessionSet), byUser func(sh *sessionShard, user string)) {
	sh := x.idShard(s.id)
	sh.mu.Lock()
	byID(&sh.byID)
	sh.mu.Unlock()
	user := s.subject()
	if user == "" {
		return
	}
	sh = x.userShard(user)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	byUser(sh, user)
}

// removeUserLocked takes s out of user's list, dropping the list when it
// empties. Called with sh.mu held.
func (sh *sessionShard) removeUserLocked(user string, s *Session) {
	list := sh.byUser[user]
	for i, have := range list {
		if have != s {
			continue
		}
		last := len(list) - 1
		list[i], list[last] = list[last], nil
		if last == 0 {
			delete(sh.byUser, user)
		} else {
			sh.byUser[user] = list[:last]
		}
		return
	}
}

// find returns the sessions a control names: the user's, or the one with
// the id session (a string that is no uuid names none).
func (x *sessionIndex) find(user, session string) []*Session {
	if user != "" {
		sh := x.userShard(user)
		sh.mu.Lock()
		defer sh.mu.Unlock()
		return append([]*Session(nil), sh.byUser[user]...)
	}
	id, ok := parseSessionID(session)
	if !ok {
		return nil
	}
	sh := x.idShard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s := sh.byID.find(id); s != nil {
		return []*Session{s}
	}
	return nil
}
