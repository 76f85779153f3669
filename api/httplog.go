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
	// maxHandshakeReasons bounds the reasons remembered, and so the
	// warnings an hour.
	maxHandshakeReasons = 32
)

// handshakeWarnings remembers when each reason of a failed handshake
// was last a warning.
type handshakeWarnings struct {
	now func() time.Time
	mu  sync.Mutex
	at  map[string]time.Time // by handshakeReason
}

func newHandshakeWarnings(now func() time.Time) *handshakeWarnings {
	return &handshakeWarnings{now: now, at: map[string]time.Time{}}
}

// first reports whether reason's kind was not a warning in the last
// handshakeWarnEvery, and counts it one now if so. With
// maxHandshakeReasons warned of in that time, a new one is not.
func (w *handshakeWarnings) first(reason string) bool {
	kind, now := handshakeReason(reason), w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if at, ok := w.at[kind]; ok && now.Sub(at) < handshakeWarnEvery {
		return false
	}
	if len(w.at) >= maxHandshakeReasons {
		for k, at := range w.at {
			if now.Sub(at) >= handshakeWarnEvery {
				delete(w.at, k)
			}
		}
		if len(w.at) >= maxHandshakeReasons {
			return false
		}
	}
	w.at[kind] = now
	return true
}

var (
	// netOpPrefix is a net.OpError's "read tcp local->remote: ", which
	// names the connection, not the reason.
	netOpPrefix = regexp.MustCompile(`^[a-z]+ (tcp|tcp4|tcp6|unix) \S+: `)
	numbers     = regexp.MustCompile(`[0-9]+([ ,.:]+[0-9]+)*`)
)

// handshakeReason is reason without what differs between connections of
// one kind of failure (their addresses, a client's list of versions), so
// that each kind is one.
func handshakeReason(reason string) string {
	reason = numbers.ReplaceAllString(netOpPrefix.ReplaceAllString(reason, ""), "N")
	if len(reason) > 128 {
		reason = reason[:128]
	}
	return reason
}
