package e2e

// Helpers of the tests written from the wire protocol alone (spec_*_test.go):
// they drive herald processes only through what a user sees, sockets and
// HTTP, and look at replies as raw JSON so that field names and shapes are
// checked, not only values.

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const specSecret = "herald-e2e-spec-secret-0123456789"

// specToken signs claims with specSecret; exp defaults to an hour ahead.
func specToken(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	if _, ok := claims["exp"]; !ok {
		claims["exp"] = time.Now().Add(time.Hour).Unix()
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(specSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// jsonEq fails unless got (any JSON value) equals want (JSON text).
func jsonEq(t testing.TB, what string, got any, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %s: %v", want, err)
	}
	g, _ := json.Marshal(got)
	var gv any
	json.Unmarshal(g, &gv)
	if !reflect.DeepEqual(gv, w) {
		t.Errorf("%s: got %s, want %s", what, g, want)
	}
}

// jsonObject decodes b as an object; it is nil when b is not one, which
// the checks on its fields then report.
func jsonObject(b []byte) map[string]any {
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

// keys lists m's field names, sorted, for shape checks.
func keys(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return strings.Join(ks, ",")
}

// httpDo sends a request and returns the status, headers and body.
func httpDo(t testing.TB, method, url string, header http.Header, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// errorCode is the code of a section 3 error body, "" when it is none.
func errorCode(body []byte) string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error.Message == "" {
		return ""
	}
	return e.Error.Code
}

// sseEvent is one event of a stream, or a comment.
type sseEvent struct {
	event, data, id string
	comment         string
}

// sseStream is an open GET /sse.
type sseStream struct {
	t      testing.TB
	resp   *http.Response
	events chan sseEvent
	sawCR  chan struct{}
	cancel context.CancelFunc
}

// sseOpen opens a stream; a refusal returns the response with a nil stream.
func sseOpen(t testing.TB, url string, header http.Header) (*sseStream, *http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		return nil, resp, b
	}
	s := &sseStream{t: t, resp: resp, events: make(chan sseEvent, 10000), sawCR: make(chan struct{}, 1), cancel: cancel}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	go s.readLoop()
	return s, resp, nil
}

func (s *sseStream) readLoop() {
	defer close(s.events)
	r := bufio.NewReader(s.resp.Body)
	var ev sseEvent
	var data []string
	seen := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if strings.Contains(line, "\r") {
			select {
			case s.sawCR <- struct{}{}:
			default:
			}
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if seen {
				ev.data = strings.Join(data, "\n")
				s.events <- ev
			}
			ev, data, seen = sseEvent{}, nil, false
		case strings.HasPrefix(line, ":"):
			s.events <- sseEvent{comment: strings.TrimPrefix(line, ":")}
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			seen = true
			switch field {
			case "event":
				ev.event = value
			case "data":
				data = append(data, value)
			case "id":
				ev.id = value
			}
		}
	}
}

// next is the next event, skipping comments.
func (s *sseStream) next() sseEvent {
	s.t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				s.t.Fatal("stream ended while an event was expected")
			}
			if ev.comment != "" {
				continue
			}
			return ev
		case <-deadline:
			s.t.Fatal("no event in time")
		}
	}
}

// dataObj decodes an event's data as an object.
func (ev sseEvent) dataObj() map[string]any { return jsonObject([]byte(ev.data)) }

// untilEnd reads the stream to its end and returns its last event.
func (s *sseStream) untilEnd() sseEvent {
	s.t.Helper()
	deadline := time.After(wait)
	var last sseEvent
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return last
			}
			if ev.comment == "" {
				last = ev
			}
		case <-deadline:
			s.t.Fatal("stream did not end in time")
		}
	}
}
