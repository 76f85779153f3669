package api_test

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
)

// TLS clients that never finish their handshake, sending nothing or their
// ClientHello a byte at a time, are closed by the deadline of a request's
// headers (net/http bounds the handshake by the least of the server's read
// and write timeouts, ReadHeaderTimeout being the least), and meanwhile
// the node serves everyone else. The test sets that deadline to
// stalledRequestDeadline and waits it, so it runs beside the others.
func TestUnfinishedTLSHandshakesAreClosed(t *testing.T) {
	t.Parallel()
	serverTLS, pool := selfSignedTLS(t)
	n := startNode(t, api.Config{TLS: serverTLS, ReadHeaderTimeout: stalledRequestDeadline}, nil)
	silent := idleConn(t, n.addr, "127.0.0.1")
	slow := idleConn(t, n.addr, "127.0.0.1")
	hello := clientHello(t)
	trickled := make(chan struct{})
	go func() { // ends when the server closes slow, or at its last byte
		defer close(trickled)
		for _, b := range hello[:len(hello)-1] {
			if _, err := slow.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	defer func() { slow.Close(); <-trickled }()

	a := mustConnect(t, n.wsURL, dialer{tls: &tls.Config{RootCAs: pool}})
	b := mustConnect(t, n.wsURL, dialer{tls: &tls.Config{RootCAs: pool}})
	b.subscribe("handshakes")
	a.send(`{"type":"publish","id":"p","topic":"handshakes","data":1}`)
	if got := b.read(); len(got) == 0 {
		t.Fatal("no delivery while TLS handshakes stall")
	}

	for name, c := range map[string]net.Conn{"silent": silent, "slow": slow} {
		// Well past the deadline, and short of the read and write
		// timeouts, 30 s, which would close it too late.
		if !closedWithin(c, 20*time.Second) {
			t.Fatalf("the %s handshake is still open after 20 s", name)
		}
	}
}

// clientHello is the first record a TLS client sends, its ClientHello
// (over a kilobyte with a post-quantum key share, so a client sending a
// byte every 100 ms is far from done at the deadline, and at 10 s).
func clientHello(t *testing.T) []byte {
	t.Helper()
	client, server := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tls.Client(client, &tls.Config{ServerName: "127.0.0.1"}).Handshake() // fails once server is closed
	}()
	defer func() { server.Close(); client.Close(); <-done }()
	header := make([]byte, 5)
	if _, err := io.ReadFull(server, header); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(header[3])<<8|int(header[4]))
	if _, err := io.ReadFull(server, body); err != nil {
		t.Fatal(err)
	}
	return append(header, body...)
}
