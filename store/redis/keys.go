package redis

import "strings"

// keys names the Redis keys and channels of one engine (see the package
// comment for the layout).
type keys struct{ prefix string }

func (k keys) meta(topic string) string { return k.prefix + "{" + topic + "}:meta" }
func (k keys) hist(topic string) string { return k.prefix + "{" + topic + "}:hist" }
func (k keys) idem(topic, key string) string {
	return k.prefix + "{" + topic + "}:idem:" + key
}

// channel is where messages of topic are published.
func (k keys) channel(topic string) string { return k.prefix + "m." + topic }

// topicOf returns the topic of a message channel.
func (k keys) topicOf(channel string) (string, bool) {
	return strings.CutPrefix(channel, k.prefix+"m.")
}

// probe is the node's private channel for liveness probes.
func (k keys) probe(node string) string { return k.prefix + "probe." + node }

// glob is the Redis PSUBSCRIBE pattern for a Herald pattern: every wildcard
// token ('*', or a last '>') becomes the glob '*'. The glob matches a
// superset of the pattern's topics; received messages are filtered exactly.
func (k keys) glob(pattern string) string {
	toks := strings.Split(pattern, ".")
	for i, t := range toks {
		if t == ">" {
			toks[i] = "*"
		}
	}
	return escapeGlob(k.prefix+"m.") + strings.Join(toks, ".")
}

// escapeGlob quotes the glob metacharacters of a literal. Topic tokens never
// hold them; a prefix might.
func escapeGlob(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(`*?[]\`, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
