package broker

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
)

// byteConn counts the frames and bytes it is sent and keeps nothing.
type byteConn struct{ frames, bytes atomic.Int64 }

func (c *byteConn) Send(f []byte) bool {
	c.frames.Add(1)
	c.bytes.Add(int64(len(f)))
	return true
}
func (c *byteConn) Close(int, string) {}

// benchMessage is a message whose JSON text is 1 KiB: data shaped like an
// application's (a list of records with repeated keys), filled out to
// exactly 1024 bytes with the envelope.
func benchMessage() *Message {
	m := &Message{Topic: "market.eu", Epoch: "0c9f2b1e", Seq: 1_000_000, ID: "0b3e8f0e-6c1b-4f4e-9d7c-1f2e3d4c5b6a", Time: 1764074400123}
	envelope := len(AppendMessageJSON(nil, m, "")) // with empty data
	data := []byte(`{"quotes":[`)
	for i := 0; ; i++ {
		rec := `{"symbol":"SYM` + strconv.Itoa(1000+i*37) + `","bid":` + strconv.Itoa(10000+i*113%997) +
			`,"ask":` + strconv.Itoa(10007+i*131%991) + `,"volume":` + strconv.Itoa(i*7919%100000) + `,"venue":"XPAR"}`
		if envelope+len(data)+len(rec)+3 > 1024 {
			break
		}
		if i > 0 {
			data = append(data, ',')
		}
		data = append(data, rec...)
	}
	data = append(data, `],"n":"`...)
	for envelope+len(data)+2 < 1024 {
		data = append(data, 'x')
	}
	m.Data = append(data, `"}`...)
	return m
}

func TestBenchMessageIs1KiB(t *testing.T) {
	if n := len(AppendMessageJSON(nil, benchMessage(), "")); n != 1024 {
		t.Fatalf("the benchmark's message is %d bytes of JSON", n)
	}
}

// BenchmarkDeliveryDeflate measures one delivery of a message whose JSON
// text is 1 KiB, plain and with permessage-deflate, to 1, 100 and 10,000
// subscribers: bytes on the wire per delivery (the frame, deterministic)
// and CPU per delivery (the fan-out, and for deflate its one compression
// shared by all the subscribers).
func BenchmarkDeliveryDeflate(b *testing.B) {
	for _, framing := range []Framing{FramingWebSocket, FramingWebSocketDeflate} {
		for _, n := range []int{1, 100, 10_000} {
			b.Run(fmt.Sprintf("%v/%d", framing, n), func(b *testing.B) {
				br, _ := newTestBroker(b, Config{})
				conn := &byteConn{}
				for range n {
					s := br.Connect(conn, ClientInfo{Framing: framing})
					sub := &subscription{session: s, pattern: "market.eu", exact: true}
					s.addLocked(sub)
					br.index(sub)
				}
				conn.frames.Store(0)
				conn.bytes.Store(0)
				m := benchMessage()
				m.Seq = 1_000_000 // seqs of one width: every frame the same size
				b.ReportAllocs()
				for b.Loop() {
					m.Seq++
					br.HandleMessage(m)
				}
				deliveries := conn.frames.Load()
				b.ReportMetric(float64(conn.bytes.Load())/float64(deliveries), "wire-bytes/delivery")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(deliveries), "ns/delivery")
			})
		}
	}
}

// BenchmarkDeliveryDeflateThroughPatterns measures one delivery of the
// 1 KiB message to 100 deflate subscribers through one pattern, and
// through four (25 subscribers each), whose tagged texts share the
// compression of what follows the pattern (deflate_parts.go).
func BenchmarkDeliveryDeflateThroughPatterns(b *testing.B) {
	all := []string{"market.*", "*.eu", "market.>", ">"}
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("%dpatterns", n), func(b *testing.B) {
			br, _ := newTestBroker(b, Config{})
			conn := &byteConn{}
			for i := range 100 {
				s := br.Connect(conn, ClientInfo{Framing: FramingWebSocketDeflate})
				sub := &subscription{session: s, pattern: all[i%n]}
				s.addLocked(sub)
				br.index(sub)
			}
			conn.frames.Store(0)
			m := benchMessage()
			b.ReportAllocs()
			for b.Loop() {
				m.Seq++
				br.HandleMessage(m)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(conn.frames.Load()), "ns/delivery")
		})
	}
}
