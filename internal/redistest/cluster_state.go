package redistest

import (
	"fmt"
	"net"
	"slices"
	"strconv"
)

// What a Cluster's nodes say about it: whether they agree and are in sync,
// read from CLUSTER INFO, CLUSTER SLOTS and INFO replication.

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

// slotRange is one line of CLUSTER SLOTS: slots first..last and the
// address of their master.
type slotRange struct {
	first, last int
	master      string
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
