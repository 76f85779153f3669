package api_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/internal/testcert"
)

// tlsRun is one run of a test over plain TCP or over TLS: the node's and
// the client's TLS settings, nil for plain TCP.
type tlsRun struct {
	name   string
	server *tls.Config
	client *tls.Config
}

// plainAndTLS is a test's two runs, the TLS one with a self-signed
// certificate its client trusts.
func plainAndTLS(t *testing.T) []tlsRun {
	serverTLS, pool := selfSignedTLS(t)
	return []tlsRun{{"plain", nil, nil}, {"TLS", serverTLS, &tls.Config{RootCAs: pool}}}
}

// selfSignedTLS writes a certificate for 127.0.0.1 and its key into a
// temporary directory, loads them as HERALD_TLS_CERT and HERALD_TLS_KEY
// are, and returns the server's config and a pool that trusts it.
func selfSignedTLS(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	files := testcert.Write(t)
	pair, err := tls.LoadX509KeyPair(files.Cert, files.Key)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(files.CertPEM)
	return &tls.Config{Certificates: []tls.Certificate{pair}}, pool
}

func TestTLSServesWSSAndHTTPS(t *testing.T) {
	serverTLS, pool := selfSignedTLS(t)
	n := startNode(t, api.Config{TLS: serverTLS, Tokens: hsVerifier(t)}, nil)
	if !strings.HasPrefix(n.wsURL, "wss://") {
		t.Fatalf("url %s", n.wsURL)
	}
	clientTLS := &tls.Config{RootCAs: pool}
	c := mustConnect(t, n.wsURL+"?token="+hsToken(t, "u", everything), dialer{tls: clientTLS})
	c.subscribe("secure.news")
	// Token refusals are the same over TLS.
	mustRefuse(t, n.wsURL, dialer{tls: clientTLS}).wantError(t, http.StatusUnauthorized, "unauthorized")

	https := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: clientTLS}}
	defer https.CloseIdleConnections()
	resp, err := https.Post(n.base+"/api/publish", "application/json", strings.NewReader(`{"topic":"secure.news","data":"over tls"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Fatalf("https publish: %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	if m := c.read(); !strings.Contains(string(m), `"data":"over tls"`) {
		t.Fatalf("wss client read %s", m)
	}

	// Plain HTTP on the TLS port is told it is wrong (net/http's 400);
	// TLS older than 1.2 gets no answer at all.
	if resp, err := client.Get("http://" + n.addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain HTTP on the TLS port: %d", resp.StatusCode)
		}
	}
	old := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}}
	defer old.CloseIdleConnections()
	if _, err := old.Get(n.base + "/healthz"); err == nil {
		t.Fatal("TLS 1.1 was accepted")
	}
}
