package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/internal/testport"
)

var (
	buildOnce sync.Once
	heraldBin string
	buildErr  error
)

// heraldBinary builds cmd/herald once per test process.
func heraldBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "herald-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		heraldBin = filepath.Join(dir, "herald")
		out, err := exec.Command("go", "build", "-o", heraldBin, "../cmd/herald").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return heraldBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if heraldBin != "" {
		os.RemoveAll(filepath.Dir(heraldBin))
	}
	os.Exit(code)
}

// process is one herald process on a loopback port.
type process struct {
	node
	cmd *exec.Cmd
}

func freeAddr(t testing.TB) string {
	t.Helper()
	addr, err := testport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// startProcess runs herald with env and waits until it is ready.
func startProcess(t testing.TB, id string, env ...string) *process {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(heraldBinary(t))
	cmd.Env = append(os.Environ(), append(env, "HERALD_ADDR="+addr, "HERALD_NODE_ID="+id, "HERALD_LOG_FORMAT=console")...)
	cmd.Stdout, cmd.Stderr = testLog{t, id}, testLog{t, id}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{node: node{base: "http://" + addr, ws: "ws://" + addr + "/ws"}, cmd: cmd}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	eventually(t, id+" ready", func() bool { return status(t, p.base+"/readyz") == 200 })
	return p
}

// dyingNodeLapse is the presence lapse of a node a test kills to see the
// others clean up after it: they take it for dead that long after its
// last heartbeat, where the default (15 s) held each such test as long.
// The nodes that clean up keep the default, and TestSpecPresenceNodeDeath
// and TestSpecClusterNodeDeadAsTheHeartbeatsMasterDies hold a node with
// the default to the 30 s of section 8. A node beats every third of its
// lapse: 4 s leaves a busy machine 2.7 s of slack between two heartbeats
// before a live node would be taken for dead.
const dyingNodeLapse = "HERALD_PRESENCE_LAPSE=4s"

type testLog struct {
	t  testing.TB
	id string
}

func (l testLog) Write(p []byte) (int, error) {
	l.t.Logf("%s: %s", l.id, p)
	return len(p), nil
}

// A node dies by SIGKILL in the middle of a stream; its client resumes on
// another node and gets every message once, in order.
func TestClusterNodeKilledClientResumesElsewhere(t *testing.T) {
	redis := redistest.Start(t)
	env := []string{"HERALD_REDIS_URL=" + redis.URL(), "HERALD_HISTORY_SIZE=1000"}
	nodes := []*process{startProcess(t, "a", env...), startProcess(t, "b", env...), startProcess(t, "c", env...)}

	c := dial(t, nodes[0].ws)
	sub := c.subscribe("s", "ticker")
	const total = 300
	published := make(chan uint64, total)
	go func() {
		defer close(published)
		for i := 1; i <= total; i++ {
			published <- publish(t, &nodes[1+i%2].node, "ticker", strconv.Itoa(i))
		}
	}()
	last := sub.Seq
	for last < 50 {
		f := c.next()
		if f.Seq != last+1 {
			t.Fatalf("before the kill: seq %d after %d", f.Seq, last)
		}
		last = f.Seq
	}
	if err := nodes[0].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := c.closeCode(); code != 0 {
		t.Fatalf("a killed node sent close %d", code)
	}

	r := dial(t, nodes[2].ws)
	r.send(`{"type":"subscribe","id":"r","topic":"ticker","since":{"epoch":%q,"seq":%d}}`, sub.Epoch, last)
	if f := r.reply("r"); f.Recovered == nil || !*f.Recovered || f.Epoch != sub.Epoch {
		t.Fatalf("resume on another node: %+v", f)
	}
	var top uint64
	for seq := range published {
		top = max(top, seq)
	}
	if top != total {
		t.Fatalf("publishes reached seq %d, want %d", top, total)
	}
	for last < total {
		f := r.next()
		if f.Type != "message" || f.Seq != last+1 {
			t.Fatalf("after the resume: %s seq %d after %d", f.Type, f.Seq, last)
		}
		last = f.Seq
	}
	select {
	case f := <-r.frames:
		t.Fatalf("a message past the last one: %+v", f)
	case <-time.After(200 * time.Millisecond):
	}
}
