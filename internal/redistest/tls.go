package redistest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/testport"
)

// TLSServer is a Server that also takes TLS connections, on a port of
// their own, with a certificate for 127.0.0.1 signed by a CA of the test's
// (the plain port is the helpers' own).
type TLSServer struct {
	*Server
	tlsPort int
	caFile  string
}

// StartTLS runs redis-server as Start does, with TLS on a second port and
// no client certificate asked for. Clients trust its certificate through
// CAFile.
func StartTLS(t testing.TB) *TLSServer {
	t.Helper()
	base := t.TempDir()
	ca, cert, key := writeCerts(t, base)
	s := &TLSServer{caFile: ca}
	s.Server = &Server{n: startNode(t, "redis-server (TLS)", base, false,
		func(_ int, dir string) []string {
			port, err := testport.Free()
			if err != nil {
				t.Fatalf("redistest: find a free port: %v", err)
			}
			s.tlsPort = port
			return []string{"--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no",
				"--tls-port", strconv.Itoa(port), "--tls-cert-file", cert, "--tls-key-file", key,
				"--tls-ca-cert-file", ca, "--tls-auth-clients", "no"}
		})}
	return s
}

// TLSURL is the server's rediss:// URL.
func (s *TLSServer) TLSURL() string {
	return "rediss://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.tlsPort)) + "/0"
}

// CAFile is the PEM file of the CA that signed the server's certificate.
func (s *TLSServer) CAFile() string { return s.caFile }

// writeCerts writes into dir a CA and a certificate for 127.0.0.1 that it
// signed, with its key, and returns the three files' paths.
func writeCerts(t testing.TB, dir string) (ca, cert, key string) {
	t.Helper()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "redistest CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER := mustCert(t, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	srvKey := newKey(t)
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	srvDER := mustCert(t, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, cert, key = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	writePEM(t, ca, "CERTIFICATE", caDER)
	writePEM(t, cert, "CERTIFICATE", srvDER)
	writePEM(t, key, "EC PRIVATE KEY", keyDER)
	return ca, cert, key
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustCert(t testing.TB, tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) []byte {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatalf("redistest: certificate: %v", err)
	}
	return der
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
