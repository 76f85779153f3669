package api

import (
	"fmt"
	"testing"
	"time"
)

// A reason of failed handshakes is a warning once an hour: again after an
// hour, so that an expired certificate is heard of though a scanner's
// handshakes of the same reason came before; reasons that differ only in
// their connection's addresses or numbers are one; and past
// maxHandshakeReasons an hour, new reasons are not warnings.
func TestHandshakeWarningsOncePerReasonAnHour(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	w := newHandshakeWarnings(func() time.Time { return now })
	if !w.first("remote error: tls: bad certificate") {
		t.Fatal("the first failed handshake was not a warning")
	}
	if w.first("remote error: tls: bad certificate") {
		t.Fatal("a second of the same reason was a warning")
	}
	if !w.first("read tcp 127.0.0.1:8443->10.0.0.1:50312: read: connection reset by peer") {
		t.Fatal("a new reason was not a warning")
	}
	if w.first("read tcp 127.0.0.1:8443->10.0.0.2:40111: read: connection reset by peer") {
		t.Fatal("the same reason from another connection was a warning")
	}
	if w.first("tls: client offered only unsupported versions: [301]") != true ||
		w.first("tls: client offered only unsupported versions: [302 301]") {
		t.Fatal("unsupported versions: want a warning for the first only")
	}
	now = now.Add(handshakeWarnEvery - time.Second)
	if w.first("remote error: tls: bad certificate") {
		t.Fatal("a reason was a warning again within the hour")
	}
	now = now.Add(time.Second)
	if !w.first("remote error: tls: bad certificate") {
		t.Fatal("a reason was not a warning again an hour later")
	}
	warned := 0
	for i := range 2 * maxHandshakeReasons {
		if w.first(fmt.Sprintf("reason %c", 'A'+i)) {
			warned++
		}
	}
	if len(w.at) > maxHandshakeReasons {
		t.Errorf("%d reasons remembered, want at most %d", len(w.at), maxHandshakeReasons)
	}
	// The 2 reasons of the first hour not warned of again are forgotten
	// as the table fills; the certificate's, warned of again, stays.
	if want := maxHandshakeReasons - 1; warned != want {
		t.Errorf("%d of %d new reasons were warnings within an hour, want %d", warned, 2*maxHandshakeReasons, want)
	}
}
