package web

import (
	"testing"

	"github.com/gobwas/ws"
)

// A subscription with presence handlers subscribes with presence:true,
// asks for the member list once live, and hands joins and leaves over;
// presence() asks for any topic.
func TestClientPresence(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startClient(t, f, "", "{}")
	p.run(`window.seen = [];
		h.subscribe('room.1', (m) => got.push(m.seq), {
			onPresence: (s) => seen.push('list ' + s.members.map((m) => m.user).join('+')),
			onJoin: (j) => seen.push('join ' + j.user + ' ' + JSON.stringify(j.info)),
			onLeave: (l) => seen.push('leave ' + l.user),
		});
		h.subscribe('news', (m) => got.push(m.seq))`)
	c := f.accept(ctx)
	c.welcome()
	room := c.expect(ctx, "subscribe")
	news := c.expect(ctx, "subscribe")
	if room["presence"] != true || news["presence"] != nil {
		t.Fatalf("subscribes %v and %v, want presence:true on room.1 only", room, news)
	}
	c.send(subscribed(room, "e1", 0))
	c.send(subscribed(news, "e1", 0))
	ask := c.expect(ctx, "presence")
	if ask["topic"] != "room.1" {
		t.Fatalf("presence asked of %v", ask)
	}
	c.send(map[string]any{"type": "join", "topic": "room.1", "user": "43"}) // before the list: the list wins
	c.send(map[string]any{"type": "presence", "id": ask["id"], "topic": "room.1", "users": 2, "sessions": 2,
		"members": []any{map[string]any{"user": "42", "sessions": 1}, map[string]any{"user": "43", "sessions": 1}}})
	c.send(map[string]any{"type": "join", "topic": "room.1", "user": "44", "info": map[string]any{"name": "Ada"}})
	c.send(map[string]any{"type": "leave", "topic": "room.1", "user": "43"})
	c.send(map[string]any{"type": "join", "topic": "news", "user": "45"}) // no presence asked there
	p.wait(`seen.length === 4`)
	if got := p.value(`seen.join(', ')`); got != `join 43 undefined, list 42+43, join 44 {"name":"Ada"}, leave 43` {
		t.Errorf("presence seen: %s", got)
	}

	p.run(`void h.presence('lobby').then((r) => window.lobby = r, (e) => window.lobbyErr = e.code)`)
	cmd := c.expect(ctx, "presence")
	c.send(map[string]any{"type": "error", "id": cmd["id"], "code": "presence_off", "message": "no"})
	p.wait(`window.lobbyErr === 'presence_off'`)
	p.run(`void h.presence('room.2').then((r) => window.room2 = r)`)
	cmd = c.expect(ctx, "presence")
	c.send(map[string]any{"type": "presence", "id": cmd["id"], "topic": "room.2", "users": 0, "sessions": 0, "members": []any{}})
	p.wait(`window.room2?.users === 0 && room2.members.length === 0`)
	p.checkNoProblems()
}

// Subscriptions the server makes are announced, take callbacks, and end
// when the server ends them; close 4004 stops the client for good.
func TestClientServerControl(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startClient(t, f, `window.made = []; window.ended = []; window.ends = [];`, "{}")
	p.run(`h.on('subscribed', (r) => { made.push(r.topic);
			window.sub = h.subscribe(r.topic, (m) => got.push(m.seq), { onUnsubscribed: (u) => ends.push(u.reason) }); });
		h.on('unsubscribed', (u) => ended.push(u.topic + ' ' + u.reason))`)
	c := f.accept(ctx)
	c.welcome()
	c.send(map[string]any{"type": "subscribed", "topic": "user:42.notices", "epoch": "e1", "seq": 3, "server": true})
	c.send(message("user:42.notices", 4, "hi"))
	p.wait(`got.join() === '4' && sub.state === 'live'`)
	if got := p.value(`made.join()`); got != "user:42.notices" {
		t.Errorf("subscribed events %q", got)
	}
	c.send(map[string]any{"type": "unsubscribed", "topic": "user:42.notices", "reason": "server"})
	c.send(message("user:42.notices", 5, "gone"))
	p.wait(`ended.length === 1`)
	if got := p.value(`[ended.join(), ends.join(), sub.state, got.join()].join(' | ')`); got != "user:42.notices server | server | unsubscribed | 4" {
		t.Errorf("after the server's unsubscribe: %s", got)
	}
	// Unsubscribing what the server ended is harmless.
	p.run(`sub.unsubscribe()`)

	c.closeWith(ws.StatusCode(4004), "disconnected by the backend")
	p.wait(`states.at(-1) === 'stopped' && errors.join() === 'disconnected_by_server'`)
	p.run(`new Promise((resolve) => setTimeout(resolve, 300))`) // time for a reconnect that must not come
	select {
	case <-f.conns:
		t.Fatal("client reconnected after close 4004")
	default:
	}
	p.checkNoProblems()
}

// A large topic's member list comes in pages: presence() surfaces one
// with truncated and sends after; onPresence gets every page, with the
// joins and leaves that came while they were read applied.
func TestClientPresencePages(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	f := newFakeHerald(t)
	p := startClient(t, f, "", "{}")
	p.run(`window.lists = [];
		h.subscribe('room.1', () => {}, {
			onPresence: (s) => lists.push(s.users + ':' + s.members.map((m) => m.user).join('+') + ':' + ('truncated' in s)),
		})`)
	c := f.accept(ctx)
	c.welcome()
	room := c.expect(ctx, "subscribe")
	c.send(subscribed(room, "e1", 0))
	member := func(user string) map[string]any { return map[string]any{"user": user, "sessions": 1} }
	ask := c.expect(ctx, "presence")
	if _, has := ask["after"]; has {
		t.Fatalf("first page asked with after: %v", ask)
	}
	c.send(map[string]any{"type": "presence", "id": ask["id"], "topic": "room.1", "users": 4, "sessions": 4,
		"members": []any{member("a"), member("b")}, "truncated": true})
	ask = c.expect(ctx, "presence")
	if ask["after"] != "b" || ask["topic"] != "room.1" {
		t.Fatalf("second page asked with %v, want after b", ask)
	}
	// While the second page is read: a leaves, e joins, d leaves and
	// comes back.
	c.send(map[string]any{"type": "leave", "topic": "room.1", "user": "a"})
	c.send(map[string]any{"type": "join", "topic": "room.1", "user": "e"})
	c.send(map[string]any{"type": "leave", "topic": "room.1", "user": "d"})
	c.send(map[string]any{"type": "join", "topic": "room.1", "user": "d"})
	c.send(map[string]any{"type": "presence", "id": ask["id"], "topic": "room.1", "users": 4, "sessions": 4,
		"members": []any{member("c")}})
	p.wait(`lists.length === 1`)
	if got := p.value(`lists.join()`); got != "4:b+c+d+e:false" {
		t.Errorf("onPresence got %s, want b, c, d and e, no truncated", got)
	}

	p.run(`void h.presence('room.2', {after: 'x'}).then((r) => window.page = r)`)
	cmd := c.expect(ctx, "presence")
	if cmd["after"] != "x" {
		t.Fatalf("presence with after sent %v", cmd)
	}
	c.send(map[string]any{"type": "presence", "id": cmd["id"], "topic": "room.2", "users": 9, "sessions": 9,
		"members": []any{member("y")}, "truncated": true})
	p.wait(`window.page?.truncated === true && page.users === 9 && page.members[0].user === 'y'`)

	// A truncated page that lists nobody ends presenceAll, which then says
	// the list is incomplete rather than passing it off as whole.
	p.run(`void h.presenceAll('room.3').then((r) => window.all = r)`)
	cmd = c.expect(ctx, "presence")
	c.send(map[string]any{"type": "presence", "id": cmd["id"], "topic": "room.3", "users": 5, "sessions": 5,
		"members": []any{member("a")}, "truncated": true})
	cmd = c.expect(ctx, "presence")
	if cmd["after"] != "a" {
		t.Fatalf("presenceAll's second page asked with %v, want after a", cmd)
	}
	c.send(map[string]any{"type": "presence", "id": cmd["id"], "topic": "room.3", "users": 5, "sessions": 5,
		"members": []any{}, "truncated": true})
	p.wait(`window.all !== undefined`)
	if got := p.value(`all.members.map((m) => m.user).join('+') + ':' + all.truncated`); got != "a:true" {
		t.Errorf("presenceAll after an empty truncated page = %s, want a:true", got)
	}
	p.checkNoProblems()
}
