package auth

import (
	"net/http"
	"strings"
)

// TokenFromRequest returns the client token of an upgrade request: the
// token query parameter (browsers cannot set headers on a WebSocket), else
// an "Authorization: Bearer" header. Empty when there is neither.
func TokenFromRequest(r *http.Request) string {
	if t := r.URL.Query().Get("token"); t != "" {
		return t
	}
	const prefix = "bearer "
	h := r.Header.Get("Authorization")
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return ""
	}
	return strings.TrimSpace(h[len(prefix):])
}
