package api_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herald-broker/herald/api"
)

// selfSignedTLS writes a certificate for 127.0.0.1 and its key into a
// temporary directory, loads them as HERALD_TLS_CERT and HERALD_TLS_KEY
// are, and returns the server's config and a pool that trusts it.
func selfSignedTLS(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "herald.test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
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
