package redistest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
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

// slotRange is one line of CLUSTER SLOTS: slots first..last and the
// address of their master.
type slotRange struct {
	first, last int
	master      string
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

// dataArgs are the arguments of every data-holding node: loopback only and
// nothing persisted. Replication goes through an RDB file deleted once sent
// (a restart loads nothing): with Redis 7.0's diskless sync, a write made
// just after a replica's first sync was acknowledged by WAIT, yet missing
// from the replica that then took over.
func dataArgs(dir string) []string {
	return []string{"--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no",
		"--repl-diskless-sync", "no", "--rdb-del-sync-files", "yes",
		"--repl-diskless-load", "swapdb"}
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

// WaitOK waits until every running node says cluster_state:ok, they agree
// on who masters each slot, every such master runs, and every running
// replica is in sync. After the Kill of a master with a replica it returns
// once the replica has taken over (within a few seconds); after a Restart,
// once the node is back in the cluster.
func (c *Cluster) WaitOK() {
	c.t.Helper()
	waitFor(c.t, "cluster ok", c.settled)
}

func (c *Cluster) settled() error {
	var want []slotRange
	var seenBy string
	for _, n := range c.running() {
		info, err := doString(n.Addr(), "CLUSTER", "INFO")
		if err != nil {
			return fmt.Errorf("%s: %w", n.Addr(), err)
		}
		if state := infoField(info, "cluster_state"); state != "ok" {
			return fmt.Errorf("%s: cluster_state:%s", n.Addr(), state)
		}
		slots, err := clusterSlots(n.Addr())
		if err != nil {
			return fmt.Errorf("%s: %w", n.Addr(), err)
		}
		if want == nil {
			want, seenBy = slots, n.Addr()
		} else if !slices.Equal(slots, want) {
			return fmt.Errorf("%s sees other slot masters than %s", n.Addr(), seenBy)
		}
		if role, link := replication(n.Addr()); role == "slave" && link != "up" {
			return fmt.Errorf("%s: replica link %q", n.Addr(), link)
		}
	}
	covered := 0
	for _, r := range want {
		if m := c.node(r.master); m == nil || !m.Running() {
			return fmt.Errorf("slots %d-%d: master %s is not running", r.first, r.last, r.master)
		}
		covered += r.last - r.first + 1
	}
	if covered != 16384 {
		return fmt.Errorf("%d of 16384 slots covered", covered)
	}
	return nil
}

// formed is settled, and besides every node knows every other and every
// replica is attached.
func (c *Cluster) formed() error {
	if err := c.settled(); err != nil {
		return err
	}
	replicas := 0
	for _, n := range c.nodes {
		info, err := doString(n.Addr(), "CLUSTER", "INFO")
		if err != nil {
			return err
		}
		if got := infoField(info, "cluster_known_nodes"); got != strconv.Itoa(len(c.nodes)) {
			return fmt.Errorf("%s knows %s nodes of %d", n.Addr(), got, len(c.nodes))
		}
		if role, link := replication(n.Addr()); role == "slave" && link == "up" {
			replicas++
		}
	}
	if want := c.masters * c.replicas; replicas != want {
		return fmt.Errorf("%d of %d replicas in sync", replicas, want)
	}
	return nil
}

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

// clusterSlots reads CLUSTER SLOTS from addr, ordered by slot: each entry is
// [first, last, [ip, port, id, ...], replicas...].
func clusterSlots(addr string) ([]slotRange, error) {
	r, err := do(addr, "CLUSTER", "SLOTS")
	if err != nil {
		return nil, err
	}
	entries, _ := r.([]any)
	out := make([]slotRange, 0, len(entries))
	for _, e := range entries {
		f, _ := e.([]any)
		if len(f) < 3 {
			return nil, fmt.Errorf("CLUSTER SLOTS entry %v", e)
		}
		m, _ := f[2].([]any)
		if len(m) < 2 {
			return nil, fmt.Errorf("CLUSTER SLOTS master %v", f[2])
		}
		first, _ := f[0].(int64)
		last, _ := f[1].(int64)
		host, _ := m[0].(string)
		port, _ := m[1].(int64)
		if host == "" {
			host = "127.0.0.1" // a node that has not yet learnt its own address
		}
		out = append(out, slotRange{int(first), int(last), net.JoinHostPort(host, strconv.FormatInt(port, 10))})
	}
	slices.SortFunc(out, func(a, b slotRange) int { return a.first - b.first })
	return out, nil
}

// replication is a node's role and, for a replica, its master link status.
func replication(addr string) (role, link string) {
	info, err := doString(addr, "INFO", "replication")
	if err != nil {
		return "", ""
	}
	return infoField(info, "role"), infoField(info, "master_link_status")
}

// waitFor polls ready until it returns nil, and fails the test with its
// last error if that takes longer than waitTimeout.
func waitFor(t testing.TB, what string, ready func() error) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		err := ready()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: %s: not within %v: %v", what, waitTimeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitTimeout bounds each wait for a cluster or sentinels to settle.
const waitTimeout = 30 * time.Second
