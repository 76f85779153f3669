package broker

import "strings"

// node is one step of the pattern trie, radix style: the edge that leads
// to it holds a run of tokens (its label: literals and '*'), so that a
// chain of nodes with one branch each is one node. A node other than the
// root that has no pattern of its own has at least two branches; a pattern
// therefore adds at most two nodes (its own and the one splitting an edge
// where it parts from the others), and costs a bounded amount of memory
// however deep it is (docs/protocol.md section 6): a trie node per token made a
// 255-byte pattern cost 36 KiB.
type node struct {
	// path is the text of the patterns under this node, from the start to
	// the end of its label, sliced from one of them without copying; the
	// label is path[from:].
	path string
	from int
	next map[string]*node // branches by the first token of their label
	star *node            // the branch whose label starts with '*'
	leaf *entry           // the pattern that ends here
	tail *entry           // the pattern "<path>.>" (or ">" at the root)
	// owners are those whose patterns alone would make a node at this
	// path, of those whose patterns could pass their walk bound
	// (walkowners.go): a walk through the node is counted against them.
	// Nil for none, behind a pointer that keeps a node in 64 bytes.
	owners *[]*walkOwner
}

func (n *node) label() string { return n.path[n.from:] }

// match appends the entries of the patterns below n that match rest, the
// part of the topic after n's path ("" when none is left). Each node is
// visited at most once: its label takes a fixed number of tokens.
func (n *node) match(rest string, dst []*entry) []*entry {
	return n.walk(rest, dst, nil)
}

// walkLog is what a walk went through: how many nodes below where it
// began it compared with the topic, matching or not (what the match
// cost), and, when keep, which.
type walkLog struct {
	count int
	keep  bool
	nodes []*node
}

// walk is match that also logs in w, when w is not nil, the nodes it
// goes through.
func (n *node) walk(rest string, dst []*entry, w *walkLog) []*entry {
	if rest == "" {
		if n.leaf != nil {
			dst = append(dst, n.leaf)
		}
		return dst
	}
	if n.tail != nil {
		dst = append(dst, n.tail) // '>' takes what is left, one token or more
	}
	tok, _ := nextToken(rest)
	if c := n.next[tok]; c != nil {
		dst = c.follow(rest, dst, w)
	}
	if n.star != nil {
		dst = n.star.follow(rest, dst, w)
	}
	return dst
}

// follow matches n's label against the start of rest and goes on below n.
func (n *node) follow(rest string, dst []*entry, w *walkLog) []*entry {
	if w != nil {
		w.count++
		if w.keep {
			w.nodes = append(w.nodes, n)
		}
	}
	if rest, ok := consume(n.label(), rest); ok {
		return n.walk(rest, dst, w)
	}
	return dst
}

// consume matches the tokens of label, '*' matching any one, against the
// first tokens of topic and returns the rest of topic after them.
func consume(label, topic string) (rest string, ok bool) {
	if strings.IndexByte(label, '*') < 0 { // literals only: one comparison
		switch {
		case !strings.HasPrefix(topic, label):
			return "", false
		case len(topic) == len(label):
			return "", true
		case topic[len(label)] == '.':
			return topic[len(label)+1:], true
		}
		return "", false
	}
	for {
		if topic == "" {
			return "", false
		}
		lt, lmore := nextToken(label)
		tt, tmore := nextToken(topic)
		if lt != "*" && lt != tt {
			return "", false
		}
		topic = after(topic, tt, tmore)
		if !lmore {
			return topic, true
		}
		label = label[len(lt)+1:]
	}
}

// after returns s without its first token tok ("" when it was the last).
func after(s, tok string, more bool) string {
	if !more {
		return ""
	}
	return s[len(tok)+1:]
}

// body returns how much of pattern leads to its node: all of it, or all
// but a last '>' token, which tail reports.
func body(pattern string) (end int, tail bool) {
	switch {
	case pattern == ">":
		return 0, true
	case strings.HasSuffix(pattern, ".>"):
		return len(pattern) - 2, true
	}
	return len(pattern), false
}

// insert puts e at pattern's node, splitting the edge where pattern parts
// from the patterns already there.
func (n *node) insert(pattern string, e *entry) {
	end, tail := body(pattern)
	at := n
	for off := 0; off < end; {
		tok, _ := nextToken(pattern[off:end])
		c := at.child(tok)
		if c == nil {
			c = &node{path: pattern[:end], from: off}
			at.setChild(tok, c)
			at = c
			break
		}
		k := commonTokens(c.label(), pattern[off:end])
		if k < len(c.label()) {
			c = at.split(tok, c, k)
		}
		at = c
		off += k + 1 // past the '.' that follows
	}
	if tail {
		at.tail = e
	} else {
		at.leaf = e
	}
}

// commonTokens is the length of the longest run of whole tokens that a
// and b start with; both start with at least one token in common.
func commonTokens(a, b string) int {
	k := 0
	for {
		at, amore := nextToken(a[k:])
		bt, bmore := nextToken(b[k:])
		if at != bt {
			return k - 1 // before the '.' that ends the common run
		}
		k += len(at)
		if !amore || !bmore {
			return k
		}
		k++
	}
}

// split cuts the edge to c, reached by tok, after k bytes of its label and
// returns the node put in between.
func (n *node) split(tok string, c *node, k int) *node {
	mid := &node{path: c.path[:c.from+k], from: c.from}
	c.from += k + 1
	ctok, _ := nextToken(c.label())
	mid.setChild(ctok, c)
	n.setChild(tok, mid)
	return mid
}

// remove takes pattern out, drops the nodes left holding nothing and
// merges a node left with one branch and no pattern into that branch.
func (n *node) remove(pattern string) {
	end, tail := body(pattern)
	n.removeAt(pattern[:end], 0, tail)
}

// removeAt removes the pattern whose body is b, of which b[off:] is below n.
func (n *node) removeAt(b string, off int, tail bool) {
	if off >= len(b) {
		if tail {
			n.tail = nil
		} else {
			n.leaf = nil
		}
		return
	}
	tok, _ := nextToken(b[off:])
	c := n.child(tok)
	if c == nil {
		return
	}
	l, rest := c.label(), b[off:]
	if !strings.HasPrefix(rest, l) || len(rest) > len(l) && rest[len(l)] != '.' {
		return
	}
	c.removeAt(b, off+len(l)+1, tail)
	n.tidy(tok, c)
}

// tidy drops the branch c, reached by tok, when it holds nothing, and puts
// its only branch in its place when it has no pattern of its own.
func (n *node) tidy(tok string, c *node) {
	if c.leaf != nil || c.tail != nil {
		return
	}
	switch len(c.next) + boolInt(c.star != nil) {
	case 0:
		n.setChild(tok, nil)
	case 1:
		g := c.star
		for _, g = range c.next {
		}
		g.from = c.from // g.path goes through c's label
		n.setChild(tok, g)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (n *node) child(tok string) *node {
	if tok == "*" {
		return n.star
	}
	return n.next[tok]
}

// setChild puts c as the branch for tok; nil removes it.
func (n *node) setChild(tok string, c *node) {
	switch {
	case tok == "*":
		n.star = c
	case c != nil:
		if n.next == nil {
			n.next = make(map[string]*node, 1)
		}
		n.next[tok] = c
	default:
		delete(n.next, tok)
		if len(n.next) == 0 {
			n.next = nil // an empty map still holds its table
		}
	}
}

func (n *node) empty() bool {
	return len(n.next) == 0 && n.star == nil && n.leaf == nil && n.tail == nil
}
