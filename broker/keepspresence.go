package broker

// KeepsPresence reports whether topic keeps presence: a concrete topic
// under one of Config.PresenceTopics. The dashboard shows counts for
// those.
func (b *Broker) KeepsPresence(topic string) bool { return b.keepsPresence(topic) }
