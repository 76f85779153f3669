package main

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/herald-broker/herald/internal/testcert"
)

// writeFile writes data into the test's temporary directory.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// selfSigned writes a certificate for 127.0.0.1 and its key as PEM files.
func selfSigned(t *testing.T) (certFile, keyFile string, pubPEM []byte) {
	t.Helper()
	f := testcert.Write(t)
	return f.Cert, f.Key, f.PublicKeyPEM
}

func TestRunLogsTheTokenAlgorithm(t *testing.T) {
	code, out := runWith(t, []string{"--addr=127.0.0.1:0", "--jwt-secret=short"}, nil)
	if code != exitOK || !strings.Contains(out, `"algorithm":"HS256"`) || !strings.Contains(out, "HERALD_JWT_SECRET is short") {
		t.Fatalf("short secret: exit %d, output %q", code, out)
	}
	if strings.Contains(out, "no JWT key") {
		t.Fatalf("a node with a secret warns that it has none: %q", out)
	}
	code, out = runWith(t, []string{"--addr=127.0.0.1:0", "--jwt-secret=" + strings.Repeat("k", 32)}, nil)
	if code != exitOK || strings.Contains(out, "is short") {
		t.Fatalf("32-byte secret: exit %d, output %q", code, out)
	}
	_, _, pub := selfSigned(t)
	code, out = runWith(t, []string{"--addr=127.0.0.1:0", "--jwt-public-key=" + writeFile(t, "pub.pem", pub)}, nil)
	if code != exitOK || !strings.Contains(out, `"algorithm":"ES256"`) {
		t.Fatalf("public key: exit %d, output %q", code, out)
	}
}

func TestRunBadGuardSettingsExit2(t *testing.T) {
	cert, key, pub := selfSigned(t)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"missing key file", []string{"--jwt-public-key=" + filepath.Join(t.TempDir(), "none.pem")}, "HERALD_JWT_PUBLIC_KEY"},
		{"not a PEM file", []string{"--jwt-public-key=" + writeFile(t, "x.pem", []byte("hello"))}, "HERALD_JWT_PUBLIC_KEY"},
		{"a private key", []string{"--jwt-public-key=" + key}, "HERALD_JWT_PUBLIC_KEY"},
		{"secret and key", []string{"--jwt-secret=s", "--jwt-public-key=" + writeFile(t, "p.pem", pub)}, "HERALD_JWT_SECRET and HERALD_JWT_PUBLIC_KEY"},
		{"missing TLS files", []string{"--tls-cert=" + filepath.Join(t.TempDir(), "c"), "--tls-key=" + key}, "HERALD_TLS_CERT"},
		{"key for another cert", []string{"--tls-cert=" + cert, "--tls-key=" + writeFile(t, "k.pem", pub)}, "HERALD_TLS_KEY"},
		{"one TLS file", []string{"--tls-cert=" + cert}, "HERALD_TLS_KEY"},
		{"a command rate past one a nanosecond", []string{"--command-rate-per-ip=2000000000"}, "HERALD_COMMAND_RATE_PER_IP"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runWith(t, append([]string{"--addr=127.0.0.1:0"}, tc.args...), nil)
			if code != exitBadSetting || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, output %q; want 2 naming %s", code, out, tc.want)
			}
		})
	}
}

func TestRunServesTLS(t *testing.T) {
	cert, key, _ := selfSigned(t)
	code, out := runWith(t, []string{"--addr=127.0.0.1:0", "--tls-cert=" + cert, "--tls-key=" + key}, nil)
	if code != exitOK || !strings.Contains(out, `"tls":true`) {
		t.Fatalf("exit %d, output %q", code, out)
	}
}

// One verifier checks tokens on /ws and in the broker's refresh command;
// with no key neither checks (a nil interface, not a nil *Verifier).
func TestOneVerifierForUpgradeAndRefresh(t *testing.T) {
	cfg, err := parseConfig([]string{"--jwt-secret=" + strings.Repeat("s", 32)}, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	g, err := newGuards(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// node.Build gives this one verifier to both api and the broker.
	if v := nodeConfig(cfg, g).Tokens; v == nil {
		t.Fatal("a JWT secret, yet no verifier")
	}
	cfg, _ = parseConfig(nil, envOf(nil), io.Discard)
	if g, err = newGuards(cfg); err != nil {
		t.Fatal(err)
	}
	if v := nodeConfig(cfg, g).Tokens; v != nil {
		t.Fatalf("no key, yet tokens are checked with %v", v)
	}
	if g.conns == nil || g.clientIP == nil {
		t.Fatal("the per-address limits are not built")
	}
}

// HERALD_JWT_ALLOW_NO_EXP reaches the verifier: a token without exp is
// refused unless it is set.
func TestJWTAllowNoExp(t *testing.T) {
	secret := strings.Repeat("s", 32)
	noExp, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u"}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	for _, allow := range []bool{false, true} {
		args := []string{"--jwt-secret=" + secret, "--jwt-allow-no-exp=" + strconv.FormatBool(allow)}
		cfg, err := parseConfig(args, envOf(nil), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		g, err := newGuards(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.tokens.Verify(noExp); (err == nil) != allow {
			t.Errorf("allow no exp %v: Verify gave %v", allow, err)
		}
	}
}
