package bench

import (
	"bytes"
	"fmt"
	"time"
)

// Centrifugo v6's JSON client protocol, as much of it as the benchmark
// needs: connect anonymously, subscribe to one channel, read publication
// pushes, answer the server's pings. A frame may carry several replies, one
// a line. Latency and completeness come from the data the benchmark
// publishes itself, read by parseData exactly as for Herald. Without
// history Centrifugo gives publications no offset, so there is no seq to
// check for gaps and duplicates: completeness alone says what was lost.

// Command ids: one connection sends each command once.
const (
	cfConnectID   = 1
	cfSubscribeID = 2
	// cfAliveID is the liveness probe: an unsubscribe from a channel the
	// connection never joined, which v6 answers with an empty success. Its
	// ping command would do, but v6 closes the connection for it (3501).
	cfAliveID = 3
)

// cfAliveProbe is the liveness probe's command.
var cfAliveProbe = []byte(`{"id":3,"unsubscribe":{"channel":"herald-bench.alive"}}`)

var (
	cfPing    = []byte(`{}`) // the server's ping, and the client's pong
	cfPubKey  = []byte(`"pub":`)
	cfErrKey  = []byte(`"error":`)
	cfPongKey = []byte(`"pong":true`)
)

// centrifugoSubscribe connects and subscribes to topic's channel, one
// command at a time, and notes the server's ping interval as the
// heartbeat.
func (w *worker) centrifugoSubscribe(c *wsConn, topic int) error {
	reply, err := w.cfCommand(c, cfConnectID, `{"id":1,"connect":{}}`)
	if err != nil {
		return err
	}
	if ping, ok := intField(reply, `"ping":`); ok {
		w.heartbeat.Store(ping)
	}
	// A pong the server did not ask for makes it disconnect the client.
	w.cfPong.Store(bytes.Contains(reply, cfPongKey))
	_, err = w.cfCommand(c, cfSubscribeID, `{"id":2,"subscribe":{"channel":"`+w.plan.Topic(topic)+`"}}`)
	return err
}

// cfCommand sends one command and reads until its reply, which it returns;
// the reply is valid until the next read. Pings are answered on the way.
// Nothing else can arrive before a connection is subscribed, and
// publishing starts only once every connection is, so lines skipped here
// are no deliveries.
func (w *worker) cfCommand(c *wsConn, id int64, cmd string) ([]byte, error) {
	if err := c.WriteText([]byte(cmd)); err != nil {
		return nil, err
	}
	for {
		frame, _, err := c.ReadMessage()
		if err != nil {
			return nil, err
		}
		for len(frame) > 0 {
			var line []byte
			line, frame = nextLine(frame)
			if bytes.Equal(line, cfPing) {
				w.cfAnswerPing(c)
				continue
			}
			if got, ok := intField(line, `"id":`); !ok || got != id {
				continue
			}
			if bytes.Contains(line, cfErrKey) {
				return nil, cfError(line)
			}
			return line, nil
		}
	}
}

// readCentrifugo counts what arrives on one subscribed connection until it
// closes.
func (w *worker) readCentrifugo(c *wsConn, topic int) {
	defer w.readers.Done()
	defer w.open.Add(-1)
	for {
		frame, at, err := c.ReadMessage()
		if err != nil {
			w.readEnded(err)
			return
		}
		for len(frame) > 0 {
			var line []byte
			line, frame = nextLine(frame)
			w.onCentrifugoLine(c, line, at, topic)
		}
	}
}

// onCentrifugoLine handles one reply: a publication, a ping, the answer
// to the liveness probe, or anything else, which is counted as an error
// (an unsubscribe or disconnect push, an error reply).
func (w *worker) onCentrifugoLine(c *wsConn, line []byte, at time.Time, topic int) {
	switch {
	case len(line) == 0:
	case bytes.Contains(line, cfPubKey):
		sent, _, ok := parseData(line)
		if !ok {
			w.unreadable()
			return
		}
		w.count(sent, at, topic)
	case bytes.Equal(line, cfPing):
		w.cfAnswerPing(c)
	default:
		if id, ok := intField(line, `"id":`); ok && id == cfAliveID {
			w.alive.Add(1)
			return
		}
		w.errs.Add(1)
		w.kinds.add("reply", cfError(line))
	}
}

// cfAnswerPing sends the pong when the connect reply asked for pongs.
func (w *worker) cfAnswerPing(c *wsConn) {
	w.pings.Add(1)
	if w.cfPong.Load() {
		_ = c.WriteText(cfPing)
	}
}

// cfError describes an error reply by its numeric code, or an unexpected
// reply by its start.
func cfError(line []byte) error {
	if code, ok := intField(line, `"code":`); ok {
		return fmt.Errorf("%w: code %d", errServerError, code)
	}
	return fmt.Errorf("%w: unexpected reply %.60q", errServerError, line)
}

// nextLine cuts the first reply off a frame of newline-separated replies.
func nextLine(frame []byte) (line, rest []byte) {
	if i := bytes.IndexByte(frame, '\n'); i >= 0 {
		return frame[:i], frame[i+1:]
	}
	return frame, nil
}
