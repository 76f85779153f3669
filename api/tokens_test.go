package api_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/auth"
)

// Every way a token can be wrong is refused before the upgrade with 401,
// a Bearer challenge (challenge_test.go) and the reason in the body.
func TestBadTokensAreRefusedWithReason(t *testing.T) {
	n := startNode(t, api.Config{Tokens: hsVerifier(t)}, nil)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	hour := time.Now().Add(time.Hour).Unix()
	cases := []struct {
		name, query string
		d           dialer
		reason      string
	}{
		{"missing", "", dialer{}, "token required"},
		{"empty bearer", "", dialer{header: http.Header{"Authorization": {"Bearer "}}}, "token required"},
		{"malformed", "?token=not-a-jwt", dialer{}, "malformed"},
		{"bad signature", "?token=" + token(t, jwt.SigningMethodHS256, []byte("another-secret-of-32-bytes-long!"), jwt.MapClaims{"sub": "u", "exp": hour}), dialer{}, "bad signature"},
		{"expired", "?token=" + hsTokenUntil(t, "u", everything, time.Now().Add(-time.Minute)), dialer{}, "expired"},
		{"not yet valid", "?token=" + token(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "u", "exp": hour, "nbf": hour - 60}), dialer{}, "not valid yet"},
		{"wrong algorithm", "?token=" + token(t, jwt.SigningMethodHS384, testSecret, jwt.MapClaims{"sub": "u", "exp": hour}), dialer{}, "unexpected signing method"},
		{"alg none", "?token=" + token(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": "u", "exp": hour}), dialer{}, "unexpected signing method"},
		{"RS256 on an HS256 server", "?token=" + token(t, jwt.SigningMethodRS256, rsaKey, jwt.MapClaims{"sub": "u", "exp": hour}), dialer{}, "unexpected signing method"},
		{"bad bearer", "", bearerHeader("x.y.z"), "malformed"},
		{"no exp", "?token=" + token(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "u"}), dialer{}, "no exp"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRefuse(t, n.wsURL+tc.query, tc.d)
			msg := r.wantError(t, http.StatusUnauthorized, "unauthorized")
			if !strings.Contains(msg, tc.reason) {
				t.Fatalf("reason %q does not say %q", msg, tc.reason)
			}
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), `Bearer realm="herald"`) {
				t.Fatalf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestValidHS256TokenConnects(t *testing.T) {
	n := startNode(t, api.Config{Tokens: hsVerifier(t)}, nil)
	tok := hsToken(t, "42", map[string][]string{"subscribe": {"chat.*"}})
	for _, d := range []struct {
		query string
		d     dialer
	}{{"?token=" + tok, dialer{}}, {"", bearerHeader(tok)}} {
		c := mustConnect(t, n.wsURL+d.query, d.d)
		c.subscribe("chat.lobby")
	}
}

// publicKeyVerifier writes pub as a PEM PUBLIC KEY file and returns a
// verifier built from the file, as HERALD_JWT_PUBLIC_KEY is.
func publicKeyVerifier(t *testing.T, pub any) *auth.Verifier {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "jwt.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.New(auth.Config{PublicKeyPEM: data})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestPublicKeyTokensConnect(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pubDER := func(pub any) []byte {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	claims := jwt.MapClaims{"sub": "7", "exp": time.Now().Add(time.Hour).Unix(), "allow": everything}
	cases := []struct {
		name   string
		pub    any
		good   string
		forged string // HS256 signed with the public key's bytes as the secret
	}{
		{"RS256", &rsaKey.PublicKey, token(t, jwt.SigningMethodRS256, rsaKey, claims), token(t, jwt.SigningMethodHS256, pubDER(&rsaKey.PublicKey), claims)},
		{"ES256", &ecKey.PublicKey, token(t, jwt.SigningMethodES256, ecKey, claims), token(t, jwt.SigningMethodHS256, pubDER(&ecKey.PublicKey), claims)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := publicKeyVerifier(t, tc.pub)
			if v.Algorithm() != tc.name {
				t.Fatalf("algorithm %s", v.Algorithm())
			}
			n := startNode(t, api.Config{Tokens: v}, nil)
			mustConnect(t, n.wsURL+"?token="+tc.good, dialer{}).subscribe("any.thing")
			msg := mustRefuse(t, n.wsURL+"?token="+tc.forged, dialer{}).wantError(t, http.StatusUnauthorized, "unauthorized")
			if !strings.Contains(msg, "unexpected signing method") {
				t.Fatalf("forged HS256 token: %q", msg)
			}
		})
	}
}

// expiringSoon is the expiry of a token that runs out while its
// connection is open: JWT times are whole seconds.
func expiringSoon() time.Time { return time.Now().Add(2 * time.Second) }

func TestTokenExpiryClosesWith4001(t *testing.T) {
	t.Parallel()
	n := startNode(t, api.Config{Tokens: hsVerifier(t)}, nil)
	c := mustConnect(t, n.wsURL+"?token="+hsTokenUntil(t, "u", everything, expiringSoon()), dialer{})
	c.subscribe("news")
	if code := c.closeCode(); code != 4001 {
		t.Fatalf("close code %d, want 4001", code)
	}
}

func TestRefreshKeepsTheConnectionPastTheOldExpiry(t *testing.T) {
	t.Parallel()
	n := startNode(t, api.Config{Tokens: hsVerifier(t)}, nil)
	oldExp := expiringSoon()
	c := mustConnect(t, n.wsURL+"?token="+hsTokenUntil(t, "u", map[string][]string{"subscribe": {"a"}}, oldExp), dialer{})
	wider := hsToken(t, "u", map[string][]string{"subscribe": {"a", "b"}})
	wantReply(t, c.command(`{"type":"refresh","id":"6","token":"`+wider+`"}`), "refreshed", "")
	c.subscribe("b") // the new token's permissions are in force
	// JWT exp has one-second steps; a second past it the old token is gone.
	time.Sleep(time.Until(oldExp.Truncate(time.Second)) + time.Second)
	wantReply(t, c.command(`{"type":"ping","id":"p"}`), "pong", "")
}

func TestBadRefreshKeepsTheOldToken(t *testing.T) {
	t.Parallel()
	n := startNode(t, api.Config{Tokens: hsVerifier(t)}, nil)
	c := mustConnect(t, n.wsURL+"?token="+hsTokenUntil(t, "u", map[string][]string{"subscribe": {"a"}}, expiringSoon()), dialer{})
	forged := token(t, jwt.SigningMethodHS256, []byte("another-secret-of-32-bytes-long!"), jwt.MapClaims{"sub": "u", "exp": time.Now().Add(time.Hour).Unix(), "allow": everything})
	for _, bad := range []string{forged, "junk", hsToken(t, "someone-else", everything)} {
		wantReply(t, c.command(`{"type":"refresh","id":"r","token":"`+bad+`"}`), "error", "unauthorized")
	}
	wantReply(t, c.command(`{"type":"subscribe","id":"s","topic":"b"}`), "error", "forbidden")
	c.subscribe("a")
	if code := c.closeCode(); code != 4001 {
		t.Fatalf("close code %d, want 4001 at the old token's expiry", code)
	}
}

func TestAllowClaimGovernsSubscribeAndPublish(t *testing.T) {
	n := startNode(t, api.Config{Tokens: hsVerifier(t)}, nil)
	c := mustConnect(t, n.wsURL+"?token="+hsToken(t, "42", map[string][]string{
		"subscribe": {"chat.>", "user.42.*"},
		"publish":   {"chat.*"},
	}), dialer{})
	for _, allowed := range []string{"chat.a", "chat.*", "chat.>", "chat.a.b", "user.42.inbox", "user.42.*"} {
		c.subscribe(allowed)
	}
	for _, forbidden := range []string{">", "*.x", "chat", "user.*.inbox", "user.42.>", "news"} {
		wantReply(t, c.command(`{"type":"subscribe","id":"f","topic":"`+forbidden+`"}`), "error", "forbidden")
	}
	watcher := mustConnect(t, n.wsURL+"?token="+hsToken(t, "w", everything), dialer{})
	watcher.subscribe(">")
	for _, forbidden := range []string{"news", "chat.a.b", "user.42.inbox"} {
		wantReply(t, c.command(`{"type":"publish","id":"p","topic":"`+forbidden+`","data":1}`), "error", "forbidden")
	}
	wantReply(t, c.command(`{"type":"publish","id":"p","topic":"chat.a","data":"ok"}`), "published", "")
	// The watcher sees every topic: its first message is the allowed
	// publish, so none of the refused ones went out.
	if m := watcher.read(); !strings.Contains(string(m), `"topic":"chat.a"`) {
		t.Fatalf("the watcher's first message is %s", m)
	}
	var h struct{ Seq uint64 }
	n.get(t, "/api/history?topic=news").wantOK(t, &h)
	if h.Seq != 0 {
		t.Fatalf("news has seq %d after a refused publish", h.Seq)
	}
}

func TestNoAllowClaimConnectsButMayDoNothing(t *testing.T) {
	n := startNode(t, api.Config{Tokens: hsVerifier(t)}, nil)
	c := mustConnect(t, n.wsURL+"?token="+hsToken(t, "u", nil), dialer{})
	wantReply(t, c.command(`{"type":"subscribe","id":"s","topic":"a"}`), "error", "forbidden")
	wantReply(t, c.command(`{"type":"publish","id":"p","topic":"a","data":1}`), "error", "forbidden")
}

// Since 1.1 a token that never expires is refused, at the upgrade and in a
// refresh, unless HERALD_JWT_ALLOW_NO_EXP says otherwise.
func TestTokensWithoutExp(t *testing.T) {
	noExp := token(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "u", "allow": everything})
	strict := startNode(t, api.Config{Tokens: hsVerifier(t)}, nil)
	mustRefuse(t, strict.wsURL+"?token="+noExp, dialer{}).wantError(t, http.StatusUnauthorized, "unauthorized")
	c := mustConnect(t, strict.wsURL+"?token="+hsToken(t, "u", everything), dialer{})
	wantReply(t, c.command(`{"type":"refresh","id":"r","token":"`+noExp+`"}`), "error", "unauthorized")

	lenient, err := auth.New(auth.Config{Secret: testSecret, AllowNoExp: true})
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, api.Config{Tokens: lenient}, nil)
	mustConnect(t, n.wsURL+"?token="+noExp, dialer{}).subscribe("news")
}
