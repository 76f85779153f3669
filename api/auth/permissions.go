package auth

import (
	"slices"
	"strings"

	"github.com/herald-broker/herald/broker"
)

// Permissions is what a token's allow claim grants. The zero value, and a
// nil *Permissions, allow nothing.
type Permissions struct {
	subscribe []string
	publish   []string
}

var (
	_ broker.Permissions       = (*Permissions)(nil)
	_ broker.SubscribeComparer = (*Permissions)(nil)
)

// NewPermissions grants subscriptions that fall under a subscribe pattern
// and publishes to topics a publish pattern matches. Every entry must be a
// valid pattern (docs/protocol.md section 1), else the error wraps ErrBadAllow.
func NewPermissions(subscribe, publish []string) (*Permissions, error) {
	if err := checkPatterns("subscribe", subscribe); err != nil {
		return nil, err
	}
	if err := checkPatterns("publish", publish); err != nil {
		return nil, err
	}
	return &Permissions{
		subscribe: append([]string(nil), subscribe...),
		publish:   append([]string(nil), publish...),
	}, nil
}

// CanSubscribe reports whether every topic pattern can match is allowed
// (docs/protocol.md section 5). "chat.*" falls under "chat.>", ">" falls
// under nothing narrower, and "chat.>" falls under "chat.*" and
// "chat.*.>" together.
func (p *Permissions) CanSubscribe(pattern string) bool {
	if p == nil {
		return false
	}
	longest := 0
	for _, allowed := range p.subscribe {
		longest = max(longest, tokens(allowed))
	}
	for {
		if p.coversAlone(pattern) {
			return true
		}
		// Several allowed patterns may cover a pattern ending in ">"
		// together: prefix.> is prefix.* and prefix.*.>, the first of
		// fixed length, the second split again. A fixed-length pattern
		// that none covers alone is not covered by several: a token that
		// no allowed pattern names fills its wildcards. Nor is a split
		// longer than every allowed pattern, as only one ending in ">"
		// could cover it, and that one would have covered it whole.
		prefix, open := strings.CutSuffix(pattern, ">")
		if !open || tokens(pattern) > longest || !p.coversAlone(prefix+"*") {
			return false
		}
		pattern = prefix + "*.>"
	}
}

// SameSubscribe reports whether other is a *Permissions with the same
// subscribe list, in the same order: then it allows exactly the
// subscriptions p allows. A list in another order is not told apart from
// a different one, which only costs a refresh its checks.
func (p *Permissions) SameSubscribe(other broker.Permissions) bool {
	o, ok := other.(*Permissions)
	return ok && p != nil && o != nil && slices.Equal(p.subscribe, o.subscribe)
}

// coversAlone reports whether one allowed subscribe pattern covers pattern.
func (p *Permissions) coversAlone(pattern string) bool {
	for _, allowed := range p.subscribe {
		if broker.Covers(allowed, pattern) {
			return true
		}
	}
	return false
}

// tokens counts the tokens of a pattern.
func tokens(pattern string) int { return strings.Count(pattern, ".") + 1 }

// CanPublish reports whether some allowed publish pattern matches topic,
// which must be a concrete topic.
func (p *Permissions) CanPublish(topic string) bool {
	if p == nil || !broker.ValidTopic(topic) {
		return false
	}
	for _, allowed := range p.publish {
		if broker.Match(allowed, topic) {
			return true
		}
	}
	return false
}
