package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// The run key, <prefix>run, names the Redis process that serves the
// engine (the start of its INFO run_id, new at every start of
// redis-server), so that the scripts can tell meta written by this
// process from meta it loaded. A topic's mark (see publishScript) stays
// out of replication and of the append-only file, but an RDB snapshot
// holds it: a server killed and started again from a snapshot older than
// its last publishes finds mark and seq alike, and without the run it
// would give again seqs it had acknowledged. With it, the scripts keep
// the run beside the mark, and a topic whose run is not the run key's
// starts a new epoch at its next publish, as one whose mark is not its
// seq does: every restart of the server, whatever it kept, breaks the
// epoch of each topic published to afterwards.
//
// Reading INFO in the publish script would cost every publish 2.8 µs of
// Redis's time (a trivial EVAL took 0.7 µs a call, 3.5 µs with an INFO
// server in it: redis-server 7.0, pipelined 16 deep), where reading the
// run key and keeping the run in meta cost it 0.8 µs (see
// publishScript). So the run key is kept right per connection instead:
// go-redis runs stampRun on every connection the clients that run
// scripts open, before it serves any command, and no connection outlives
// the process it was opened to. So whatever script runs on a connection, its
// server's run key names that server. It costs one round trip more per
// connection opened (INFO and GET in one), and a write when the run key
// changes. Pub/sub connections run no script and are not stamped (see
// newClients): a Redis full under noeviction after a restart refuses the
// write, and every connection that runs scripts with it, but delivers.
//
// Cluster has a run key per slot instead, as a topic's scripts reach only
// the keys its slot's master holds (runstamp_cluster.go).

// runLen is how much of the run_id the run key keeps: 64 random bits,
// which two starts of a server are as good as never alike in, where
// every byte more is one more in the meta of every topic.
const runLen = 16

// runStamp keeps the run key of every server the engine connects to.
type runStamp struct {
	key    string
	log    *zap.Logger
	warned atomic.Bool            // the engine logged that a server cannot be told apart
	logged atomic.Pointer[string] // the run the engine last logged setting
}

// errStamp wraps every failure of stampRun: the connection is closed
// before it served anything, so the command that wanted it was not sent.
var errStamp = errors.New("herald/redis: the new connection could not note its Redis run")

// stampRun is go-redis's OnConnect: it reads the server's INFO, and sets
// the run key to its run_id unless it holds it already. A sentinel, or a
// server that refuses INFO or the run key to the URL's user, is left as
// it is (logged once); any other failure fails the connection, and with
// it the command that opened it. A connection that could not note the
// run must not serve: the process it serves may take writes later (a
// replica promoted, a server done loading its data), under a run key
// that names another.
func (s *runStamp) stampRun(ctx context.Context, cn *goredis.Conn) error {
	var info, held *goredis.StringCmd
	_, _ = cn.Pipelined(ctx, func(p goredis.Pipeliner) error {
		info = p.Info(ctx, "server")
		held = p.Get(ctx, s.key)
		return nil
	})
	text, err := info.Result()
	if err != nil {
		return s.failed(cn, "INFO", err)
	}
	if mode := infoField(text, "redis_mode"); mode == "sentinel" || mode == "cluster" {
		return nil // a sentinel holds no data; a Cluster node is stamped by runstamp_cluster.go, through a Cluster URL
	}
	run := infoField(text, "run_id")
	if len(run) < runLen {
		s.cannotTell(cn, errors.New("its INFO names no run_id"))
		return nil
	}
	run = run[:runLen]
	was, err := held.Result()
	switch {
	case err == nil && was == run:
		return nil
	case err != nil && !errors.Is(err, goredis.Nil):
		return s.failed(cn, "GET", err)
	}
	if err := cn.Set(ctx, s.key, run, 0).Err(); err != nil {
		return s.failed(cn, "SET", err)
	}
	if last := s.logged.Swap(&run); last != nil && *last == run {
		return nil // connections opened together found the same change
	}
	msg := "another redis process serves the engine (a restart or a failover): each topic starts a new epoch at its next publish"
	if was == "" {
		msg = "noted the redis process that serves the engine"
	}
	s.log.Info(msg, zap.String("run", run), zap.String("was", was))
	return nil
}

// failed is stampRun's answer to err, from its cmd: nil for a refusal of
// the user's rights, or an INFO the server does not know (renamed away),
// which the engine lives with; else err, wrapped.
func (s *runStamp) failed(cn *goredis.Conn, cmd string, err error) error {
	var reply goredis.Error
	if errors.As(err, &reply) && (goredis.IsPermissionError(err) || (cmd == "INFO" && replyCode(reply.Error()) == "ERR")) {
		s.cannotTell(cn, fmt.Errorf("%s: %w", cmd, err))
		return nil
	}
	return fmt.Errorf("%w: %s: %w", errStamp, cmd, err)
}

// cannotTell logs, once, that the engine goes on without the run key.
func (s *runStamp) cannotTell(cn *goredis.Conn, err error) {
	if s.warned.CompareAndSwap(false, true) {
		s.log.Warn("cannot note which Redis process serves the engine: a Redis restarted from an RDB snapshot "+
			"older than its last publishes can give acknowledged seqs again (allow INFO and the run key to Herald's user)",
			zap.String("server", cn.String()), zap.String("key", s.key), zap.Error(err))
	}
}

// infoField finds "name:value" in an INFO reply.
func infoField(info, name string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), name+":"); ok {
			return v
		}
	}
	return ""
}
