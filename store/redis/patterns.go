package redis

// patternGate says whether publishes on Cluster must also PUBLISH on the
// classic channel, which only pattern subscriptions use.
type patternGate struct{}

// open reports whether a publish must go on the classic channel too.
func (patternGate) open() bool { return true }
