package redis

import (
	"context"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// keptUp reports, while the replica is late, whether it acknowledged since
// the previous read of the role all the master had then, and more than
// when it was found late: a replica whose acknowledgements take longer
// than lateReplicaWait (one across regions, or busy) would otherwise
// never confirm a report again, while one stopped acknowledges nothing
// more. A previous read older than two of replicasFresh (reports were
// few) tells too little: one far behind would pass. Called with w.mu
// held.
func (e *Engine) keptUp(c *goredis.Client, role masterRole) bool {
	w := &e.repl
	if w.master != c || w.lateAck < 0 {
		w.lateAck = role.acked // the first read since: what it acknowledged then
		return false
	}
	return time.Since(w.readAt) <= 2*replicasFresh && role.acked > w.lateAck && role.acked >= w.role.offset
}

// masterRole is what ROLE says of a master: its replication offset, how
// many replicas it has, and the highest offset one of them acknowledged.
type masterRole struct {
	offset, acked int64
	replicas      int
}

// readRole asks the master c talks to for its role. A server that is not
// a master has no replica: the scripts it is sent fail.
func readRole(ctx context.Context, c *goredis.Client) (masterRole, error) {
	reply, err := c.Do(ctx, "ROLE").Slice()
	if err != nil {
		return masterRole{}, err
	}
	if len(reply) < 3 || reply[0] != "master" {
		return masterRole{}, nil
	}
	role := masterRole{offset: -1, acked: -1}
	role.offset, _ = reply[1].(int64)
	list, _ := reply[2].([]any)
	role.replicas = len(list)
	for _, r := range list {
		if fields, _ := r.([]any); len(fields) == 3 {
			s, _ := fields[2].(string)
			if acked, err := strconv.ParseInt(s, 10, 64); err == nil {
				role.acked = max(role.acked, acked)
			}
		}
	}
	return role, nil
}
