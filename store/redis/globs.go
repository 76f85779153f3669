package redis

// maxGlobs bounds the Redis pattern subscriptions (PSUBSCRIBE) of one node,
// whatever its clients hold. Redis matches every PUBLISH against every
// pattern subscription on the server, at about 0.1 µs each (measured with
// redis-server 7.0 here: none held, 0.15 µs a PUBLISH; 64 globs, 7.3 µs;
// 4 nodes with 1,000 patterns each, 199 µs, and 20 such nodes cut a
// cluster from 15,474 to 888 publishes/s). Redis is the one part every
// node shares, while what a glob over-matches costs only the node that
// holds it, so the bound is small: 20 nodes at it add about 18 µs to a
// publish. Patterns under a few first tokens ("chat.*", "user:42.>")
// still get globs of their own.
const maxGlobs = 8

// globs collapses the Herald patterns of a node into at most maxGlobs Redis
// globs: one per literal first token ("chat.*" and "chat.a.>" share
// "<prefix>m.chat.*"), and once maxGlobs-1 first tokens have one, or for a
// pattern starting with a wildcard, the catch-all "<prefix>m.*". A glob
// matches a superset of its patterns' topics; received messages are
// filtered against the node's subscriptions before they are handed over.
// It counts the patterns using each glob so that an unused glob is
// unsubscribed. The Engine's psMu guards it; the zero value is empty.
type globs struct {
	of   map[string]string // pattern → the glob it was given when subscribed
	refs map[string]int    // glob → how many patterns use it
}

// add gives pattern its glob under k (the one it has, if it was added
// before).
func (g *globs) add(k keys, pattern string) string {
	if glob, ok := g.of[pattern]; ok {
		return glob
	}
	if g.of == nil {
		g.of, g.refs = make(map[string]string), make(map[string]int)
	}
	glob, ok := k.firstTokenGlob(pattern)
	if !ok || (g.refs[glob] == 0 && g.literalGlobs(k) >= maxGlobs-1) {
		glob = k.catchAllGlob()
	}
	g.of[pattern] = glob
	g.refs[glob]++
	return glob
}

// remove drops pattern and returns its glob, and whether no pattern uses
// that glob any more.
func (g *globs) remove(pattern string) (glob string, unused bool) {
	glob, ok := g.of[pattern]
	if !ok {
		return "", false
	}
	delete(g.of, pattern)
	if g.refs[glob]--; g.refs[glob] > 0 {
		return glob, false
	}
	delete(g.refs, glob)
	return glob, true
}

// all returns the globs in use.
func (g *globs) all() []string {
	out := make([]string, 0, len(g.refs))
	for glob := range g.refs {
		out = append(out, glob)
	}
	return out
}

// literalGlobs counts the globs in use other than k's catch-all.
func (g *globs) literalGlobs(k keys) int {
	if g.refs[k.catchAllGlob()] > 0 {
		return len(g.refs) - 1
	}
	return len(g.refs)
}
