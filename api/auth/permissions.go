package auth

import "github.com/herald-broker/herald/broker"

// Permissions is what a token's allow claim grants. The zero value, and a
// nil *Permissions, allow nothing.
type Permissions struct {
	subscribe []string
	publish   []string
}

var _ broker.Permissions = (*Permissions)(nil)

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

// CanSubscribe reports whether every topic pattern can match is allowed:
// some allowed subscribe pattern covers it. "chat.*" falls under "chat.>",
// ">" falls under nothing narrower.
func (p *Permissions) CanSubscribe(pattern string) bool {
	if p == nil {
		return false
	}
	for _, allowed := range p.subscribe {
		if broker.Covers(allowed, pattern) {
			return true
		}
	}
	return false
}

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
