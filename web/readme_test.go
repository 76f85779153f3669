package web

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
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

// The chat page runs as written: served by a static server of its own
// origin, it imports herald.js from the node (CORS), shows the backlog,
// then live messages, and publishes.
func TestReadmeChatPageWorks(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{Node: node.Config{
		NodeID: "readme-node",
		Broker: broker.Config{MaxSubscriptions: 100, RateLimit: 1000},
		API:    api.Config{Files: Handler()}, // no API keys: loopback publishers, as in the README
	}})
	page := strings.ReplaceAll(chatPage(t), "localhost:8080", n.Addr)
	static := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(page))
	}))
	t.Cleanup(static.Close)
	for _, text := range []string{"one", "two"} {
		publishWith(t, n.Base, `{"topic":"chat.lobby","data":{"text":"`+text+`"}}`, nil)
	}

	// localhost, not 127.0.0.1: another origin than the node's.
	p := newPage(t, strings.Replace(static.URL, "127.0.0.1", "localhost", 1)+"/chat.html", `document.readyState === 'complete'`)
	p.wait(`document.querySelector('#log').textContent === 'onetwo' && document.querySelector('#state').textContent === 'connected'`)
	publishWith(t, n.Base, `{"topic":"chat.lobby","data":{"text":"three"}}`, nil)
	p.wait(`document.querySelector('#log').textContent === 'onetwothree'`)

	p.do(chromedp.SetValue("#text", "hi back"), chromedp.Click("#say button"))
	p.wait(`document.querySelector('#text').value === '' && document.querySelector('#log').textContent === 'onetwothreehi back'`)
	p.checkNoProblems()
}
