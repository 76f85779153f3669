package broker

import (
	"encoding/hex"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkFanoutBesideACompressedResume publishes to a topic, one
// message at a time, while another connection, which negotiated
// permessage-deflate, resumes 100 messages of 9 KiB of the same topic
// again and again (about 900 KiB, near HERALD_MAX_RESUME_BYTES, of data
// that compresses poorly): how long a publish's fan-out waits for a
// resume going live under the topic's index lock (p99-us, max-us).
func BenchmarkFanoutBesideACompressedResume(b *testing.B) {
	br, _ := newTestBroker(b, Config{})
	live := br.Connect(&byteConn{}, ClientInfo{})
	addSub(br, live, "t", Position{Epoch: "e"}, true)
	rnd := rand.New(rand.NewPCG(1, 2))
	history := make([]*Message, 100)
	for i := range history {
		raw := make([]byte, 4600)
		for j := range raw {
			raw[j] = byte(rnd.Uint32())
		}
		history[i] = &Message{Topic: "t", Epoch: "e", Seq: uint64(i + 1), ID: "id", Data: []byte(`"` + hex.EncodeToString(raw) + `"`)}
	}
	stop := make(chan struct{})
	var resuming sync.WaitGroup
	resuming.Add(1)
	go func() { // ended and waited for below
		defer resuming.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			s := br.Connect(&byteConn{}, ClientInfo{Framing: FramingWebSocketDeflate})
			sub := addSub(br, s, "t", Position{Epoch: "e"}, false)
			br.goLive(sub, subStart{pos: Position{Epoch: "e", Seq: 100}, history: history})
			s.Disconnected()
		}
	}()
	m := &Message{Topic: "t", Epoch: "e", Seq: 100, ID: "id", Data: []byte(`{"text":"hi"}`)}
	var waits []time.Duration
	for b.Loop() {
		m.Seq++
		start := time.Now()
		br.HandleMessage(m)
		waits = append(waits, time.Since(start))
		time.Sleep(100 * time.Microsecond) // a publish now and then, not a loop that starves the resumes
	}
	close(stop)
	resuming.Wait()
	slices.Sort(waits)
	b.ReportMetric(float64(waits[len(waits)*99/100].Microseconds()), "p99-us")
	b.ReportMetric(float64(waits[len(waits)-1].Microseconds()), "max-us")
}
