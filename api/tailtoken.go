package api

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/herald-broker/herald/api/auth"
	"github.com/herald-broker/herald/broker"
)

// A tail token lets the holder of an API key open /ws as a listener
// without minting a client JWT: the dashboard's live tail. POST
// /api/tail-token answers one; /ws takes it as it takes a client token,
// and the connection may then subscribe to any topic or pattern and
// publish nothing.
//
// The token is "htt1.<exp>.<mac>": exp in Unix seconds, mac the
// HMAC-SHA256 of "herald tail token <exp>" under an API key. Every node
// configured with the same keys accepts it, so it works behind a load
// balancer without shared state; a key taken out of HERALD_API_KEYS
// takes its tokens with it. With no API key (loopback callers only) the
// mac is under a secret of this process, and only this node accepts it.
//
// It is valid for tailTokenTTL, only to open a connection: the
// connection then lives on without expiry, as it can do nothing but
// listen, which the key already allows through /api/history.
const (
	tailTokenPrefix = "htt1."
	tailTokenTTL    = time.Minute
)

// tailPermissions subscribe to anything and publish nothing.
var tailPermissions = func() *auth.Permissions {
	p, err := auth.NewPermissions([]string{">"}, nil)
	if err != nil {
		panic(err) // ">" is a valid pattern
	}
	return p
}()

// tailSecrets are the keys a tail token's mac may be under: the API keys,
// or one random secret of this process when there are none.
func tailSecrets(apiKeys [][]byte) [][]byte {
	if len(apiKeys) > 0 {
		return apiKeys
	}
	secret := make([]byte, 32)
	rand.Read(secret) // never fails (crypto/rand)
	return [][]byte{secret}
}

func tailMAC(secret []byte, exp string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("herald tail token " + exp))
	return m.Sum(nil)
}

// newTailToken is a token valid until now+tailTokenTTL, under the first
// secret.
func (s *Server) newTailToken(now time.Time) string {
	exp := strconv.FormatInt(now.Add(tailTokenTTL).Unix(), 10)
	return tailTokenPrefix + exp + "." + base64.RawURLEncoding.EncodeToString(tailMAC(s.tailSecrets[0], exp))
}

// isTailToken reports whether token is meant as a tail token (valid or
// not): it is then judged as one, never as a JWT.
func isTailToken(token string) bool { return strings.HasPrefix(token, tailTokenPrefix) }

// tailInfo checks a tail token and returns the listener it makes.
func (s *Server) tailInfo(token string, now time.Time) (broker.ClientInfo, error) {
	exp, mac, ok := strings.Cut(strings.TrimPrefix(token, tailTokenPrefix), ".")
	sent, err := base64.RawURLEncoding.DecodeString(mac)
	expiry, perr := strconv.ParseInt(exp, 10, 64)
	if !ok || err != nil || perr != nil || !s.validTailMAC(exp, sent) {
		return broker.ClientInfo{}, broker.Errorf(broker.CodeUnauthorized, "the tail token is not valid")
	}
	if now.Unix() > expiry {
		return broker.ClientInfo{}, broker.Errorf(broker.CodeUnauthorized,
			"the tail token has expired: POST /api/tail-token for another")
	}
	return broker.ClientInfo{Perms: tailPermissions}, nil
}

// validTailMAC compares mac with every secret's, so that which key
// matched does not show in the time taken.
func (s *Server) validTailMAC(exp string, mac []byte) bool {
	found := false
	for _, secret := range s.tailSecrets {
		found = hmac.Equal(mac, tailMAC(secret, exp)) || found
	}
	return found
}

// tailTokenReply is POST /api/tail-token.
type tailTokenReply struct {
	Token     string `json:"token"`
	ExpiresIn int    `json:"expires_in"` // seconds
}

func (s *Server) handleTailToken(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, tailTokenReply{
		Token: s.newTailToken(time.Now()), ExpiresIn: int(tailTokenTTL / time.Second),
	})
}
