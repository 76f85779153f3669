package broker

// A backend's order about a topic (docs/protocol.md section 9) keeps its
// place among the client's commands of that topic while a subscribe of it
// waits for the subscribe hook: it is held behind that subscribe as they
// are (authorize.go), and an unsubscribe ends what every subscribe that
// came before it makes, without letting it go live.

// heldForm returns the command j is held as behind a subscribe of topic
// that waits for the hook: a client's subscribe or unsubscribe of topic,
// which gets that subscribe's answer, or a backend's order about topic
// alone, which keeps its place among them.
func heldForm(j job, topic string) (command, bool) {
	if j.release != nil || j.err != nil {
		return command{}, false
	}
	if j.server != 0 {
		if len(j.topics) != 1 || j.topics[0] != topic {
			return command{}, false
		}
		return serverCommand(j.server, topic), true
	}
	if j.cmd.Topic != topic || (j.cmd.Type != cmdSubscribe && j.cmd.Type != cmdUnsubscribe) {
		return command{}, false
	}
	c := j.cmd
	c.skippedHook = false // held behind the subscribe, it gets its answer
	return c, true
}

// serverCommand is a backend's order about topic held behind a subscribe
// of it that waits for the hook; authorized turns it back into a job.
func serverCommand(kind ControlKind, topic string) command {
	typ := cmdSubscribe
	if kind == ControlUnsubscribe {
		typ = cmdUnsubscribe
	}
	return command{Type: typ, Topic: topic, hasTopic: true, server: true}
}

// holdControlLocked holds a backend's order about topic behind a
// subscribe of it that waits for the hook, so that it applies after
// what the client sent before it: an unsubscribe ends that subscribe's
// subscription even when the hook answers after it came. It reports
// false when no subscribe of topic waits. Called with mu held.
func (s *Session) holdControlLocked(kind ControlKind, topic string) bool {
	held, pending := s.pendingLocked()[topic]
	if !pending {
		return false
	}
	s.extra.pending[topic] = append(held, serverCommand(kind, topic))
	return true
}

// unsubscribeAheadLocked reports whether a backend's unsubscribe of topic
// waits to run after the subscribe the worker runs now: it came after
// that subscribe was made, so it ends what the subscribe makes. Jobs run
// in the order they came: a subscribe goes to the hook on arrival only
// when nothing of its topic is queued (authorizeFirst), what the hook
// holds runs after it answers, and a subscribe that asks it later takes
// with it what was queued behind it. So everything still waiting came
// later. Called with mu held.
func (s *Session) unsubscribeAheadLocked(topic string) bool {
	for _, c := range s.pendingLocked()[topic] {
		if c.server && c.Type == cmdUnsubscribe {
			return true
		}
	}
	if s.queue == nil {
		return false
	}
	for _, j := range s.queue.jobs {
		if j.server == ControlUnsubscribe && len(j.topics) == 1 && j.topics[0] == topic {
			return true
		}
	}
	return false
}

// heldServerLocked is how many backend's orders wait behind subscribes
// that wait for the hook. Called with mu held.
func (s *Session) heldServerLocked() int {
	n := 0
	for _, held := range s.pendingLocked() {
		n += len(held) - clientHeld(held)
	}
	return n
}

// clientHeld counts the client's commands in held, which maxHeldPerTopic
// bounds; a backend's orders held there are bounded with its others
// (enqueueServer).
func clientHeld(held []command) int {
	n := 0
	for i := range held {
		if !held[i].server {
			n++
		}
	}
	return n
}

// controlKind is the kind of a backend's order held as a command of typ.
func controlKind(typ string) ControlKind {
	if typ == cmdUnsubscribe {
		return ControlUnsubscribe
	}
	return ControlSubscribe
}
