package api_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/golang-jwt/jwt/v5"
	"github.com/herald-broker/herald/api/auth"
)

// testSecret is the HS256 key of the test nodes that check tokens.
var testSecret = []byte("herald-test-secret-of-32-bytes!!")

// hsVerifier checks HS256 tokens signed with testSecret.
func hsVerifier(t testing.TB) *auth.Verifier {
	t.Helper()
	v, err := auth.New(auth.Config{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// token signs claims with method and key.
func token(t testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// hsToken is an HS256 token for sub, valid for an hour, with allow (nil:
// no allow claim).
func hsToken(t testing.TB, sub string, allow map[string][]string) string {
	t.Helper()
	return hsTokenUntil(t, sub, allow, time.Now().Add(time.Hour))
}

func hsTokenUntil(t testing.TB, sub string, allow map[string][]string, exp time.Time) string {
	t.Helper()
	claims := jwt.MapClaims{"sub": sub, "exp": exp.Unix()}
	if allow != nil {
		claims["allow"] = allow
	}
	return token(t, jwt.SigningMethodHS256, testSecret, claims)
}

// everything allows every subscription and publish.
var everything = map[string][]string{"subscribe": {">"}, "publish": {">"}}

// dialer is how a test client connects: headers, TLS for wss://, and the
// loopback address it connects from (empty: the system's choice).
type dialer struct {
	header http.Header
	tls    *tls.Config
	from   string
}

// netDial connects from d.from, when set: on Linux every 127/8 address
// is the loopback, so a test can be two clients.
func (d dialer) netDial(ctx context.Context, network, addr string) (net.Conn, error) {
	nd := net.Dialer{}
	if d.from != "" {
		nd.LocalAddr = &net.TCPAddr{IP: net.ParseIP(d.from)}
	}
	return nd.DialContext(ctx, network, addr)
}

// dialURL connects a WebSocket client to url; on an HTTP refusal the
// error is a *refused holding the server's answer.
func dialURL(t *testing.T, url string, d dialer) (*wsClient, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var answer *refused
	wd := ws.Dialer{
		Header:    ws.HandshakeHeaderHTTP(d.header),
		TLSConfig: d.tls,
		NetDial:   d.netDial,
		OnStatusError: func(status int, _ []byte, resp io.Reader) {
			answer = readRefusal(status, resp)
		},
	}
	conn, br, _, err := wd.Dial(ctx, url)
	if answer != nil {
		return nil, answer
	}
	if err != nil {
		return nil, err
	}
	if br != nil {
		conn = bufferedConn{Conn: conn, r: io.MultiReader(br, conn)}
	}
	t.Cleanup(func() { conn.Close() })
	return &wsClient{t: t, conn: conn}, nil
}

// refused is a handshake answered with an HTTP error instead of 101.
type refused struct{ reply }

func (r *refused) Error() string { return "handshake refused: " + http.StatusText(r.status) }

func readRefusal(status int, resp io.Reader) *refused {
	r := &refused{reply{status: status}}
	hr, err := http.ReadResponse(bufio.NewReader(resp), nil)
	if err != nil {
		return r
	}
	defer hr.Body.Close()
	r.header = hr.Header
	r.body, _ = io.ReadAll(hr.Body)
	return r
}

// mustRefuse dials url and returns the server's HTTP refusal.
func mustRefuse(t *testing.T, url string, d dialer) reply {
	t.Helper()
	c, err := dialURL(t, url, d)
	var r *refused
	if !errors.As(err, &r) {
		if c != nil {
			t.Fatalf("%s: connected, want an HTTP refusal", url)
		}
		t.Fatalf("%s: %v, want an HTTP refusal", url, err)
	}
	return r.reply
}

// mustConnect dials url and reads the welcome.
func mustConnect(t *testing.T, url string, d dialer) *wsClient {
	t.Helper()
	c, err := dialURL(t, url, d)
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	if w := c.read(); !bytes.Contains(w, []byte(`"type":"welcome"`)) {
		t.Fatalf("first message %s is not a welcome", w)
	}
	return c
}

// bearerHeader carries tok as Authorization: Bearer.
func bearerHeader(tok string) dialer {
	return dialer{header: http.Header{"Authorization": {"Bearer " + tok}}}
}

// closeCode reads until the server's close frame and returns its code.
func (c *wsClient) closeCode() ws.StatusCode {
	c.t.Helper()
	for {
		_, err := c.next()
		var closed wsutil.ClosedError
		if errors.As(err, &closed) {
			return closed.Code
		}
		if err != nil {
			c.t.Fatalf("read %v, want a close frame", err)
		}
	}
}

// command sends msg and returns the reply, skipping messages.
func (c *wsClient) command(msg string) []byte {
	c.t.Helper()
	c.send(msg)
	for {
		r := c.read()
		if !bytes.Contains(r, []byte(`"type":"message"`)) {
			return r
		}
	}
}

// wantReply checks that reply is of type typ (and code, for an error).
func wantReply(t *testing.T, reply []byte, typ, code string) {
	t.Helper()
	if !bytes.Contains(reply, []byte(`"type":"`+typ+`"`)) || (code != "" && !bytes.Contains(reply, []byte(`"code":"`+code+`"`))) {
		t.Fatalf("reply %s, want %s %s", reply, typ, code)
	}
}
