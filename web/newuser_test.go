package web

import (
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// readmeTry is what README.md's "Try it in one minute" has a new user do:
// the JS pasted into the browser console and the curl that publishes.
type readmeTry struct {
	consoleJS []string // the js blocks, for a node at localhost:8080: herald.js's first
	path      string   // the curl's path, /api/publish
	body      string   // the curl's -d
}

var curlLine = regexp.MustCompile(`curl -s localhost:8080(/\S+) -d '([^']*)'`)

func readReadmeTry(t *testing.T) readmeTry {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "## Try it in one minute")
	section, _, _ = strings.Cut(section, "\n## ")
	var try readmeTry
	for rest := section; ; {
		_, block, ok := strings.Cut(rest, "```js\n")
		if !ok {
			break
		}
		block, rest, _ = strings.Cut(block, "```")
		try.consoleJS = append(try.consoleJS, block)
	}
	curl := curlLine.FindStringSubmatch(section)
	if len(try.consoleJS) == 0 || !strings.Contains(try.consoleJS[0], "/herald.js") || curl == nil {
		t.Fatalf("README.md's \"Try it in one minute\" needs a js block that uses /herald.js and a `curl -s localhost:8080/... -d '...'`:\n%s", section)
	}
	try.path, try.body = curl[1], curl[2]
	return try
}

// inConsole runs js as the browser console does: top-level await allowed.
func inConsole(p *runtime.EvaluateParams) { repl := true; p.ReplMode = &repl }

// TestReadmeNewUserFlow does what README.md tells a new user on the real
// binary, one node in memory, no settings: open the dashboard and start its
// live tail, paste the README's snippets into the browser console (herald.js
// first), publish with curl's request, and see the message in the console
// and in the dashboard's tail.
func TestReadmeNewUserFlow(t *testing.T) {
	t.Parallel()
	try := readReadmeTry(t)
	node := startHerald(t, buildHerald(t), "node")

	p := newPage(t, node.base+"/", `document.getElementById('stat-connections').textContent === '0'`)
	p.do(chromedp.SetValue("#tail-pattern", "chat.>"), chromedp.Click("#tail-start"))
	p.wait(`document.querySelector('#tail li.notice')?.textContent === 'Subscribed to chat.>'`)

	// What console.log prints is kept; then the snippets run as pasted,
	// talking to this node instead of :8080.
	p.run(`window.logged = []; const log = console.log.bind(console);
		console.log = (...args) => { logged.push(args); log(...args); };`)
	wsBase := strings.Replace(node.base, "http://", "ws://", 1)
	for _, js := range try.consoleJS {
		js = strings.ReplaceAll(js, "ws://localhost:8080", wsBase)
		if _, err := chromedp.Run(p.ctx, chromedp.Evaluate[chromedp.Void](js, inConsole, chromedp.EvalAwaitPromise)); err != nil {
			t.Fatalf("pasting into the console:\n%s: %v", js, err)
		}
	}
	// The tail and one connection per snippet.
	p.wait(`document.getElementById('stat-connections').textContent === '` + strconv.Itoa(1+len(try.consoleJS)) + `'`)
	p.wait(`document.getElementById('stat-subscriptions').textContent === '` + strconv.Itoa(1+len(try.consoleJS)) + `'`)

	// curl -d: a POST with a form content type and no API key, from loopback.
	publishWith(t, node.base+strings.TrimSuffix(try.path, "/api/publish"), try.body,
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "User-Agent": {"curl/8.14.1"}})

	// herald.js's snippet logs topic, seq, data.
	p.wait(`logged.some(([topic, seq, data]) => topic === 'chat.lobby' && seq === 1 && data?.text === 'hi')`)
	if len(try.consoleJS) > 1 { // the plain WebSocket's logs whole frames
		p.wait(`logged.some(([m]) => m?.type === 'message' && m.topic === 'chat.lobby' && m.pattern === 'chat.*' && m.data.text === 'hi')`)
	}
	p.wait(`document.querySelector('#tail li.msg .data')?.textContent === '{"text":"hi"}'`)
	p.checkNoProblems()
}
