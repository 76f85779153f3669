package web

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/herald-broker/herald/internal/redistest"
)

// TestClusterFailover runs two real herald processes sharing a private
// Redis. A page on node A subscribes through herald.js, which knows both
// nodes; a backend publishes to both; node A is killed while publishing goes
// on through node B; the page moves to node B, resumes there and shows every
// message once, in order. Then node B's dashboard counts the page's
// connection, and a screenshot of it is kept.
func TestClusterFailover(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	bin := buildHerald(t)
	settings := []string{"HERALD_REDIS_URL=" + redis.URL(), "HERALD_HEARTBEAT=2s", "HERALD_API_KEYS=k1"}
	a := startHerald(t, bin, "node-a", append(settings, "HERALD_NODE_ID=node-a")...)
	b := startHerald(t, bin, "node-b", append(settings, "HERALD_NODE_ID=node-b")...)

	p := newPage(t, a.base+"/", `document.readyState === 'complete'`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.seqs = []; window.lost = []; window.states = [];
		window.h = new herald.Herald('/ws', { urls: ['` + b.base + `/ws'], minDelay: 500, maxDelay: 1000 });
		h.on('state', (s, info) => states.push(s === 'connected' ? 'connected@' + info.node : s));
		const sub = h.subscribe('cluster.news', (m) => { got.push(m.data); seqs.push(m.seq); },
			{ onRecoveryFailed: (info) => lost.push(info) });
		h.connect();
		return sub.ready;
	})`)
	if got := p.value(`states.join()`); got != "connecting,connected@node-a" {
		t.Fatalf("states %q, want the page on node-a", got)
	}

	const before, after = 10, 20
	for n := 1; n <= before; n++ { // a backend spreads its publishes over the nodes
		publishHTTP(t, []*heraldProcess{a, b}[n%2].base, publishBody(n))
	}
	p.wait(`got.join() === '` + numbers(1, before) + `'`)

	// Hold the page's next connection until the backend has published more,
	// so those messages surely go out while the page has no connection.
	p.run(`const open = h._open.bind(h);
		const held = new Promise((resolve) => { window.release = resolve; });
		h._open = () => held.then(() => { h._open = open; return open(); });`)
	a.kill()
	p.wait(`h.state === 'disconnected'`)
	for n := before + 1; n <= after-5; n++ {
		publishHTTP(t, b.base, publishBody(n))
	}
	p.run(`release()`)
	// Connected comes with the welcome; the subscription is live again once
	// its resubscribe is answered.
	p.wait(`h.state === 'connected' && h._subs.get('cluster.news').live`)
	// It resumed on node B from the last message seen on node A, and node B
	// already had the ones published meanwhile.
	resumed := p.value(`JSON.stringify([h._subs.get('cluster.news').since.seq, h._subs.get('cluster.news').reply.seq, h._subs.get('cluster.news').reply.recovered])`)
	if want := fmt.Sprintf("[%d,%d,true]", before, after-5); resumed != want {
		t.Errorf("resume [since, seq, recovered] %s, want %s", resumed, want)
	}
	for n := after - 4; n <= after; n++ {
		publishHTTP(t, b.base, publishBody(n))
	}
	p.wait(`got.length >= ` + strconv.Itoa(after))
	if got, want := p.value(`got.join()`), numbers(1, after); got != want {
		t.Errorf("the page showed %s, want %s (every message once, in order)", got, want)
	}
	if got, want := p.value(`seqs.join()`), numbers(1, after); got != want {
		t.Errorf("seqs %s, want %s", got, want)
	}
	if got := p.value(`states.filter((s) => s.startsWith('connected')).join()`); got != "connected@node-a,connected@node-b" {
		t.Errorf("connections %q, want node-a then node-b", got)
	}
	if n := p.value(`lost.length`); n != "0" {
		t.Errorf("recovery reported failed %s times, want none", n)
	}

	// A dashboard listing both nodes, in a second tab: node A is down (its
	// stats leave the cluster view when they expire), node B answers for
	// the cluster and has the page's connection, and the live tail, which
	// tries node A first, runs on node B.
	d := p.openTab(b.base+"/?nodes="+a.base+","+b.base, `document.getElementById('key-dialog').open`)
	d.do(chromedp.SendKeys("#key-input", "k1"), chromedp.Click("#key-save"))
	d.wait(`document.getElementById('stat-connections').textContent === '1'`)
	d.wait(`[...document.querySelectorAll('#nodes-table tbody tr')].map((r) => r.cells[0].textContent + ' ' +
		(r.cells.item(r.cells.length - 1).textContent === 'up' ? 'up' : 'down')).join() === 'node-b up,` + a.base + ` down'`)
	d.do(chromedp.SetValue("#tail-pattern", "cluster.news"), chromedp.Click("#tail-start"))
	d.wait(`document.querySelector('#tail li.notice')?.textContent === 'Subscribed to cluster.news'`)
	d.wait(`document.getElementById('stat-connections').textContent === '2'`)
	publishHTTP(t, b.base, publishBody(after+1))
	d.wait(`document.querySelector('#tail li.msg .data')?.textContent === '` + strconv.Itoa(after+1) + `'`)
	p.wait(`got.join() === '` + numbers(1, after+1) + `'`)
	// Its publish form, too, passes over the dead node.
	d.do(chromedp.SetValue("#publish-topic", "cluster.news"), chromedp.SetValue("#publish-data", strconv.Itoa(after+2)),
		chromedp.Click("#publish-form button[type=submit]"))
	d.wait(`document.getElementById('publish-result').textContent === 'Published to cluster.news: seq ` + strconv.Itoa(after+2) + `'`)
	p.wait(`got.join() === '` + numbers(1, after+2) + `'`)
	d.wait(`[...document.querySelectorAll('#topics-table tbody tr')].some((r) => r.cells[0].textContent === 'cluster.news')`)
	keepScreenshot(t, d)
	d.checkNoProblems()
	p.checkNoProblems()
}

func publishBody(n int) string {
	return fmt.Sprintf(`{"topic":"cluster.news","data":%d}`, n)
}

// numbers is "from,from+1,...,to", as JS's join() writes a list of them.
func numbers(from, to int) string {
	var s []string
	for n := from; n <= to; n++ {
		s = append(s, strconv.Itoa(n))
	}
	return strings.Join(s, ",")
}
