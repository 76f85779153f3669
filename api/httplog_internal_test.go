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
	if len(w.others) > maxHandshakeReasons {
		t.Errorf("%d reasons remembered, want at most %d", len(w.others), maxHandshakeReasons)
	}
	// The 2 reasons of the first hour not warned of again are forgotten
	// as the table fills; the certificate's, an alert, is remembered
	// apart.
	if want := maxHandshakeReasons; warned != want {
		t.Errorf("%d of %d new reasons were warnings within an hour, want %d", warned, 2*maxHandshakeReasons, want)
	}
}

// What a client chooses and crypto/tls quotes in a reason (the versions,
// cipher suites and application protocols it offered, a record's
// version) makes no new reason, and the alerts clients answer with are
// remembered apart from the rest: however many reasons of its own a
// client sends within the hour, and whatever alerts, the first client to
// refuse the node's certificate is a warning.
func TestHandshakeWarningsOfTheClientsWordsLeaveRoomForAlerts(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	w := newHandshakeWarnings(func() time.Time { return now })
	chosen := []string{
		`tls: client requested unsupported application protocols (["%s"])`,
		"tls: client offered only unsupported versions: [%s]",
		"tls: no cipher suite supported by both client and server; client offered: [%s]",
		"tls: received record with version %s when expecting version 303",
	}
	for _, format := range chosen {
		warned := 0
		// What crypto/tls prints: hex (%x), or for the protocols any text.
		for _, word := range []string{"a", "b", "ab", "fe", "abcd", "a0a", "ffff"} {
			if w.first(fmt.Sprintf(format, word)) {
				warned++
			}
		}
		if warned != 1 {
			t.Errorf("%q: %d warnings for 7 of the client's, want 1", format, warned)
		}
	}
	for i := range 2 * maxHandshakeReasons { // fills the others' table
		w.first(fmt.Sprintf("tls: reason %c%c", 'a'+i%26, 'a'+i/26))
	}
	for code := range 256 {
		if code != 42 { // bad certificate
			w.first(fmt.Sprintf("remote error: tls: alert(%d)", code))
		}
	}
	for _, alert := range []string{"unknown certificate authority", "handshake failure", "protocol version"} {
		w.first("remote error: tls: " + alert)
	}
	if !w.first("remote error: tls: bad certificate") {
		t.Error("a client refusing the node's certificate was not a warning after a flood of other reasons and alerts")
	}
	if len(w.alerts) > maxAlertReasons {
		t.Errorf("%d alerts remembered, want at most %d", len(w.alerts), maxAlertReasons)
	}
}
