package broker

// since is a resume position: every message after Seq in Epoch. An SSE
// resume knows the epoch by its hash only (streamid.go): hashed, and
// epochHash instead of Epoch.
type since struct {
	Epoch     string `json:"epoch"`
	Seq       uint64 `json:"seq"`
	epochHash uint64
	hashed    bool
	// budget is the message data this resume may read (MaxResumeBytes);
	// 0: the broker's MaxResumeBytes.
	budget int
	// sends bounds what this resume queues beside what its connection
	// holds, shared by the topics of an SSE stream (set by setUp or
	// OpenStream); nil: no bound.
	sends *resumeSends
}

// inEpoch reports whether since is a position in epoch.
func (s *since) inEpoch(epoch string) bool {
	if s.hashed {
		return idHash(epoch) == s.epochHash
	}
	return s.Epoch == epoch
}

// parseSince reads a command's since: an object, or null for none.
func (c *command) parseSince(s *jsonScanner) bool {
	if s.peek() == 'n' {
		s.skipValue()
		c.Since = nil
		return true
	}
	if c.Since == nil {
		c.Since = &since{}
	}
	typesFit := true
	isObject := s.object(func(key []byte) {
		var ok bool
		switch string(key) {
		case "epoch":
			ok = s.stringInto(&c.Since.Epoch)
		case "seq":
			ok = s.uintInto(&c.Since.Seq)
		default:
			s.skipValue()
			ok = true
		}
		typesFit = typesFit && ok
	})
	return isObject && typesFit
}
