package redis

import "strings"

// patternTrie holds wildcard patterns by token, as NATS's sublist does, so
// that asking whether any of them matches a topic visits only the trie
// nodes along the topic's tokens (each at most once), not every pattern:
// a node whose clients hold a thousand patterns pays for the few that share
// a topic's prefix, not for a thousand broker.Match calls.
type patternTrie struct{ root pnode }

// pnode is one token position. A pattern's path is its tokens up to a last
// '>', which sets rest on the node it leads to instead of adding a child.
type pnode struct {
	next map[string]*pnode // by literal token, or "*"
	end  bool              // a pattern ends here
	rest bool              // a pattern ends here with '>': one or more tokens follow
}

// insert adds a valid wildcard pattern.
func (t *patternTrie) insert(pattern string) {
	n := &t.root
	for rest, more := pattern, true; more; {
		var tok string
		tok, rest, more = cutToken(rest)
		if tok == ">" {
			n.rest = true
			return
		}
		c := n.next[tok]
		if c == nil {
			if n.next == nil {
				n.next = make(map[string]*pnode)
			}
			c = new(pnode)
			n.next[tok] = c
		}
		n = c
	}
	n.end = true
}

// remove deletes pattern, and the nodes only it used, so that the trie's
// size follows the patterns held now.
func (t *patternTrie) remove(pattern string) {
	t.root.remove(pattern)
}

// remove deletes pattern below n and reports whether n is left empty.
func (n *pnode) remove(pattern string) bool {
	tok, rest, more := cutToken(pattern)
	switch {
	case tok == ">":
		n.rest = false
	case n.next[tok] != nil:
		c := n.next[tok]
		if !more {
			c.end = false
		}
		if (!more || c.remove(rest)) && c.empty() {
			delete(n.next, tok)
		}
	}
	return n.empty()
}

func (n *pnode) empty() bool { return !n.end && !n.rest && len(n.next) == 0 }

// match reports whether a pattern of the trie matches the valid topic.
func (t *patternTrie) match(topic string) bool { return t.root.match(topic, true) }

// match reports whether a pattern below n matches the tokens of rest (none
// when more is false).
func (n *pnode) match(rest string, more bool) bool {
	if !more {
		return n.end
	}
	if n.rest {
		return true
	}
	tok, after, tmore := cutToken(rest)
	if c := n.next[tok]; c != nil && c.match(after, tmore) {
		return true
	}
	c := n.next["*"] // a topic token is never "*": this is the wildcard
	return c != nil && c.match(after, tmore)
}

// cutToken splits s at its first '.': the token, what follows it, and
// whether anything does.
func cutToken(s string) (tok, rest string, more bool) {
	tok, rest, more = strings.Cut(s, ".")
	return tok, rest, more
}
