package web

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// chatPage is the chat example of README.md, taken from its html block, so
// the example users copy is known to work.
func chatPage(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```html\n")
	page, _, closed := strings.Cut(rest, "```")
	if !ok || !closed {
		t.Fatal("README.md has no html block")
	}
	if n := strings.Count(page, "\n"); n >= 30 {
		t.Errorf("the chat example has %d lines; it should stay under 30", n)
	}
	return page
}

func TestReadmeChatPageWorks(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	page := chatPage(t)
	f.mux.HandleFunc("/chat.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(page))
	})
	p := newPage(t, f.url("/chat.html"), `document.readyState === 'complete'`)
	c := f.accept(ctx)
	c.welcome()
	cmd := c.expect(ctx, "subscribe")
	c.send(subscribed(cmd, "e1", 0))
	c.send(message("chat.lobby", 1, map[string]any{"text": "hello"}))
	p.wait(`document.querySelector('#log').textContent === 'hello' && document.querySelector('#state').textContent === 'connected'`)

	p.do(chromedp.SetValue("#text", "hi back"), chromedp.Click("#say button"))
	pub := c.expect(ctx, "publish")
	if data, _ := pub["data"].(map[string]any); pub["topic"] != "chat.lobby" || data["text"] != "hi back" {
		t.Fatalf("chat page published %v", pub)
	}
	c.send(map[string]any{"type": "published", "id": pub["id"], "topic": "chat.lobby", "seq": 2, "msg": "m2"})
	p.wait(`document.querySelector('#text').value === ''`)
	p.checkNoProblems()
}
