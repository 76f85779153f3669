package broker

import "sync"

// EventConn is a Conn that takes one SSE event in two parts queued as
// one: the part shared by every stream and the stream's own id. Both go
// or neither, and nothing comes between them, so that an event is never
// cut by another or by a slow reader's close. transport's connections
// have it; with a Conn without it, the parts are joined and sent.
type EventConn interface {
	Conn
	SendPair(shared, own []byte) bool
	// SendPairDeferred is SendPair with the write left to a Flusher of
	// b, as DeferredConn's SendDeferred.
	SendPairDeferred(shared, own []byte, b *Batch) bool
}

// stream is an SSE session's Conn: it puts the ids on events, the stream's
// position in each exact topic it asked for (streamid.go), and holds what
// is sent until the transport's connection exists (Stream.Start). Every
// send of the session goes through it, under mu, so that an event's
// parts and its id stay together and in order.
type stream struct {
	mu     sync.Mutex
	target Conn // nil until Start
	// closeCode and closeReason are a Close that came before Start.
	closeCode   int
	closeReason string
	slots       []streamSlot // the exact topics asked for, in request order
	count       uint64       // events of other topics, for distinct ids
}

// streamSlot is the stream's position in one exact topic: the last
// message it was sent of it.
type streamSlot struct {
	topic     string
	topicHash uint64
	epoch     string
	epochHash uint64
	seq       uint64
}

func (sl *streamSlot) moveTo(epoch string, seq uint64) {
	if epoch != sl.epoch {
		sl.epoch, sl.epochHash = epoch, idHash(epoch)
	} else if seq < sl.seq {
		// A pattern may deliver a message from before the exact topic's
		// start: the id must not step back, or a resume from it would
		// send again what the stream already had.
		return
	}
	sl.seq = seq
}

func (st *stream) Send(frame []byte) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.target != nil && st.target.Send(frame)
}

func (st *stream) Close(code int, reason string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.target == nil {
		if st.closeCode == 0 {
			st.closeCode, st.closeReason = code, reason
		}
		return
	}
	st.target.Close(code, reason)
}

// slot is the index of topic's slot, or -1.
func (st *stream) slot(topic string) int {
	for i := range st.slots {
		if st.slots[i].topic == topic {
			return i
		}
	}
	return -1
}

// deliver sends message m, whose SSE form is ev (sseMessageEvent), with
// the stream's id once m counted in it. A stream of one topic gets the
// shared event whole; any other gets the shared part and its own id.
// batch defers the write when not nil.
func (st *stream) deliver(m *Message, ev []byte, batch *Batch) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.target == nil {
		return false
	}
	i := st.slot(m.Topic)
	if i >= 0 {
		st.slots[i].moveTo(m.Epoch, m.Seq)
	} else {
		st.count++
	}
	if i == 0 && len(st.slots) == 1 && st.count == 0 && sseEventEnded(ev) {
		return sendVia(batch, st.target, ev)
	}
	return st.sendPair(sseData(ev), st.appendID(nil), batch)
}

// appendID appends the stream's id line and the blank line that ends an
// event.
func (st *stream) appendID(b []byte) []byte {
	if b == nil {
		b = make([]byte, 0, 8+len(st.slots)*(1+2*hashDigits+4)+2+maxSeqDigits)
	}
	b = append(b, "id: "...)
	b = append(b, streamIDVersion)
	for _, sl := range st.slots {
		b = appendIDEntry(b, idEntry{topic: sl.topicHash, epoch: sl.epochHash, seq: sl.seq})
	}
	if st.count > 0 {
		b = append(b, '~')
		b = appendSeqDigits(b, st.count)
	}
	return append(b, "\n\n"...)
}

// sendPair queues an event in two parts; called with mu held.
func (st *stream) sendPair(shared, own []byte, batch *Batch) bool {
	ec, ok := st.target.(EventConn)
	if !ok {
		return sendVia(batch, st.target, append(append([]byte(nil), shared...), own...))
	}
	if batch == nil {
		return ec.SendPair(shared, own)
	}
	return ec.SendPairDeferred(shared, own, batch)
}

// sendVia sends frame on c, deferred through batch when batch is not nil.
func sendVia(batch *Batch, c Conn, frame []byte) bool {
	if batch == nil {
		return c.Send(frame)
	}
	return batch.send(c, frame)
}

// stream returns the session's stream; nil for a WebSocket session.
func (s *Session) stream() *stream {
	if s.framing != FramingSSE {
		return nil
	}
	st, _ := s.conn.(*stream)
	return st
}

// deliver sends message m to the session, as frame (in the session's
// framing), deferred through batch when batch is not nil.
func (s *Session) deliver(m *Message, frame []byte, batch *Batch) bool {
	if st := s.stream(); st != nil {
		return st.deliver(m, frame, batch)
	}
	return sendVia(batch, s.conn, frame)
}

// framedMessage is plain, a frame of this package holding message m (or
// its gap) as delivered through sub, in the session's framing.
func (sub *subscription) framedMessage(m *Message, plain []byte) []byte {
	if sub.session.framing == FramingSSE {
		return sseMessageEvent(framePayload(plain), m, sub.exact)
	}
	return sub.session.framed(plain)
}
