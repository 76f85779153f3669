package broker

import "bytes"

// resumeSends bounds what the resumes of one request queue together: a
// subscribe with since, or all the topics an SSE stream's Last-Event-ID
// resumes. An engine's read (ResumeReader) stops only after the message
// that passes a resume's budget, and counts no frame around the messages,
// so a stream whose topics each read one large message past their share
// queued more than the write queue holds: the connection was closed as a
// slow consumer with what it had read dropped, and its next resume read
// the same again. What is kept here is counted as the frames it becomes.
type resumeSends struct {
	limit int // Config.MaxResumeBytes; 0: no bound
	sse   bool
	// idBytes is what an SSE event's id line adds: an entry per topic.
	idBytes int
	// queued is what the connection had queued and not yet written when
	// the resume began (QueueLengther): the resumes a client sends at
	// once after a reconnect each see the ones before.
	queued  int
	sent    int
	read    int // messages the engine read for the resumes, kept or not
	copied  int // bytes of messages the engine's backend copied (HistoryResult.Scanned)
	charged int // commands counted for sent and read (resume_charge.go)
	// perCommand is what of sent counts as one command: the session's
	// replyCommandBytes, set by every constructor, as a connection that
	// compresses counts less (DeflatedCommandBytes).
	perCommand int
	// hold is what the resumes hold of their address's bound until their
	// history is queued (resume_hold.go).
	hold resumeHold
}

// QueueLengther is a Conn that can say how many bytes it has queued and
// not yet written; a resume on it sends no more than fits beside them.
type QueueLengther interface {
	QueuedBytes() int
}

// emptyQueueBytes is what a queue may hold (replies, pings) and still
// count as empty for a resume's first message, which is then kept
// whatever its size so that resuming again always moves on.
func (r *resumeSends) emptyQueueBytes() int {
	return min(64<<10, r.limit/4)
}

// newResumeSends is the bound of one subscribe's resume on c, each
// perCommand bytes it sends counting as a command.
func newResumeSends(limit int, c Conn, perCommand int) *resumeSends {
	r := &resumeSends{limit: limit, perCommand: perCommand}
	if q, ok := c.(QueueLengther); ok {
		r.queued = q.QueuedBytes()
	}
	return r
}

// messageFrameBytes is what a message's frame holds beside its topic,
// epoch and ResumeBytes: the field names, its seq, and a WebSocket
// header or an SSE event's "data: " and line ends.
const messageFrameBytes = 128

// newStreamSends is the bound of a stream's resumes, topics being how
// many it has (its id names as many, maxStreamTopics at most), each
// perCommand bytes they send counting as a command.
func newStreamSends(limit, topics, perCommand int) *resumeSends {
	return &resumeSends{limit: limit, sse: true, perCommand: perCommand,
		idBytes: len("id: ") + 1 + min(topics, maxStreamTopics)*(1+2*hashDigits+maxSeqDigits) + 1 + maxSeqDigits + 2}
}

// keep returns the first of msgs whose frames fit in what is left of the
// bound beside what was queued, counting them as sent; the first message
// of all is kept whatever its size when the queue was empty, so that
// resuming again always moves on.
func (r *resumeSends) keep(msgs []*Message) []*Message {
	if r == nil || r.limit <= 0 {
		return msgs
	}
	for i, m := range msgs {
		n := r.frameBytes(m)
		first := r.sent == 0 && r.queued <= r.emptyQueueBytes()
		if !first && r.queued+r.sent+n > r.limit {
			return msgs[:i]
		}
		r.sent += n
	}
	return msgs
}

// room returns budget, or what keep can still take beside what was
// queued and sent when that is less, at least 1: a read within it
// stops after one message. Reading the whole budget for a connection
// whose queue held nearly all of it read 205 KB of history that keep
// then dropped, and the resume, having sent nothing, counted as one
// command (resume_charge.go) however often it came.
func (r *resumeSends) room(budget int) int {
	if r == nil || r.limit <= 0 {
		return budget
	}
	return max(1, min(budget, r.limit-r.queued-r.sent))
}

// frameBytes is at least what m's frame takes in the write queue.
func (r *resumeSends) frameBytes(m *Message) int {
	n := messageFrameBytes + len(m.Topic) + len(m.Epoch) + ResumeBytes(m)
	if r.sse {
		// Every line of the data is a "data: " line of its own.
		n += r.idBytes + len("data: ")*(bytes.Count(m.Data, []byte("\n"))+bytes.Count(m.Data, []byte("\r")))
	}
	return n
}
