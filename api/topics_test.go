package api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"
	"github.com/herald-broker/herald/broker"
	heraldnode "github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
	"github.com/herald-broker/herald/transport"
)

// listingTopics is how many topics the node of the listing tests has
// subscribers for, each of 201 bytes: 6.9 MB of GET /api/topics, more
// than the sockets can hold for a reader that takes none of it, so that
// the node blocks writing. The node's send buffer is set
// (listingSendBuffer), and the readers set their own where they can;
// left to the kernel, the node's send buffer grew to some 4 MB here, and
// a node of 10,000 topics (2.3 MB) was never blocked. Each topic costs a
// subscribe, and the answer is read whole twice: 50,000 of them made the
// slowest test of the package.
const listingTopics = 30_000

// listingSendBuffer is the listing node's socket send buffer, the
// default (transport.DefaultSendBufferBytes), far less than the answer:
// left to the kernel, the buffer starts at net.ipv4.tcp_wmem's default
// and grows, and a host whose default is 8 MB took the whole answer
// without blocking.
const listingSendBuffer = transport.DefaultSendBufferBytes

// listingTopicsPerConn is how many of them one connection subscribes to:
// broker.DefaultMaxSubscriptions, which a session's list is made for.
const listingTopicsPerConn = broker.DefaultMaxSubscriptions

// GET /api/topics of a node with many topics: the node writes the answer
// as it reads its index, so that it never holds the whole of it, and it
// holds no lock of the index while it writes.
func TestTopicsListingOfManyTopics(t *testing.T) {
	n := startListingNode(t)
	topics := listingTopicNames(listingTopics)
	subscribeAll(t, n, topics)
	t.Run("HoldsLittleOfItsAnswer", func(t *testing.T) { listingHoldsLittle(t, n, topics) })
	t.Run("HalfClosedReaderGetsItAll", func(t *testing.T) { halfClosedGetsWholeListing(t, n, topics) })
	t.Run("StalledReaderHoldsNoSubscribeUp", func(t *testing.T) { stalledListingHoldsNothingUp(t, n) })
}

// listingHoldsLittle reads the whole answer and checks it. What the
// process allocates while the node answers, the test's own reads
// included, bounds how much the node's heap grew for it.
func listingHoldsLittle(t *testing.T, n *node, topics []string) {
	size := len(`{"topics":[]}`)
	for _, topic := range topics {
		size += len(`{"topic":"","subscribers":1},`) + len(topic)
	}
	buf := make([]byte, size+1) // one more: an answer that fills it is too long
	conn := dialTopics(t, n)
	answer := bufio.NewReaderSize(conn, 64<<10)

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	requestTopics(t, conn)
	resp, err := http.ReadResponse(answer, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadFull(resp.Body, buf)
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("read %d bytes of the answer (%v), want %d", got, err, size-1)
	}
	runtime.ReadMemStats(&after)

	body := buf[:got]
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d topics, %d bytes of answer, %d bytes allocated while it was written", len(topics), len(body), allocated)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	wantListing(t, body, topics)
	if allocated > uint64(len(body)/10) {
		t.Errorf("%d bytes allocated for an answer of %d, want a tenth of it at most", allocated, len(body))
	}
}

// wantListing checks that body is exactly {"topics":[...]} with each of
// topics once, with one subscriber.
func wantListing(t *testing.T, body []byte, topics []string) {
	t.Helper()
	var listing struct {
		Topics []broker.TopicCount `json:"topics"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if !json.Valid(body) || dec.Decode(&listing) != nil {
		t.Fatalf("the answer is not {\"topics\":[...]}: %.200s ... %.200s", body, body[max(0, len(body)-200):])
	}
	if len(listing.Topics) != len(topics) {
		t.Fatalf("%d topics listed, want %d", len(listing.Topics), len(topics))
	}
	want := make(map[string]bool, len(topics))
	for _, topic := range topics {
		want[topic] = true
	}
	for _, tc := range listing.Topics {
		if !want[tc.Topic] || tc.Subscribers != 1 {
			t.Fatalf("listed %+v: not a topic of one subscriber, or listed twice", tc)
		}
		delete(want, tc.Topic)
	}
}

// halfClosedGetsWholeListing sends the request and shuts down its side
// of the connection, as a client that has nothing more to send may
// (net/http cancels the request's context then), reads nothing until the
// node is blocked writing, then reads the answer: the whole listing,
// never a part of it ended as if it were whole.
func halfClosedGetsWholeListing(t *testing.T, n *node, topics []string) {
	conn := dialTopics(t, n)
	if err := conn.(*net.TCPConn).SetReadBuffer(256 << 10); err != nil {
		t.Fatal(err)
	}
	requestTopics(t, conn)
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	waitWriting(t, "api.(*Server).handleTopics")
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 64<<10), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %d bytes of the answer: %v", len(body), err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	t.Logf("%d bytes of answer read, ended as whole", len(body))
	wantListing(t, body, topics)
}

// stalledListingHoldsNothingUp asks for the listing and reads none of
// it, and once the node is blocked writing it subscribes to topics of
// every shard of the index, and to a pattern: each is answered at once,
// long before the write's deadline.
func stalledListingHoldsNothingUp(t *testing.T, n *node) {
	stalled := dialTopics(t, n)
	if err := stalled.(*net.TCPConn).SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	requestTopics(t, stalled)
	waitWriting(t, "api.(*Server).handleTopics")

	c := mustDial(t, n)
	c.subscribe("stalled.>")
	for i := range listingTopicsPerConn - 1 { // 64 shards: each missed with odds of 1 in 10^7
		c.subscribe(fmt.Sprintf("stalled.%d", i))
	}
}

// listingTopicNames returns count topics of 201 bytes each.
func listingTopicNames(count int) []string {
	topics := make([]string, count)
	for i := range topics {
		topics[i] = fmt.Sprintf("listing.%06d.%s", i, strings.Repeat("x", 186))
	}
	return topics
}

func startListingNode(t *testing.T) *node {
	nc := heraldnode.Config{
		NodeID: "test-node", MaxMessageBytes: testMaxMessageBytes,
		Broker: broker.Config{MaxSubscriptions: listingTopicsPerConn, RateLimit: -1},
	}
	nc.Transport.SendBufferBytes = listingSendBuffer
	n := nodetest.Start(t, nodetest.Options{Node: nc})
	return &node{srv: n.API, base: n.Base, addr: n.Addr, wsURL: n.WS, broker: n.Broker}
}

// subscribeAll subscribes to every one of topics, listingTopicsPerConn
// a connection, which sends them all at once (a session may have 1024
// commands waiting) and then reads their replies.
func subscribeAll(t *testing.T, n *node, topics []string) {
	t.Helper()
	var frames bytes.Buffer
	for len(topics) > 0 {
		mine := topics[:min(len(topics), listingTopicsPerConn)]
		topics = topics[len(mine):]
		c := mustDial(t, n)
		frames.Reset()
		for _, topic := range mine {
			wsutil.WriteClientText(&frames, []byte(`{"type":"subscribe","id":"s","topic":"`+topic+`"}`))
		}
		c.conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.conn.Write(frames.Bytes()); err != nil {
			t.Fatal(err)
		}
		replies := struct {
			io.Reader
			io.Writer
		}{bufio.NewReaderSize(c.conn, 64<<10), c.conn}
		for range mine {
			r, err := wsutil.ReadServerText(replies)
			if err != nil || !bytes.Contains(r, []byte(`"type":"subscribed"`)) {
				t.Fatalf("subscribe: %s %v", r, err)
			}
		}
	}
}

func dialTopics(t *testing.T, n *node) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", n.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(time.Minute))
	return conn
}

// requestTopics sends GET /api/topics on conn: from loopback with no API
// key configured, it needs none.
func requestTopics(t *testing.T, conn net.Conn) {
	t.Helper()
	if _, err := io.WriteString(conn, "GET /api/topics HTTP/1.1\r\nHost: herald\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
}

// waitWriting waits until a goroutine running fn is blocked writing to
// its socket.
func waitWriting(t *testing.T, fn string) {
	t.Helper()
	if !blockedWriting(fn, 10*time.Second) {
		t.Fatalf("no goroutine in %s blocked writing after 10 s", fn)
	}
}

// blockedWriting reports whether a goroutine running fn is blocked
// writing to its socket within the time given.
func blockedWriting(fn string, within time.Duration) bool {
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(within); ; time.Sleep(5 * time.Millisecond) {
		n := runtime.Stack(buf, true)
		for g := range strings.SplitSeq(string(buf[:n]), "\n\n") {
			if strings.Contains(g, fn) && strings.Contains(g, "waitWrite") {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}
