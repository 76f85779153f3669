package redistest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// masterName is the name the sentinels know the master by.
const masterName = "herald"

// Sentinel is a Redis master, one replica and three sentinels watching
// them (a quorum of two), all on loopback and stopped when the test ends.
type Sentinel struct {
	t         testing.TB
	servers   []*Node // [0] started as the master, [1] as its replica
	sentinels []*Node
}

// StartSentinel runs the master, its replica and the sentinels, and returns
// once the replica is in sync and every sentinel sees the master, the
// replica and the two other sentinels: from then on a killed master is
// failed over in a few seconds.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	base := t.TempDir() // removed after the processes stop
	s := &Sentinel{t: t}
	master := startNode(t, "sentinel's master", base, false,
		func(_ int, dir string) []string { return dataArgs(dir) })
	host, port := "127.0.0.1", strconv.Itoa(master.port)
	replica := startNode(t, "sentinel's replica", base, false,
		func(_ int, dir string) []string { return append(dataArgs(dir), "--replicaof", host, port) })
	s.servers = []*Node{master, replica}
	// A sentinel learns of replicas from its master's INFO every 10 s: one
	// started before the replica is attached would wait that long.
	waitFor(t, "replica in sync", func() error {
		if role, link := replication(replica.Addr()); role != "slave" || link != "up" {
			return fmt.Errorf("replica %s: role %q, link %q", replica.Addr(), role, link)
		}
		return nil
	})
	for i := range 3 {
		s.sentinels = append(s.sentinels, startNode(t, fmt.Sprintf("sentinel %d", i), base, false,
			func(_ int, dir string) []string { return sentinelArgs(t, dir, master.Addr()) }))
	}
	waitFor(t, "sentinels watching", s.watching)
	return s
}

// downAfter is how long a server may leave a sentinel's pings unanswered
// before the sentinel takes it for down (Redis's default is 30 s), which
// bounds how fast a killed master is failed over. At 1 s a busy machine
// (load 20 and more on 2 cores, as make test runs) had the sentinels fail
// over a master that was only slow, or a replica just promoted whose first
// pings went unanswered, and the Sentinel tests that followed failed; 2 s
// makes each failover a second longer.
const downAfter = 2 * time.Second

// sentinelArgs writes a sentinel's config file, which the sentinel rewrites
// as it learns, and returns its arguments. Failing over downAfter after the
// master falls silent keeps a failover test short.
func sentinelArgs(t testing.TB, dir, master string) []string {
	host, port, _ := strings.Cut(master, ":")
	conf := filepath.Join(dir, "sentinel.conf")
	text := fmt.Sprintf(`bind 127.0.0.1
sentinel monitor %[1]s %[2]s %[3]s 2
sentinel down-after-milliseconds %[1]s %[4]d
sentinel failover-timeout %[1]s 3000
sentinel parallel-syncs %[1]s 1
`, masterName, host, port, downAfter.Milliseconds())
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{conf, "--sentinel"} // the config file must come first
}

// URL is HERALD_REDIS_URL for this setup (docs/protocol.md section 12), with
// every sentinel.
func (s *Sentinel) URL() string {
	return "redis+sentinel://" + strings.Join(s.Addrs(), ",") + "/" + masterName
}

// Addrs are the sentinels' host:port addresses.
func (s *Sentinel) Addrs() []string {
	addrs := make([]string, len(s.sentinels))
	for i, n := range s.sentinels {
		addrs[i] = n.Addr()
	}
	return addrs
}

// MasterName is the name the sentinels know the master by.
func (s *Sentinel) MasterName() string { return masterName }

// Servers are the data servers: the first started as the master, the second
// as its replica. After a failover the sentinels may have swapped their roles.
func (s *Sentinel) Servers() []*Node { return slices.Clone(s.servers) }

// Sentinels are the three sentinel processes.
func (s *Sentinel) Sentinels() []*Node { return slices.Clone(s.sentinels) }

// MasterAddr is the master's address as a running sentinel gives it.
func (s *Sentinel) MasterAddr() string {
	s.t.Helper()
	for _, n := range s.sentinels {
		if addr, err := masterAddr(n.Addr()); err == nil {
			return addr
		}
	}
	s.t.Fatal("redistest: no sentinel gives the master's address")
	return ""
}

// KillMaster kills the current master with SIGKILL and returns its address,
// for WaitFailover.
func (s *Sentinel) KillMaster() string {
	s.t.Helper()
	addr := s.MasterAddr()
	for _, n := range s.servers {
		if n.Addr() == addr {
			n.Kill()
			return addr
		}
	}
	s.t.Fatalf("redistest: the sentinels' master %s is not one of ours", addr)
	return ""
}

// WaitFailover waits until every running sentinel names a master other than
// old, the same one, and that server says it is a master; it returns the
// new master's address.
func (s *Sentinel) WaitFailover(old string) string {
	s.t.Helper()
	var now string
	waitFor(s.t, "failover from "+old, func() error {
		now = ""
		for _, n := range s.sentinels {
			if !n.Running() {
				continue
			}
			addr, err := masterAddr(n.Addr())
			switch {
			case err != nil:
				return err
			case addr == old:
				return fmt.Errorf("sentinel %s still names %s", n.Addr(), old)
			case now != "" && addr != now:
				return fmt.Errorf("sentinels name %s and %s", now, addr)
			}
			now = addr
		}
		if role, _ := replication(now); role != "master" {
			return fmt.Errorf("%s is a %q, not yet a master", now, role)
		}
		return nil
	})
	return now
}

// WaitSynced waits until the sentinels agree on a master that says it is
// one, and every other running server replicates it, in sync and counted
// up by every sentinel: from then on a killed master has a replica to fail
// over to. A master killed and started again comes back empty and a master
// of its own until the sentinels make it a replica, 10 s or so later (they
// wait 8 s after they first see it claim to be a master, then act on their
// next INFO of it).
func (s *Sentinel) WaitSynced() {
	s.t.Helper()
	waitFor(s.t, "replicas in sync", s.synced)
}

// synced is nil once WaitSynced may return.
func (s *Sentinel) synced() error {
	master := ""
	for _, n := range s.sentinels {
		addr, err := masterAddr(n.Addr())
		switch {
		case err != nil:
			return err
		case master != "" && addr != master:
			return fmt.Errorf("sentinels name %s and %s", master, addr)
		}
		master = addr
	}
	if role, _ := replication(master); role != "master" {
		return fmt.Errorf("%s is a %q, not yet a master", master, role)
	}
	_, masterPort, _ := strings.Cut(master, ":")
	for _, n := range s.servers {
		if !n.Running() || n.Addr() == master {
			continue
		}
		info, err := doString(n.Addr(), "INFO", "replication")
		if err != nil {
			return fmt.Errorf("replica %s: %w", n.Addr(), err)
		}
		if port, link := infoField(info, "master_port"), infoField(info, "master_link_status"); port != masterPort || link != "up" {
			return fmt.Errorf("%s: master port %q, link %q; want %s, up", n.Addr(), port, link, masterPort)
		}
		if err := s.countedUp(n.Addr()); err != nil {
			return err
		}
	}
	return nil
}

// countedUp is nil once every sentinel lists replica as a replica that is
// neither down nor cut off from its master.
func (s *Sentinel) countedUp(replica string) error {
	for _, n := range s.sentinels {
		r, err := do(n.Addr(), "SENTINEL", "REPLICAS", masterName)
		if err != nil {
			return fmt.Errorf("sentinel %s: %w", n.Addr(), err)
		}
		list, _ := r.([]any)
		i := slices.IndexFunc(list, func(entry any) bool { return pairs(entry)["name"] == replica })
		if i < 0 {
			return fmt.Errorf("sentinel %s does not list replica %s", n.Addr(), replica)
		}
		if m := pairs(list[i]); m["flags"] != "slave" || m["master-link-status"] != "ok" {
			return fmt.Errorf("sentinel %s: replica %s flags %q, master link %q", n.Addr(), replica, m["flags"], m["master-link-status"])
		}
	}
	return nil
}

// watching is nil once every sentinel sees the master up, its replica, and
// the other sentinels (without them no failover gets a majority).
func (s *Sentinel) watching() error {
	for _, n := range s.sentinels {
		r, err := do(n.Addr(), "SENTINEL", "MASTER", masterName)
		if err != nil {
			return fmt.Errorf("sentinel %s: %w", n.Addr(), err)
		}
		m := pairs(r)
		if m["flags"] != "master" || m["num-slaves"] != "1" || m["num-other-sentinels"] != strconv.Itoa(len(s.sentinels)-1) {
			return fmt.Errorf("sentinel %s: flags %q, %s replicas, %s other sentinels",
				n.Addr(), m["flags"], m["num-slaves"], m["num-other-sentinels"])
		}
	}
	return nil
}

// masterAddr asks a sentinel for the master's address.
func masterAddr(sentinel string) (string, error) {
	r, err := do(sentinel, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterName)
	if err != nil {
		return "", err
	}
	hp, _ := r.([]any)
	if len(hp) != 2 {
		return "", fmt.Errorf("sentinel %s: master address %v", sentinel, r)
	}
	host, _ := hp[0].(string)
	port, _ := hp[1].(string)
	return host + ":" + port, nil
}
