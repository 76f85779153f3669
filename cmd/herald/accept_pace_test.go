package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The connections one address opens are paced at accept, before a byte
// of theirs is read: at ten times the connect rate and burst on plain
// HTTP, at twice under TLS, where each would cost the node a handshake.
// The one past the burst is closed without a word, its TLS handshake never
// done, while another address still connects and upgrades.
func TestConnectionsArePacedAtAcceptBeforeTheirHandshake(t *testing.T) {
	const burst = 2
	cert, key, _ := selfSigned(t)
	for _, tc := range []struct {
		name       string
		env        map[string]string
		perConnect int
	}{
		{"plain", nil, 10},
		{"TLS", map[string]string{"HERALD_TLS_CERT": cert, "HERALD_TLS_KEY": key}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{
				"HERALD_CONNECT_RATE_PER_IP":  "0.01", // nothing refills while the test runs
				"HERALD_CONNECT_BURST_PER_IP": strconv.Itoa(burst),
			}
			for k, v := range tc.env {
				env[k] = v
			}
			base, _, _ := startNode(t, env)
			addr := strings.TrimPrefix(base, "http://")
			client := paceClient{t: t, addr: addr}
			if tc.env != nil {
				client.tls = trusting(t, cert)
			}
			for i := range tc.perConnect * burst {
				if err := client.open("127.0.0.1"); err != nil {
					t.Fatalf("connection %d of %d: %v", i+1, tc.perConnect*burst, err)
				}
			}
			err := client.open("127.0.0.1")
			if err == nil {
				t.Fatalf("connection %d was served: the pace is more than %d times the connect burst", tc.perConnect*burst+1, tc.perConnect)
			}
			if client.tls != nil && !errors.Is(err, errHandshake) {
				t.Fatalf("connection %d was closed after its TLS handshake, which the pace is to spare the node: %v", tc.perConnect*burst+1, err)
			}
			if code := client.upgrade("127.0.0.2"); code != http.StatusSwitchingProtocols {
				t.Fatalf("an upgrade from another address: status %d, want 101", code)
			}
		})
	}
}

// trusting is a client TLS config that trusts the certificate in certFile.
func trusting(t *testing.T, certFile string) *tls.Config {
	t.Helper()
	pemBytes, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("no certificate in " + certFile)
	}
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// paceClient opens connections to a node from a chosen loopback address,
// over TLS when tls is set.
type paceClient struct {
	t    *testing.T
	addr string
	tls  *tls.Config
}

// dial connects from the loopback address from; every 127/8 address is
// the loopback on Linux, so a test can be two clients.
func (c paceClient) dial(ctx context.Context, from string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil || c.tls == nil {
		return conn, err
	}
	tc := tls.Client(conn, c.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w: %w", errHandshake, err)
	}
	return tc, nil
}

// errHandshake wraps the error of a TLS handshake that failed.
var errHandshake = errors.New("handshake")

// open opens one connection from from and asks /healthz on it: an error
// when the node closed it before answering (under TLS, before the
// handshake was done).
func (c paceClient) open(from string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := c.dial(ctx, from)
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: herald\r\nConnection: close\r\n\r\n"); err != nil {
		return fmt.Errorf("request: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("answer: status %d", resp.StatusCode)
	}
	return nil
}

// upgrade asks for a WebSocket from from and returns the status; the
// connection stays open until the test ends.
func (c paceClient) upgrade(from string) int {
	c.t.Helper()
	scheme := "http"
	if c.tls != nil {
		scheme = "https"
	}
	req, err := http.NewRequest(http.MethodGet, scheme+"://"+c.addr+"/ws", nil)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	transport := &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
			return d.DialContext(ctx, "tcp", c.addr)
		},
		TLSClientConfig: c.tls,
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second, Transport: transport}).Do(req)
	if err != nil {
		c.t.Fatalf("upgrade from %s: %v", from, err)
	}
	c.t.Cleanup(func() { resp.Body.Close() })
	return resp.StatusCode
}
