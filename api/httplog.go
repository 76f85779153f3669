package api

import (
	"net"
	"strings"

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
// lines cmd/herald rate-limits per kind.
type httpErrorLog struct {
	warn     *zap.Logger
	refusals *zap.Logger
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

// refusedHandshake logs one failed handshake from rest, "peer: reason".
func (l httpErrorLog) refusedHandshake(rest string) {
	ce := l.refusals.Check(zap.InfoLevel, refusedTLSHandshake)
	if ce == nil {
		return
	}
	peer, reason, _ := strings.Cut(rest, ": ")
	if host, _, err := net.SplitHostPort(peer); err == nil {
		peer = host
	}
	ce.Write(zap.String("client", peer), zap.String("reason", reason))
}
