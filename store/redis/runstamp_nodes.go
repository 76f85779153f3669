package redis

import (
	"context"
	"errors"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"
)

// nodeStamp stamps the run keys of one Cluster node (runstamp_cluster.go)
// for the client go-redis keeps of it: each connection the client opens,
// before it serves; and, once a connection found the node a replica,
// before each command the client sends, on any of its connections, until
// the node is found a master and stamped. go-redis sends a promoted
// replica its commands on the connections it opened to it as a replica,
// to read the slot map, and no OnConnect runs for them. A replica gets no
// command but those reads, and one round trip more for each (every few
// seconds, clusterReload); a master that never was one, only an atomic
// load per command.
type nodeStamp struct {
	stamps *slotStamp
	client *goredis.Client
	// unsure is set when a connection found the node a replica: the
	// client may hold connections that would serve it, once promoted,
	// before any stamped it.
	unsure atomic.Bool
}

// newNodeClient is go-redis's NewClient of the Cluster clients: it builds
// the client of one node, opt, with its stamps.
func (s *slotStamp) newNodeClient(opt *goredis.Options) *goredis.Client {
	n := &nodeStamp{stamps: s}
	opt.OnConnect = n.onConnect
	n.client = goredis.NewClient(opt)
	n.client.AddHook(n)
	return n.client
}

// onConnect is the node's OnConnect: a connection that cannot stamp a
// master fails, closed before it serves, and with it the command that
// opened it.
func (n *nodeStamp) onConnect(ctx context.Context, cn *goredis.Conn) error {
	ctx = context.WithValue(ctx, settling{}, true) // cn's commands go through the hooks too, and stamp already
	replica, err := n.stamps.stamp(ctx, cn)
	if replica {
		n.unsure.Store(true)
	}
	return err
}

// settle stamps the node, if a connection found it a replica, before a
// command goes to it; its error fails the command, not sent.
func (n *nodeStamp) settle(ctx context.Context) error {
	if !n.unsure.Load() || ctx.Value(settling{}) != nil {
		return nil
	}
	ctx = context.WithValue(ctx, settling{}, true) // the stamp's own commands go through the hooks too
	cn := n.client.Conn()
	defer cn.Close()
	replica, err := n.stamps.stamp(ctx, cn)
	if err == nil && !replica {
		n.unsure.Store(false)
	}
	return err
}

// settling marks the context of settle's own commands.
type settling struct{}

func (n *nodeStamp) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (n *nodeStamp) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if err := n.settle(ctx); err != nil {
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

func (n *nodeStamp) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		if err := n.settle(ctx); err != nil {
			for _, cmd := range cmds {
				cmd.SetErr(err)
			}
			return err
		}
		return next(ctx, cmds)
	}
}

// pubSubClient is the twin of node's client, without the stamp, that the
// sharded pub/sub connections to it come from: they run no script, and a
// master full under noeviction after a restart refuses the stamp (see
// newClients). It is made at the first ask, and kept until close.
func (s *slotStamp) pubSubClient(node *goredis.Client) *goredis.Client {
	opt := *node.Options()
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.twins[opt.Addr]; ok {
		return c
	}
	opt.OnConnect = nil
	c := goredis.NewClient(&opt)
	s.twins[opt.Addr] = c
	return c
}

// close closes the twins pubSubClient made.
func (s *slotStamp) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for addr, c := range s.twins {
		errs = append(errs, c.Close())
		delete(s.twins, addr)
	}
	return errors.Join(errs...)
}
