package broker

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// BenchmarkFillSession fills one connection with n subscriptions, one
// subscribe at a time through HandleText and the session's worker, each
// waited for, and reports the CPU of one subscribe: with the
// subscriptions searched in a list from its start, it grew with those
// held, so that 50,000 on one connection (HERALD_MAX_SUBSCRIPTIONS raised)
// took minutes.
func BenchmarkFillSession(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 50_000} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			cmds := make([][]byte, n)
			for i := range cmds {
				cmds[i] = fmt.Appendf(nil, `{"type":"subscribe","id":"%d","topic":"fill.%d"}`, i, i)
			}
			for range b.N {
				b.StopTimer()
				br, _ := newTestBroker(b, Config{MaxSubscriptions: n, RateLimit: -1})
				conn := &replyConn{replied: make(chan struct{}, 1)}
				s := br.Connect(conn, ClientInfo{})
				<-conn.replied // the welcome
				b.StartTimer()
				for _, cmd := range cmds {
					s.HandleText(cmd)
					<-conn.replied
				}
				b.StopTimer()
				s.mu.Lock()
				held := int(s.nsubs)
				s.mu.Unlock()
				if held != n {
					b.Fatalf("%d subscriptions held, want %d", held, n)
				}
				s.Disconnected()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/subscribe")
		})
	}
}

// replyConn counts the frames it is sent and signals each.
type replyConn struct {
	frames  atomic.Int64
	replied chan struct{}
}

func (c *replyConn) Send([]byte) bool {
	c.frames.Add(1)
	c.replied <- struct{}{}
	return true
}

func (c *replyConn) Close(int, string) {}
