package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/herald-broker/herald/broker"
	heraldnode "github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
	"github.com/herald-broker/herald/internal/redistest"
	"github.com/herald-broker/herald/store/redis"
	"go.uber.org/zap"
)

// BenchmarkSubscribePresence measures subscribes a second to new exact
// topics through a node on Redis, from 32 connections at once, on topics
// that keep presence (each subscribe also records a presence entry) and on
// topics that do not. The target: the rate with presence at least
// half the rate without (compare the two subs/s).
func BenchmarkSubscribePresence(b *testing.B) {
	srv := redistest.Start(b)
	for _, mode := range []struct {
		name    string
		pattern string
	}{{"off", "other.*"}, {"on", "room.*"}} {
		b.Run(mode.name, func(b *testing.B) {
			eng, err := redis.New(context.Background(), redis.Config{URL: srv.URL(), NodeID: "bench",
				Prefix: fmt.Sprintf("bench-%d:", time.Now().UnixNano()), Logger: zap.NewNop()})
			if err != nil {
				b.Fatal(err)
			}
			n := nodetest.Start(b, nodetest.Options{Engine: eng, Node: heraldnode.Config{NodeID: "bench",
				Broker: broker.Config{RateLimit: -1, MaxSubscriptions: 1 << 20, PresenceTopics: []string{mode.pattern},
					Logger: zap.NewNop()}}})
			const conns = 32
			clients := make([]net.Conn, conns)
			for i := range clients {
				clients[i] = benchDial(b, n.WS)
			}
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for i, c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := i; k < b.N; k += conns {
						if err := subscribeOnce(c, "room."+strconv.Itoa(k)); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "subs/s")
		})
	}
}

func benchDial(b *testing.B, url string) net.Conn {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, br, _, err := ws.Dial(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	if br != nil {
		ws.PutReader(br) // it can hold only the welcome, which nothing needs
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// subscribeOnce subscribes to topic and reads until its reply.
func subscribeOnce(c net.Conn, topic string) error {
	c.SetDeadline(time.Now().Add(wait))
	if err := wsutil.WriteClientText(c, []byte(`{"type":"subscribe","id":"s","topic":"`+topic+`"}`)); err != nil {
		return err
	}
	for {
		msg, err := wsutil.ReadServerText(c)
		if err != nil {
			return err
		}
		if bytes.Contains(msg, []byte(`"id":"s"`)) {
			if !bytes.Contains(msg, []byte(`"type":"subscribed"`)) {
				return fmt.Errorf("subscribe %s: %s", topic, msg)
			}
			return nil
		}
	}
}
