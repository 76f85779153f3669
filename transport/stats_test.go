package transport

import (
	"testing"

	"github.com/gobwas/ws"
)

// closeCount finds one entry of st.Closes.
func closeCount(t *testing.T, st Stats, byClient bool, code int) uint64 {
	t.Helper()
	for _, c := range st.Closes {
		if c.ByClient == byClient && c.Code == code {
			return c.Count
		}
	}
	t.Fatalf("no entry for code %d (by client: %v) in %+v", code, byClient, st.Closes)
	return 0
}

func TestStatsCountClosesBySideAndCode(t *testing.T) {
	forEachMode(t, func(t *testing.T, portable bool) {
		ts := startServer(t, portable, Config{})
		clients := make([]*rawClient, 7)
		for i := range clients {
			if i != 4 {
				clients[i] = dialRaw(t, ts.addr, nil)
			}
		}
		eventually(t, "six opened", func() bool { return len(ts.acc.all()) == 6 })
		clients[4] = dialRaw(t, ts.addr, nil) // last, so that its session is known
		eventually(t, "all opened", func() bool { return len(ts.acc.all()) == len(clients) })
		server4 := ts.acc.all()[6].c
		clients[0].write(frame(ws.OpClose, true, closeBody(1000, "bye")))
		clients[1].write(frame(ws.OpClose, true, nil))                 // no code: 1005
		clients[2].write(frame(ws.OpClose, true, closeBody(3000, ""))) // not counted by code
		clients[3].write(frame(ws.OpBinary, true, []byte{1}))          // refused by the server: 1003
		server4.Close(4001, "token expired")
		server4.Close(4003, "ignored: already closing")
		clients[5].nc.Close() // gone without a close frame: 1006
		for _, i := range []int{0, 1, 2, 3, 4} {
			if _, err := clients[i].readCloseCode(); err != nil {
				t.Fatalf("client %d: %v", i, err)
			}
		}
		eventually(t, "six gone", func() bool { return ts.srv.Connections() == 1 })

		st := ts.srv.Stats()
		want := []struct {
			byClient bool
			code     int
		}{{true, 1000}, {true, 1005}, {true, 0}, {false, 1003}, {false, 4001}, {true, 1006}}
		var total uint64
		for _, c := range st.Closes {
			total += c.Count
		}
		if total != uint64(len(want)) {
			t.Fatalf("%d closes counted, want %d: %+v", total, len(want), st.Closes)
		}
		for _, w := range want {
			if n := closeCount(t, st, w.byClient, w.code); n != 1 {
				t.Errorf("code %d by client %v counted %d times, want 1", w.code, w.byClient, n)
			}
		}
		if len(st.Closes) != 2*(len(CloseCodes)+1) {
			t.Errorf("%d entries, want every code on both sides", len(st.Closes))
		}
		if st.Connections != 1 {
			t.Errorf("Connections = %d, want 1", st.Connections)
		}
	})
}

func TestStatsCountFramesDroppedForSlowConsumer(t *testing.T) {
	stats := new(counters)
	c := newConn(nopDriver{}, &limits{maxText: 1 << 10, maxQueue: 100, closeTimeout: 1, heartbeat: 1, stats: stats})
	f := make([]byte, 40)
	for i := range 2 {
		if !c.Send(f) {
			t.Fatalf("frame %d within the bound refused", i)
		}
	}
	if c.Send(f) {
		t.Fatal("a frame over the bound was queued")
	}
	c.Close(4003, "ignored: already closing")
	batch := c.batch(nil, maxBatch) // the writer's next turn drops the queue
	if len(batch) != 1 {
		t.Fatalf("after the overflow the batch holds %d frames, want only the close frame", len(batch))
	}
	if n := stats.dropped.Load(); n != 2 {
		t.Fatalf("dropped %d frames, want the 2 queued", n)
	}
	if n := stats.closes[0][codeIndex(4000)].Load(); n != 1 {
		t.Fatalf("server 4000 closes = %d, want 1", n)
	}
	if n := stats.closes[0][codeIndex(4003)].Load(); n != 0 {
		t.Fatalf("a Close after the overflow was counted (%d)", n)
	}
}

func TestCountersNilCountsNothing(t *testing.T) {
	var s *counters
	s.closed(true, 1000) // must not panic: bare conns in tests carry none
	s.droppedFrames(3)
	if codeIndex(1234) != len(CloseCodes) || codeIndex(4004) != len(CloseCodes)-1 {
		t.Fatal("codeIndex does not send unknown codes to the last slot")
	}
}

// Every close code of docs/protocol.md section 6 has a series of its own,
// 4004 included: a backend's disconnects (section 9) were counted among
// the codes not listed, beside whatever codes clients chose.
func TestStatsCountEveryProtocolCloseCode(t *testing.T) {
	for _, code := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 4000, 4001, 4002, 4003, 4004} {
		if codeIndex(code) == len(CloseCodes) {
			t.Errorf("close code %d is counted as other", code)
		}
	}
}
