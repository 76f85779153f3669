package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
)

// signed checks X-Herald-Signature, the HMAC-SHA256 of the exact body
// keyed with the shared secret, before h sees the body; a request without
// a valid one is refused 401 and never read further.
func (a *app) signed(h func(w http.ResponseWriter, body []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if !validSignature(a.cfg.Secret, body, r.Header.Get("X-Herald-Signature")) {
			a.cfg.Log.Printf("refused a hook request with a bad signature from %s", r.RemoteAddr)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		h(w, body)
	}
}

// validSignature compares in constant time, so the time taken tells
// nothing about how much of a forged signature was right.
func validSignature(secret, body []byte, header string) bool {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(want), []byte(header))
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

type hookError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func refusal(code, message string) hookError {
	var e hookError
	e.Error.Code, e.Error.Message = code, message
	return e
}

// connectHook answers who a connection is from its session cookie: a
// logged-in user may read and write every chat room (the subscribe hook
// still decides which rooms it may join); anybody else is refused 401.
func (a *app) connectHook(w http.ResponseWriter, body []byte) {
	var req struct {
		Session string            `json:"session"`
		IP      string            `json:"ip"`
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest) // Herald: 503
		return
	}
	user := a.userOf(req.Headers["Cookie"])
	if user == "" {
		reply(w, http.StatusOK, refusal("unauthorized", "log in first"))
		return
	}
	a.cfg.Log.Printf("connect: session %s from %s is %s", req.Session, req.IP, user)
	reply(w, http.StatusOK, map[string]any{
		"user":  user,
		"info":  map[string]string{"name": user},
		"allow": map[string][]string{"subscribe": {"chat.*"}, "publish": {"chat.*"}},
	})
}

// subscribeHook lets everybody into every room but chat.secret, which is
// for admin only.
func (a *app) subscribeHook(w http.ResponseWriter, body []byte) {
	var req struct{ Session, User, Topic string }
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if req.Topic == "chat.secret" && req.User != "admin" {
		a.cfg.Log.Printf("subscribe: %s may not join %s", req.User, req.Topic)
		reply(w, http.StatusOK, refusal("forbidden", "chat.secret is for admin"))
		return
	}
	reply(w, http.StatusOK, struct{}{})
}

// events logs every webhook event of a batch. Answering 2xx takes the
// batch: Herald sends it again otherwise, so a backend that must not act
// twice on one event keeps what it did (an event may come twice after a
// node died mid-send).
func (a *app) events(w http.ResponseWriter, body []byte) {
	var batch struct {
		TimeMS int64             `json:"time_ms"`
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(body, &batch); err != nil {
		http.Error(w, "bad batch", http.StatusBadRequest)
		return
	}
	for _, ev := range batch.Events {
		a.cfg.Log.Printf("event: %s", bytes.TrimSpace(ev))
	}
	w.WriteHeader(http.StatusNoContent)
}
