package web

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The dashboard's live tail against a real node, with the API key alone:
// it buys a tail token and reads the stream it opens.

// TestDashboardTailWithTheAPIKeyOnly runs the live tail against a real
// node that requires client JWTs: the API key typed into the dashboard is
// all it takes.
func TestDashboardTailWithTheAPIKeyOnly(t *testing.T) {
	t.Parallel()
	base := startGuardedNode(t)
	p := newPage(t, base+"/", `document.getElementById('key-dialog').open`)
	p.do(chromedp.SendKeys("#key-input", "k1"), chromedp.Click("#key-save"))
	p.wait(`document.getElementById('stat-nodes').textContent === '1'`)

	p.do(chromedp.SetValue("#tail-pattern", "chat.>"), chromedp.Click("#tail-start"))
	p.wait(`document.querySelector('#tail li.notice')?.textContent === 'Subscribed to chat.>'`)
	publishHTTP(t, base, `{"topic":"chat.lobby","data":{"text":"first"}}`)
	p.wait(`document.querySelector('#tail li.msg .data')?.textContent === '{"text":"first"}'`)

	// The tail token opens an SSE stream too, which the dashboard counts
	// apart.
	sse := openSSE(t, base+"/sse?topic=chat.lobby&token="+url.QueryEscape(buyTailToken(t, base)))
	publishHTTP(t, base, `{"topic":"chat.lobby","data":{"text":"second"}}`)
	if ev := sse.next(); !strings.Contains(ev, `"second"`) {
		t.Fatalf("the SSE stream got %q", ev)
	}
	p.wait(`document.getElementById('stat-sse').textContent === '(1 SSE)' &&
		document.querySelector('#nodes-table tbody tr').cells[7].textContent === '1'`)

	// The dashboard's own connection and the stream count, and chat.lobby,
	// published to with no exact subscriber, is listed with its last seq.
	p.wait(`document.getElementById('stat-connections').textContent === '2'`)
	p.wait(`[...document.querySelectorAll('#topics-table tbody tr')].map((r) => r.cells[0].textContent + '/' + r.cells[1].textContent + '/' + r.cells[3].textContent).sort().join() === 'chat.>/1/–,chat.lobby/1/2'`)
	keepScreenshot(t, p)
	p.checkNoProblems()
}

// buyTailToken asks base for a tail token with API key k1.
func buyTailToken(t *testing.T, base string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/api/tail-token", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer k1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var reply struct{ Token string }
	if err := json.NewDecoder(res.Body).Decode(&reply); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("tail token: %d, %v", res.StatusCode, err)
	}
	return reply.Token
}

// sseStream is an open GET /sse, read event by event.
type sseStream struct {
	t *testing.T
	r *bufio.Reader
}

// openSSE opens url and reads its first event, the subscribed one; the stream
// closes when the test ends.
func openSSE(t *testing.T, url string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /sse: %d", res.StatusCode)
	}
	s := &sseStream{t: t, r: bufio.NewReader(res.Body)}
	if ev := s.next(); !strings.Contains(ev, `"topics":[`) {
		t.Fatalf("first event %q, want the subscribed one", ev)
	}
	return s
}

// next returns the next event's data lines, passing over comments.
func (s *sseStream) next() string {
	s.t.Helper()
	var data []string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("reading the SSE stream: %v", err)
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "" && len(data) > 0:
			return strings.Join(data, "\n")
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimSpace(strings.TrimPrefix(line, "data:")))
		}
	}
}
