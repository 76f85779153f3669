package broker

// HandlePresence routes a join or leave to the topic's presence:true
// subscriptions.
func (b *Broker) HandlePresence(c PresenceChange) {}

// HandleControl applies a backend's control to this node's sessions.
func (b *Broker) HandleControl(c Control) {}
