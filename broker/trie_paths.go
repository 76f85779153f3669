package broker

import "strings"

// routeLengths is where the nodes along a pattern's body are: the
// lengths of their paths (node.route). A token takes two bytes at least,
// its dot included, so no body goes through more nodes, and adding or
// removing a deep pattern allocates none: as a slice of paths grown from
// 8, a pattern of 101 tokens took 16 KiB for its two routes.
type routeLengths [MaxTopicBytes/2 + 1]uint16

// route appends to out the lengths of the paths of the nodes below n
// that the pattern body b goes through or ends at, shortest first: each
// path is b[:length], and at most MaxTopicBytes long.
func (n *node) route(b string, out []uint16) []uint16 {
	for at, off := n, 0; off < len(b); {
		tok, _ := nextToken(b[off:])
		c := at.child(tok)
		if c == nil {
			break
		}
		l, rest := c.label(), b[off:]
		if !strings.HasPrefix(rest, l) || len(rest) > len(l) && rest[len(l)] != '.' {
			break
		}
		out = append(out, uint16(len(c.path)))
		at, off = c, off+len(l)+1
	}
	return out
}

// find returns the node below n whose path is path, or nil.
func (n *node) find(path string) *node {
	for at, off := n, 0; off < len(path); {
		tok, _ := nextToken(path[off:])
		c := at.child(tok)
		if c == nil || !strings.HasPrefix(path, c.path) {
			return nil
		}
		switch {
		case len(c.path) == len(path):
			return c
		case path[len(c.path)] != '.':
			return nil
		}
		at, off = c, len(c.path)+1
	}
	return nil
}

// eachBelow calls fn for every node below n.
func (n *node) eachBelow(fn func(*node)) {
	for _, c := range n.next {
		fn(c)
		c.eachBelow(fn)
	}
	if n.star != nil {
		fn(n.star)
		n.star.eachBelow(fn)
	}
}
