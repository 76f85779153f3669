package redistest

import (
	"net"
	"strconv"
	"testing"

	"github.com/herald-broker/herald/internal/testcert"
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
	certs := testcert.WriteChain(t, base)
	s := &TLSServer{caFile: certs.CA}
	s.Server = &Server{n: startNode(t, "redis-server (TLS)", base, false,
		func(_ int, dir string) []string {
			port, err := testport.Free()
			if err != nil {
				t.Fatalf("redistest: find a free port: %v", err)
			}
			s.tlsPort = port
			return []string{"--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no",
				"--tls-port", strconv.Itoa(port), "--tls-cert-file", certs.Cert, "--tls-key-file", certs.Key,
				"--tls-ca-cert-file", certs.CA, "--tls-auth-clients", "no"}
		})}
	return s
}

// TLSURL is the server's rediss:// URL.
func (s *TLSServer) TLSURL() string {
	return "rediss://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.tlsPort)) + "/0"
}

// CAFile is the PEM file of the CA that signed the server's certificate.
func (s *TLSServer) CAFile() string { return s.caFile }

// RequireClientCertificates has the server ask TLS clients for a
// certificate (tls-auth-clients yes), which clients of this CA have none
// of, and closes the connections made so far, so that each client meets
// the refusal on its next connection.
func (s *TLSServer) RequireClientCertificates() {
	s.n.t.Helper()
	if _, err := do(s.Addr(), "CONFIG", "SET", "tls-auth-clients", "yes"); err != nil {
		s.n.t.Fatalf("redistest: require client certificates: %v", err)
	}
	for _, typ := range []string{"normal", "pubsub"} {
		if _, err := do(s.Addr(), "CLIENT", "KILL", "TYPE", typ); err != nil {
			s.n.t.Fatalf("redistest: close the %s connections: %v", typ, err)
		}
	}
}
