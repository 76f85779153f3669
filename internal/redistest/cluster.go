package redistest

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// clusterNodeTimeout is Redis Cluster's cluster-node-timeout here: how long
// a silent master lasts before its replica takes over. Redis's default of
// 15 s would make every failover test wait that long; well under a second
// risks failovers nobody asked for on a busy two-core CI machine.
const clusterNodeTimeout = 2 * time.Second

// Cluster is a Redis Cluster of redis-server processes on loopback, stopped
// with their files when the test ends.
type Cluster struct {
	t        testing.TB
	nodes    []*Node
	masters  int
	replicas int // per master
}

// StartCluster runs masters*(1+replicasPerMaster) cluster nodes, joins them
// with redis-cli --cluster create (which wants at least 3 masters), and
// returns once every node says cluster_state:ok, agrees on the slots, and
// every replica is in sync with its master.
func StartCluster(t testing.TB, masters, replicasPerMaster int) *Cluster {
	t.Helper()
	if masters < 3 || replicasPerMaster < 0 {
		t.Fatalf("redistest: StartCluster(%d, %d): redis-cli --cluster create wants at least 3 masters", masters, replicasPerMaster)
	}
	base := t.TempDir() // removed after the nodes stop: cleanups run last-in first-out
	c := &Cluster{t: t, masters: masters, replicas: replicasPerMaster}
	for i := range masters * (1 + replicasPerMaster) {
		c.nodes = append(c.nodes, startNode(t, fmt.Sprintf("cluster node %d", i), base, true,
			func(port int, dir string) []string {
				return append(dataArgs(dir),
					"--cluster-enabled", "yes",
					"--cluster-config-file", filepath.Join(dir, "nodes.conf"),
					"--cluster-node-timeout", strconv.Itoa(int(clusterNodeTimeout.Milliseconds())),
					// A replica takes over however long it was cut off from its
					// master, so a failover test never finds none willing.
					"--cluster-replica-validity-factor", "0")
			}))
	}
	c.create()
	waitFor(t, "cluster formed", c.formed)
	return c
}

// Nodes are all the cluster's nodes, in their start order.
func (c *Cluster) Nodes() []*Node { return slices.Clone(c.nodes) }

// Addrs are the nodes' host:port addresses, usable as seeds.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// URL is HERALD_REDIS_URL for this cluster (docs/protocol.md section 12), with
// every node as a seed.
func (c *Cluster) URL() string { return "redis+cluster://" + strings.Join(c.Addrs(), ",") }

// Slot is the hash slot of key (CLUSTER KEYSLOT, so a {hash tag} counts).
func (c *Cluster) Slot(key string) int {
	c.t.Helper()
	r, err := do(c.anyRunning().Addr(), "CLUSTER", "KEYSLOT", key)
	slot, ok := r.(int64)
	if err != nil || !ok {
		c.t.Fatalf("redistest: CLUSTER KEYSLOT %q: %v %v", key, r, err)
	}
	return int(slot)
}

// MasterOf is the node that masters slot, as a running node sees it. After
// a Kill or Restart, call WaitOK first.
func (c *Cluster) MasterOf(slot int) *Node {
	c.t.Helper()
	slots, err := clusterSlots(c.anyRunning().Addr())
	if err != nil {
		c.t.Fatalf("redistest: CLUSTER SLOTS: %v", err)
	}
	for _, r := range slots {
		if r.first <= slot && slot <= r.last {
			if n := c.node(r.master); n != nil {
				return n
			}
			c.t.Fatalf("redistest: slot %d is mastered by %s, not one of ours", slot, r.master)
		}
	}
	c.t.Fatalf("redistest: no master for slot %d", slot)
	return nil
}

// MasterOfKey is the node that masters key's slot.
func (c *Cluster) MasterOfKey(key string) *Node { return c.MasterOf(c.Slot(key)) }

// create joins the started nodes into one cluster.
func (c *Cluster) create() {
	c.t.Helper()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(c.replicas), "--cluster-yes")
	out, err := exec.Command(cliPath(c.t), args...).CombinedOutput()
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		logLine(c.t, "redis-cli --cluster create: "+sc.Text())
	}
	if err != nil {
		c.t.Fatalf("redistest: redis-cli --cluster create: %v", err)
	}
}

// cliPath finds redis-cli, installed beside redis-server.
func cliPath(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath(filepath.Join(filepath.Dir(ServerPath), "redis-cli")); err == nil {
		return p
	}
	p, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redistest: redis-cli not found (%v): install redis-server (apt-get install -y redis-server)", err)
	}
	return p
}

func (c *Cluster) running() []*Node {
	var out []*Node
	for _, n := range c.nodes {
		if n.Running() {
			out = append(out, n)
		}
	}
	return out
}

// anyRunning is a node that answers: running, and not paused.
func (c *Cluster) anyRunning() *Node {
	c.t.Helper()
	for _, n := range c.nodes {
		if n.answering() {
			return n
		}
	}
	c.t.Fatal("redistest: every cluster node is killed or paused")
	return nil
}

// node finds one of ours by address.
func (c *Cluster) node(addr string) *Node {
	for _, n := range c.nodes {
		if n.Addr() == addr {
			return n
		}
	}
	return nil
}
