package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// The backend the hook spec tests (spec_hooks_test.go and others) point
// herald at: it records every hook request, answers each hook as the test
// asks, and fails the first webhook batches; and the check of a request's
// signature.

const hookSecret = "spec-hook-secret"

type hookReq struct {
	method string
	header http.Header
	body   []byte
	failed bool // answered 500
}

func (r hookReq) obj() map[string]any { return jsonObject(r.body) }

// hookBackend answers connect hooks by the connection's `mode` query
// parameter, subscribe hooks by the topic, and takes webhook batches
// after failing the first ones.
type hookBackend struct {
	mu              sync.Mutex
	reqs            map[string][]hookReq // by path
	webhookFailures int
	failing         bool // fail every webhook batch while set
}

func (b *hookBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	fail := r.URL.Path == "/webhook" && (b.webhookFailures > 0 || b.failing)
	if fail && !b.failing {
		b.webhookFailures--
	}
	b.reqs[r.URL.Path] = append(b.reqs[r.URL.Path], hookReq{r.Method, r.Header.Clone(), body, fail})
	b.mu.Unlock()
	var req map[string]any
	json.Unmarshal(body, &req)
	slow := func() {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
	switch r.URL.Path {
	case "/connect":
		q, _ := req["query"].(map[string]any)
		user, _ := q["user"].(string)
		switch q["mode"] {
		case "ok":
			subs := "[]"
			if q["subs"] != nil {
				subs = `["subs.x"]`
			}
			fmt.Fprintf(w, `{"user":%q,"allow":{"subscribe":["room.*","open.*"]},"info":{"name":%q},"subs":%s}`, user, user, subs)
		case "anon":
			fmt.Fprint(w, `{"allow":{"subscribe":[">"]}}`)
		case "expire":
			fmt.Fprintf(w, `{"user":"e","expire_at":%.3f}`, float64(time.Now().Add(1500*time.Millisecond).UnixMilli())/1000)
		case "expired":
			fmt.Fprintf(w, `{"user":"e","expire_at":%.3f}`, float64(time.Now().Add(-time.Second).UnixMilli())/1000)
		case "bigInfo":
			fmt.Fprintf(w, `{"user":"b","info":{"n":%q}}`, strings.Repeat("x", 1100))
		case "err401":
			fmt.Fprint(w, `{"error":{"code":"unauthorized","message":"who are you"}}`)
		case "err403":
			fmt.Fprint(w, `{"error":{"code":"forbidden","message":"not you"}}`)
		case "s401":
			w.WriteHeader(401)
		case "s403":
			w.WriteHeader(403)
		case "s500":
			w.WriteHeader(500)
		case "notjson":
			fmt.Fprint(w, "hello")
		case "slow":
			slow()
		}
	case "/subscribe":
		topic, _ := req["topic"].(string)
		switch {
		case strings.HasPrefix(topic, "hooked.ok."):
			fmt.Fprint(w, `{}`)
		case topic == "hooked.err":
			fmt.Fprint(w, `{"error":{"code":"forbidden","message":"no"}}`)
		case topic == "hooked.errstr": // an error with no shape is a no too
			fmt.Fprint(w, `{"error":"no"}`)
		case topic == "hooked.403":
			w.WriteHeader(403)
		case topic == "hooked.500":
			w.WriteHeader(500)
		case topic == "hooked.slow":
			slow()
		}
	case "/webhook":
		if fail {
			w.WriteHeader(500)
		}
	}
}

func (b *hookBackend) requests(path string) []hookReq {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]hookReq(nil), b.reqs[path]...)
}

// accepted lists the webhook events of batches answered 2xx, in order.
// Only the last attempt of a batch can have been taken, so batches that
// failed are told apart by their position among the failures.
func (b *hookBackend) events(failed int) []map[string]any {
	var out []map[string]any
	for i, r := range b.requests("/webhook") {
		if i < failed {
			continue
		}
		evs, _ := r.obj()["events"].([]any)
		for _, e := range evs {
			out = append(out, e.(map[string]any))
		}
	}
	return out
}

// setFailing has every webhook batch fail (500) while on.
func (b *hookBackend) setFailing(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failing = on
}

// taken lists the webhook events of the batches answered 2xx, in order.
func (b *hookBackend) taken() []map[string]any {
	var out []map[string]any
	for _, r := range b.requests("/webhook") {
		if r.failed {
			continue
		}
		evs, _ := r.obj()["events"].([]any)
		for _, e := range evs {
			out = append(out, e.(map[string]any))
		}
	}
	return out
}

// checkSigned fails unless r is a signed JSON POST.
func checkSigned(t *testing.T, what string, r hookReq) {
	t.Helper()
	mac := hmac.New(sha256.New, []byte(hookSecret))
	mac.Write(r.body)
	if got, want := r.header.Get("X-Herald-Signature"), "sha256="+hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Errorf("%s: X-Herald-Signature %q, want %q", what, got, want)
	}
	if r.method != http.MethodPost || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("%s: %s with Content-Type %q", what, r.method, r.header.Get("Content-Type"))
	}
}
