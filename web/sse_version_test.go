package web

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// versionProxy makes the node behind it look like one whose event ids are
// of version 2 (docs/protocol.md section 10): the ids of the streams it
// carries are sent on as 2.…, an id of version 2 that a request resumes
// with is handed to the node as the 1.… it was, and any other, of the
// version this node reads but the one it stands for would not, is no
// resume. It keeps the ids the requests came with.
type versionProxy struct {
	next http.Handler

	mu    sync.Mutex
	asked []string // the last_event_id of each /sse request, in order
}

func (p *versionProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/sse" {
		p.next.ServeHTTP(w, r)
		return
	}
	q := r.URL.Query()
	id := q.Get("last_event_id")
	if h := r.Header.Get("Last-Event-ID"); h != "" {
		id = h
	}
	p.mu.Lock()
	p.asked = append(p.asked, id)
	p.mu.Unlock()
	q.Del("last_event_id")
	r.Header.Del("Last-Event-ID")
	if rest, ok := strings.CutPrefix(id, "2."); ok {
		q.Set("last_event_id", "1."+rest)
	}
	r.URL.RawQuery = q.Encode()
	p.next.ServeHTTP(&idRewriter{ResponseWriter: w}, r)
}

func (p *versionProxy) askedIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.asked...)
}

// idRewriter writes on a stream's whole lines, each id line's version
// made 2.
type idRewriter struct {
	http.ResponseWriter
	partial []byte // the start of a line not ended yet
}

func (w *idRewriter) Write(b []byte) (int, error) {
	w.partial = append(w.partial, b...)
	end := bytes.LastIndexByte(w.partial, '\n')
	if end < 0 {
		return len(b), nil
	}
	lines := w.partial[:end+1]
	out := bytes.ReplaceAll(lines, []byte("\nid: 1."), []byte("\nid: 2."))
	if bytes.HasPrefix(out, []byte("id: 1.")) {
		out = append([]byte("id: 2."), out[len("id: 1."):]...)
	}
	w.partial = append([]byte(nil), w.partial[end+1:]...)
	if _, err := w.ResponseWriter.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (w *idRewriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// TestClientOverSSEResumesFromANodesIDsOfAnotherVersion: the client makes
// the stream's last_event_id of its positions in the form of version 1,
// which a node whose ids are of another version takes for no resume:
// every topic started afresh at every reopen, onRecoveryFailed each time
// and what came while the stream was down lost. Against such a node
// (here one made to look so by a proxy) it sends back the node's own last
// id, which resumes the topic with nothing missed.
func TestClientOverSSEResumesFromANodesIDsOfAnotherVersion(t *testing.T) {
	t.Parallel()
	base := startNode(t)
	cutter := &blockingProxy{}
	versions := &versionProxy{next: cutter}
	front := frontNode(t, base, func(next http.Handler) http.Handler {
		cutter.next = next
		return versions
	})
	p := newPage(t, front+"/herald.js", `true`)
	p.run(`import('/herald.js').then((herald) => {
		window.got = []; window.lost = []; window.states = [];
		window.h = new herald.Herald('/ws', { transport: 'sse', minDelay: 50, maxDelay: 200 });
		h.on('state', () => states.push(h.state));
		window.news = h.subscribe('news', (m) => got.push(m.data), { onRecoveryFailed: (i) => lost.push(i.topic) });
		h.connect();
		return news.ready;
	})`)
	publishHTTP(t, base, `{"topic":"news","data":1}`)
	p.wait(`got.join() === '1'`)
	release := cutter.cutAndHold()
	publishHTTP(t, base, `{"topic":"news","data":2}`) // while no stream carries it
	release()
	p.wait(`states.filter((s) => s === 'connected').length === 2 && news.state === 'live'`)
	publishHTTP(t, base, `{"topic":"news","data":3}`)
	p.wait(`got.includes(3)`)
	if got := p.value(`got.join() + ' ' + JSON.stringify(lost)`); got != `1,2,3 []` {
		t.Errorf("messages and recovery failures: %s, want 1,2,3 and none", got)
	}
	asked := versions.askedIDs()
	if len(asked) < 2 || !strings.HasPrefix(asked[len(asked)-1], "2.") {
		t.Errorf("the streams resumed with %q, want the last one with the node's own id (2.…)", asked)
	}
	p.checkNoProblems()
}
