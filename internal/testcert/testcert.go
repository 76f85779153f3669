// Package testcert writes certificates for 127.0.0.1 and their keys as
// PEM files, for tests of the TLS settings: self-signed (Write), or
// signed by a CA of the test's (WriteChain).
package testcert

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Files are a certificate and its key, written under the test's temporary
// directory, with the PEM texts a test may need besides.
type Files struct {
	Cert, Key    string // paths, as HERALD_TLS_CERT and HERALD_TLS_KEY take them
	CertPEM      []byte
	PublicKeyPEM []byte // the certificate's key as a PUBLIC KEY block
}

// Write makes an ECDSA P-256 certificate valid for an hour around now.
func Write(t testing.TB) Files {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "herald.test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der := mustCert(t, tmpl, tmpl, &key.PublicKey, key)
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := Files{
		Cert:         filepath.Join(dir, "cert.pem"),
		Key:          filepath.Join(dir, "key.pem"),
		CertPEM:      pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}),
	}
	if err := os.WriteFile(f.Cert, f.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.Key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}
