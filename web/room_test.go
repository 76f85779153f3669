package web

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	gojwt "github.com/golang-jwt/jwt/v5"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/auth"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
)

// roomPage is the room example of README.md, its second html block.
func roomPage(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(readme), "```html\n")
	if len(blocks) < 3 || !strings.Contains(blocks[2], "onJoin") {
		t.Fatal("README.md has no room example as its second html block")
	}
	page, _, _ := strings.Cut(blocks[2], "```")
	if n := strings.Count(page, "\n"); n >= 30 {
		t.Errorf("the room example has %d lines; it should stay under 30", n)
	}
	return page
}

var roomSecret = []byte("herald-room-test-secret-32-bytes")

// roomToken is what the page's backend would mint for user, named name.
func roomToken(t *testing.T, user, name string) string {
	t.Helper()
	s, err := gojwt.NewWithClaims(gojwt.SigningMethodHS256, gojwt.MapClaims{
		"sub": user, "exp": time.Now().Add(time.Hour).Unix(),
		"info":  map[string]string{"name": name},
		"allow": map[string][]string{"subscribe": {"room.*"}},
	}).SignedString(roomSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The README's room page, in three tabs of a real node: two of Ada's and
// one of Bob's. Each user joins once however many tabs it has, leaves once
// when its last tab goes, and every page shows the same member list.
func TestReadmeRoomPage(t *testing.T) {
	t.Parallel()
	v, err := auth.New(auth.Config{Secret: roomSecret})
	if err != nil {
		t.Fatal(err)
	}
	n := nodetest.Start(t, nodetest.Options{Node: node.Config{
		NodeID: "room-node", Tokens: v,
		Broker: broker.Config{MaxSubscriptions: 100, RateLimit: 1000, PresenceTopics: []string{"room.*"}},
		API:    api.Config{Files: Handler()},
	}})
	room := strings.ReplaceAll(roomPage(t), "localhost:8080", n.Addr)
	names := map[string]string{"ada": "Ada", "bob": "Bob"}
	// /ada/room.html fetches its token from /ada/token, as from its backend.
	static := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, file, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		switch {
		case user == "blank" || user == "favicon.ico":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte("<!doctype html><title>blank</title>"))
		case names[user] == "":
			http.NotFound(w, r)
		case file == "token":
			w.Write([]byte(roomToken(t, user, names[user])))
		default:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(room))
		}
	}))
	t.Cleanup(static.Close)
	url := func(user string) string {
		return strings.Replace(static.URL, "127.0.0.1", "localhost", 1) + "/" + user + "/room.html"
	}
	const members, log = `[...document.querySelectorAll('#members li')].map((li) => li.textContent).sort().join()`,
		`[...document.querySelectorAll('#log li')].map((li) => li.textContent).join()`
	connected := `document.querySelector('#state').textContent === 'connected' && `

	// The browser context's first tab stays blank: closing it would close
	// the browser context, and every tab of it.
	browser := newPage(t, static.URL+"/blank", `document.readyState === 'complete'`)
	bob := browser.openTab(url("bob"), `document.readyState === 'complete'`)
	bob.wait(connected + members + ` === 'Bob'`)
	ada1 := browser.openTab(url("ada"), `document.readyState === 'complete'`)
	ada2 := browser.openTab(url("ada"), `document.readyState === 'complete'`)
	for _, p := range []*page{bob, ada1, ada2} {
		p.wait(connected + members + ` === 'Ada,Bob'`)
	}
	if got := bob.value(log); got != "Ada joined" {
		t.Errorf("Bob's log %q, want one join of Ada for her two tabs", got)
	}
	for _, p := range []*page{ada1, ada2} {
		if got := p.value(log); got != "" {
			t.Errorf("Ada's tab logged %q: Bob was there first, and her own arrival is no news to her", got)
		}
	}

	// Bob leaves and comes back: each of Ada's tabs sees one leave, one join.
	closeTab(t, bob)
	for _, p := range []*page{ada1, ada2} {
		p.wait(members + ` === 'Ada'`)
	}
	bob = browser.openTab(url("bob"), `document.readyState === 'complete'`)
	bob.wait(connected + members + ` === 'Ada,Bob'`)
	for _, p := range []*page{ada1, ada2} {
		p.wait(members + ` === 'Ada,Bob'`)
		if got := p.value(log); got != "Bob left,Bob joined" {
			t.Errorf("Ada's tab logged %q, want Bob left,Bob joined", got)
		}
	}

	// Ada's first tab goes: she is still here. Her last goes: she leaves.
	closeTab(t, ada1)
	publishWith(t, n.Base, `{"topic":"room.1","data":{"text":"hello room"}}`, nil)
	bob.wait(log + ` === 'hello room'`) // the log of the new Bob page
	if got := bob.value(members); got != "Ada,Bob" {
		t.Errorf("members %q after one of Ada's two tabs closed", got)
	}
	closeTab(t, ada2)
	bob.wait(members + ` === 'Bob'`)
	if got := bob.value(log); got != "hello room,Ada left" {
		t.Errorf("Bob's log %q, want the message, then one leave of Ada", got)
	}
	keepScreenshot(t, bob)
	bob.checkNoProblems()
}

// closeTab closes p's tab, as a user closing it would: its page goes, and
// its WebSocket with it. (Navigating the tab away left its socket open in
// headless Chromium.)
func closeTab(t *testing.T, p *page) {
	t.Helper()
	if err := chromedp.Cancel(p.ctx); err != nil {
		t.Fatalf("closing a tab: %v", err)
	}
}
