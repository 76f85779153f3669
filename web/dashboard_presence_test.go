package web

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	jwtlib "github.com/golang-jwt/jwt/v5"

	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/api/auth"
	"github.com/herald-broker/herald/broker"
	"github.com/herald-broker/herald/internal/node"
	"github.com/herald-broker/herald/internal/nodetest"
)

// userToken signs a client token for jwtSecret naming user, with info.
func userToken(t *testing.T, user, name string) string {
	t.Helper()
	claims := jwtlib.MapClaims{"sub": user, "exp": time.Now().Add(time.Hour).Unix(), "info": map[string]any{"name": name},
		"allow": map[string]any{"subscribe": []string{">"}, "publish": []string{">"}}}
	s, err := jwtlib.NewWithClaims(jwtlib.SigningMethodHS256, claims).SignedString(jwtSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDashboardPresence: a presence topic shows its users and connections,
// its members are listed, and a user disconnected from the dashboard is
// closed with 4004 and leaves the list.
func TestDashboardPresence(t *testing.T) {
	t.Parallel()
	v, err := auth.New(auth.Config{Secret: jwtSecret})
	if err != nil {
		t.Fatal(err)
	}
	n := nodetest.Start(t, nodetest.Options{Node: node.Config{
		NodeID: "presence-node",
		Tokens: v,
		Broker: broker.Config{MaxSubscriptions: 100, RateLimit: 1000, PresenceTopics: []string{"room.*"}},
		API:    api.Config{APIKeys: []string{"k1"}, Files: Handler()},
	}})
	p := newPage(t, n.Base+"/", `document.getElementById('key-dialog').open`)
	p.do(chromedp.SendKeys("#key-input", "k1"), chromedp.Click("#key-save"))

	// Ada in two tabs (two connections), Bob in one, all in room.1.
	p.run(`import('/herald.js').then((herald) => {
		window.closes = {}; window.states = {};
		const open = (name, token) => {
			const h = new herald.Herald('/ws', { token });
			h.on('state', (s, info) => {
				states[name] = s;
				if (s !== 'connected' && info?.code) closes[name] = info.code;
			});
			const sub = h.subscribe('room.1', () => {});
			h.connect();
			return sub.ready;
		};
		return Promise.all([open('ada1', '` + userToken(t, "ada", "Ada") + `'), open('ada2', '` + userToken(t, "ada", "Ada") + `'),
			open('bob', '` + userToken(t, "bob", "Bob") + `')]);
	})`)

	p.wait(`[...document.querySelectorAll('#topics-table tbody tr')].map((r) => r.cells[0].textContent + '/' + r.cells[4]?.textContent).join() === 'room.1/2 users · 3'`)
	p.clickNow(`#topics-table tbody tr:first-child button:nth-child(3)`)
	members := `[...document.querySelectorAll('#presence-table tbody tr')].map((r) => [0, 1, 2].map((i) => r.cells[i].textContent).join('/')).join()`
	p.wait(members + ` === 'ada/2/{"name":"Ada"},bob/1/{"name":"Bob"}'`)
	p.wait(`document.getElementById('presence-result').textContent === '2 users, 3 connections (anonymous ones included)'`)

	// Disconnect asks to be pressed twice.
	bob := `#presence-table tbody tr[data-user="bob"] button`
	p.do(chromedp.Click(bob))
	p.wait(`document.querySelector('` + bob + `').textContent === 'Disconnect bob?'`)
	p.do(chromedp.Click(bob))
	p.wait(`closes.bob === 4004 && states.bob === 'stopped'`) // herald.js does not come back after 4004
	p.wait(members + ` === 'ada/2/{"name":"Ada"}'`)
	p.wait(`[...document.querySelectorAll('#topics-table tbody tr')].map((r) => r.cells[0].textContent + '/' + r.cells[4]?.textContent).join() === 'room.1/1 user · 2'`)
	if got := p.value(`JSON.stringify(closes)`); got != `{"bob":4004}` {
		t.Errorf("closes %s, want only bob's, with 4004", got)
	}
	keepScreenshot(t, p)
	p.checkNoProblems()
}
