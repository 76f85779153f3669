package api_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/herald-broker/herald/api"
)

// TestSSEStreamEndsWithItsCloseEvent: a stream the server closes is gone,
// its subscriptions and presence with it, once its close event is
// written, whether or not the client lets go of its socket then. There
// is no answer to wait for, as a WebSocket's close frame has: a stream
// stayed open until the client dropped its socket or the close deadline
// passed, so a user a backend disconnected, whose client read the close
// event and kept the response open (a program that has not closed its
// response yet), stayed present for 5 s.
func TestSSEStreamEndsWithItsCloseEvent(t *testing.T) {
	onEachPath(t, func(t *testing.T, portable bool) {
		// A queue bound of its own gives the node a 30 s close deadline,
		// which the test does not wait out.
		n := ssePathNode(t, api.Config{Tokens: hsVerifier(t)}, nil, 0, 1<<20, portable)
		tok := token(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{
			"sub": "u", "exp": time.Now().Add(time.Hour).Unix(),
			"allow": map[string][]string{"subscribe": {"chat.*"}},
		})
		s := mustOpenSSE(t, n.Base, "/sse?topic=chat.a&token="+tok)
		s.subscribed(t)
		resp, err := http.Post(n.Base+"/api/disconnect", "application/json", strings.NewReader(`{"user":"u"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if data := s.closeEvent(t, nil); data != `{"code":4004}` {
			t.Fatalf("close event %s", data)
		}
		deadline := time.Now().Add(10 * time.Second)
		for n.Broker.Stats().Streams != 0 || n.Broker.Stats().Subscriptions != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("the stream outlived its close event: %+v", n.Broker.Stats())
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// TestSSEStreamOfAClientStillSendingEndsCleanly: a stream closed while its
// client still sends (here with 1008, for sending at all) is not closed
// over the unread input, which would reset the connection: on a real
// network the reset can reach the client before it reads the close event,
// and its kernel then throws away what it had not read. The client's
// sending ends at the close deadline, 2 s here instead of 5: time enough
// to read the close event first on a busy machine.
func TestSSEStreamOfAClientStillSendingEndsCleanly(t *testing.T) {
	onEachPath(t, func(t *testing.T, portable bool) {
		n := ssePathNodeClosingIn(t, api.Config{}, nil, 0, 0, portable, 2*time.Second)
		c, err := net.Dial("tcp", n.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /sse?topic=a HTTP/1.1\r\nHost: x\r\n\r\n")
		sent := make(chan struct{})
		go func() { // ends with the connection at the latest
			defer close(sent)
			junk := strings.Repeat("j", 16<<10)
			for range 16 {
				if _, err := io.WriteString(c, junk); err != nil {
					return
				}
			}
		}()
		s := streamOn(t, c)
		if closed := s.closeEvent(t, nil); closed != `{"code":1008}` {
			t.Fatalf("close event %q", closed)
		}
		<-sent
		if _, err := s.next(); !errors.Is(err, io.EOF) {
			t.Fatalf("after the close event: %v, want the end of the stream", err)
		}
	})
}
