package api

import (
	"net"
	"regexp"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// tlsHandshakeFailed begins net/http's line for a connection whose TLS
// handshake failed; the peer's address and the reason follow.
const tlsHandshakeFailed = "http: TLS handshake error from "

// httpErrorLog writes net/http's own complaints, one a Write. Most are
// the node's (an accept failing for want of descriptors) and are logged
// as warnings. A failed TLS handshake is a client's doing: a connection
// closed or sent plain HTTP or garbage before its handshake ended is one
// line each, at the 100 connections a second one address may open under
// TLS (docs/protocol.md section 6), so it is logged as a refusal, whose
// lines cmd/herald rate-limits per kind, at info. But some are the
// node's doing too (clients that refuse its expired certificate, or its
// chain), which an operator at HERALD_LOG_LEVEL=warn must hear of: the
// first of each reason an hour is a warning instead (handshakeWarnings).
type httpErrorLog struct {
	warn     *zap.Logger
	refusals *zap.Logger
	warned   *handshakeWarnings
}

func newHTTPErrorLog(warn, refusals *zap.Logger) httpErrorLog {
	return httpErrorLog{warn: warn, refusals: refusals, warned: newHandshakeWarnings(time.Now)}
}

func (l httpErrorLog) Write(p []byte) (int, error) {
	line := strings.TrimSuffix(string(p), "\n")
	if rest, ok := strings.CutPrefix(line, tlsHandshakeFailed); ok {
		l.refusedHandshake(rest)
		return len(p), nil
	}
	l.warn.Warn(line)
	return len(p), nil
}

// tlsHandshakesFailing is the warning of a failed handshake's reason
// not warned of in the last hour.
const tlsHandshakesFailing = "TLS handshakes failing"

// refusedHandshake logs one failed handshake from rest, "peer: reason":
// a warning when it is the first of its reason in handshakeWarnEvery,
// else a refusal.
func (l httpErrorLog) refusedHandshake(rest string) {
	peer, reason, _ := strings.Cut(rest, ": ")
	if host, _, err := net.SplitHostPort(peer); err == nil {
		peer = host
	}
	if l.warned.first(reason) {
		l.warn.Warn(tlsHandshakesFailing, zap.String("client", peer), zap.String("reason", reason),
			zap.String("next", "the rest of this reason, for an hour, as refusals at info"))
		return
	}
	if ce := l.refusals.Check(zap.InfoLevel, refusedTLSHandshake); ce != nil {
		ce.Write(zap.String("client", peer), zap.String("reason", reason))
	}
}

const (
	// handshakeWarnEvery is how often each reason of a failed handshake
	// is a warning at most: an expired certificate is heard of within an
	// hour of the first client that refuses it, even after a scanner's
	// garbage of the same reason.
	handshakeWarnEvery = time.Hour
	// maxHandshakeReasons bounds the reasons of the client's own doing
	// remembered, and so their warnings an hour.
	maxHandshakeReasons = 32
	// maxAlertReasons bounds the alerts a client answered with that are
	// remembered: more than the kinds there are (crypto/tls names 34, and
	// an unknown one is "alert(N)"), so that no flood of the client's own
	// reasons, nor of alerts, keeps the one a client refusing the node's
	// certificate sends from being a warning.
	maxAlertReasons = 64
)

// remoteAlert begins the reason of a handshake the client ended with an
// alert: its refusal of the node's certificate among them.
const remoteAlert = "remote error: "

// handshakeWarnings remembers when each reason of a failed handshake
// was last a warning: the alerts clients answered with apart from the
// rest, so that the rest, which the client words (the versions, cipher
// suites and protocols it offered), cannot fill the table the alerts
// need.
type handshakeWarnings struct {
	now    func() time.Time
	mu     sync.Mutex
	alerts reasonTimes
	others reasonTimes
}

// reasonTimes is when each reason (handshakeReason) was last a warning.
type reasonTimes map[string]time.Time

func newHandshakeWarnings(now func() time.Time) *handshakeWarnings {
	return &handshakeWarnings{now: now, alerts: reasonTimes{}, others: reasonTimes{}}
}

// first reports whether reason's kind was not a warning in the last
// handshakeWarnEvery, and counts it one now if so. With as many reasons
// of its class warned of in that time as are remembered, a new one is
// not.
func (w *handshakeWarnings) first(reason string) bool {
	kind, now := handshakeReason(reason), w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if strings.HasPrefix(kind, remoteAlert) {
		return w.alerts.first(kind, now, maxAlertReasons)
	}
	return w.others.first(kind, now, maxHandshakeReasons)
}

// first is handshakeWarnings.first in t, which holds at most limit kinds.
func (t reasonTimes) first(kind string, now time.Time, limit int) bool {
	if at, ok := t[kind]; ok && now.Sub(at) < handshakeWarnEvery {
		return false
	}
	if len(t) >= limit {
		for k, at := range t {
			if now.Sub(at) >= handshakeWarnEvery {
				delete(t, k)
			}
		}
		if len(t) >= limit {
			return false
		}
	}
	t[kind] = now
	return true
}

var (
	// netOpPrefix is a net.OpError's "read tcp local->remote: ", which
	// names the connection, not the reason.
	netOpPrefix = regexp.MustCompile(`^[a-z]+ (tcp|tcp4|tcp6|unix) \S+: `)
	// recordVersion is the version a record's header gave, in hex: the
	// client's choice.
	recordVersion = regexp.MustCompile(`version [0-9a-f]+`)
	numbers       = regexp.MustCompile(`[0-9]+([ ,.:]+[0-9]+)*`)
)

// handshakeReason is reason without what differs between connections of
// one kind of failure (their addresses, numbers), and without what the
// client chose and crypto/tls quotes: the lists of versions, cipher
// suites (in hex) and application protocols (any text) it offered, each
// cut at its "[" or "(", and a record's version. Kept, one client
// offering protocols "a", "b" and so on made a new reason each.
func handshakeReason(reason string) string {
	reason = netOpPrefix.ReplaceAllString(reason, "")
	if i := strings.IndexAny(reason, "[(\""); i >= 0 {
		reason = reason[:i] + "..."
	}
	reason = numbers.ReplaceAllString(recordVersion.ReplaceAllString(reason, "version N"), "N")
	if len(reason) > 128 {
		reason = reason[:128]
	}
	return reason
}
