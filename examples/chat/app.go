package main

import (
	"crypto/rand"
	"encoding/hex"
	"html/template"
	"log"
	"net/http"
	"strings"
	"sync"
)

// config are the app's settings.
type config struct {
	HeraldURL string // where the browser finds the node: http://host:port
	Secret    []byte // HERALD_HOOK_SECRET, shared with the node
	Log       *log.Logger
}

// app is the backend: its sessions (a cookie names a user) and its routes.
type app struct {
	cfg config
	mux *http.ServeMux

	mu       sync.Mutex
	sessions map[string]string // cookie value -> user name
}

const cookieName = "chat_session"

func newApp(cfg config) *app {
	a := &app{cfg: cfg, mux: http.NewServeMux(), sessions: map[string]string{}}
	a.mux.HandleFunc("GET /{$}", a.page)
	a.mux.HandleFunc("POST /login", a.login)
	a.mux.HandleFunc("POST /logout", a.logout)
	a.mux.HandleFunc("POST /herald/connect", a.signed(a.connectHook))
	a.mux.HandleFunc("POST /herald/subscribe", a.signed(a.subscribeHook))
	a.mux.HandleFunc("POST /herald/events", a.signed(a.events))
	return a
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// userOf returns the user a cookie header's session names, or "".
func (a *app) userOf(cookieHeader string) string {
	r := http.Request{Header: http.Header{"Cookie": {cookieHeader}}}
	c, err := r.Cookie(cookieName)
	if err != nil {
		return ""
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sessions[c.Value]
}

func (a *app) login(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(r.FormValue("name"))
	if name == "" || len(name) > 32 {
		http.Error(w, "a name of 1 to 32 characters, please", http.StatusBadRequest)
		return
	}
	b := make([]byte, 16)
	rand.Read(b)
	sid := hex.EncodeToString(b)
	a.mu.Lock()
	a.sessions[sid] = name
	a.mu.Unlock()
	// The cookie goes to the Herald node as well when it is on the same
	// host (cookies do not care about ports), so its connect hook sees it.
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: sid, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		a.mu.Lock()
		delete(a.sessions, c.Value)
		a.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *app) page(w http.ResponseWriter, r *http.Request) {
	user := a.userOf(r.Header.Get("Cookie"))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	pageTemplate.Execute(w, struct{ User, Herald, WS string }{
		user, a.cfg.HeraldURL, "ws" + strings.TrimPrefix(a.cfg.HeraldURL, "http") + "/ws",
	})
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<meta charset="utf-8">
<title>Herald chat</title>
{{if not .User}}
<form method="post" action="/login">
  <label>Your name <input name="name" autofocus></label> <button>Log in</button>
</form>
{{else}}
<p>Logged in as <b>{{.User}}</b>. <form method="post" action="/logout" style="display:inline"><button>Log out</button></form></p>
<p>Room: <select id="room"><option>chat.lobby</option><option>chat.random</option><option>chat.secret</option></select>
  <span id="state"></span></p>
<p>Here: <span id="members"></span></p>
<ul id="log"></ul>
<form id="say"><input id="text" autocomplete="off"> <button>Send</button></form>
<script type="module">
  import { Herald } from '{{.Herald}}/herald.js';

  // No token: the node asks this backend's connect hook, which reads the
  // session cookie the browser sends along.
  const h = new Herald('{{.WS}}');
  const log = (text) => document.querySelector('#log').append(Object.assign(document.createElement('li'), { textContent: text }));
  const members = new Map();
  const show = () => { document.querySelector('#members').textContent = [...members.values()].join(', '); };
  h.on('state', (s, info) => { document.querySelector('#state').textContent = info?.error ? s + ': ' + info.error.message : s; });
  h.on('error', (err) => log('(' + err.code + ': ' + err.message + ')'));
  let room = null;
  let sub = null;
  const join = (topic) => {
    if (sub) sub.unsubscribe();
    room = topic;
    document.querySelector('#log').replaceChildren();
    members.clear(); show();
    sub = h.subscribe(topic, (m) => log(m.data.user + ': ' + m.data.text), {
      backlog: 20,
      onPresence: (p) => { members.clear(); p.members.forEach((m) => members.set(m.user, m.info?.name ?? m.user)); show(); },
      onJoin: (j) => { members.set(j.user, j.info?.name ?? j.user); show(); },
      onLeave: (l) => { members.delete(l.user); show(); },
      onError: (err) => log('(' + topic + ': ' + err.code + ', ' + err.message + ')'),
    });
  };
  document.querySelector('#room').addEventListener('change', (ev) => join(ev.target.value));
  join('chat.lobby');
  h.connect();
  document.querySelector('#say').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const input = document.querySelector('#text');
    try {
      await h.publish(room, { user: {{.User}}, text: input.value });
      input.value = '';
    } catch (err) {
      log('(not sent: ' + err.code + ')');
    }
  });
</script>
{{end}}
`))
