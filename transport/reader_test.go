package transport

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gobwas/ws"
	"github.com/herald-broker/herald/broker"
)

// recordSink keeps what a frameReader delivered.
type recordSink struct {
	texts  []string
	pings  []string
	pongs  int
	closes []ws.StatusCode
	// pending mirrors onMessagePending: a fragmented message is open
	pending bool
}

func (s *recordSink) onText(p []byte)            { s.texts = append(s.texts, string(p)) }
func (s *recordSink) onPing(p []byte)            { s.pings = append(s.pings, string(p)) }
func (s *recordSink) onPong([]byte)              { s.pongs++ }
func (s *recordSink) onClose(code ws.StatusCode) { s.closes = append(s.closes, code) }
func (s *recordSink) onMessagePending(p bool)    { s.pending = p }

// feedInChunks feeds a copy of in to a new reader, chunk bytes at a time;
// deflate says whether permessage-deflate was negotiated.
func feedInChunks(in []byte, chunk int, limit int64, deflate bool) (*recordSink, *frameReader, error) {
	r := frameReader{deflate: deflate}
	sink := &recordSink{}
	data := append([]byte(nil), in...)
	for len(data) > 0 {
		n := min(chunk, len(data))
		if _, _, err := r.feed(data[:n], limit, anyFrames, sink); err != nil {
			return sink, &r, err
		}
		data = data[n:]
	}
	return sink, &r, nil
}

// feedPaced is feedInChunks with a budget of paced frames per feed: while
// the reader holds frames back it is fed nothing, with the budget again,
// until it holds none, as a driver does once its pace allows more. spent
// is the paced frames parsed in all.
func feedPaced(in []byte, chunk, budget int, limit int64, deflate bool) (_ *recordSink, _ *frameReader, spent int, _ error) {
	r := frameReader{deflate: deflate}
	sink := &recordSink{}
	data := append([]byte(nil), in...)
	for len(data) > 0 {
		n := min(chunk, len(data))
		next := data[:n]
		data = data[n:]
		for {
			_, got, err := r.feed(next, limit, budget, sink)
			spent += got
			if err != nil {
				return sink, &r, spent, err
			}
			if got > budget {
				return sink, &r, spent, fmt.Errorf("%d paced frames parsed on a budget of %d", got, budget)
			}
			if !r.held {
				break
			}
			next = nil
		}
	}
	return sink, &r, spent, nil
}

// TestReaderHoldsFramesPastItsBudget: commands and pings past the budget
// stay unparsed and come, in order, from the next feeds with no data;
// pongs and fragments before a message's last do not spend it.
func TestReaderHoldsFramesPastItsBudget(t *testing.T) {
	var in []byte
	for _, s := range []string{"a", "b", "c"} {
		in = append(in, frame(ws.OpText, true, []byte(s))...)
		in = append(in, frame(ws.OpPong, true, nil)...)
	}
	in = append(in, frame(ws.OpText, false, []byte("d"))...)
	in = append(in, frame(ws.OpContinuation, true, []byte("e"))...)
	in = append(in, frame(ws.OpPing, true, []byte("p"))...)
	r := frameReader{}
	sink := &recordSink{}
	var rounds []string
	data := in
	for range 10 {
		_, spent, err := r.feed(data, 1024, 2, sink)
		if err != nil {
			t.Fatal(err)
		}
		data = nil
		rounds = append(rounds, fmt.Sprintf("%d:%s/%d", spent, strings.Join(sink.texts, ""), len(sink.pings)))
		if !r.held {
			break
		}
	}
	if got, want := strings.Join(rounds, " "), "2:ab/0 2:abcde/0 1:abcde/1"; got != want {
		t.Fatalf("rounds %q, want %q", got, want)
	}
	if sink.pongs != 3 || !r.idle() {
		t.Fatalf("%d pongs, reader idle %v; want 3 and idle", sink.pongs, r.idle())
	}
}

func validStream() []byte {
	var in []byte
	in = append(in, frame(ws.OpText, true, []byte("one"))...)
	in = append(in, frame(ws.OpPing, true, []byte("p"))...)
	in = append(in, frame(ws.OpText, false, []byte("tw"))...)
	in = append(in, frame(ws.OpPong, true, nil)...)
	in = append(in, frame(ws.OpContinuation, false, []byte("o"))...)
	in = append(in, frame(ws.OpContinuation, true, []byte("!"))...)
	in = append(in, frame(ws.OpText, true, bytes.Repeat([]byte("x"), 300))...)   // 16-bit length
	in = append(in, frame(ws.OpText, true, bytes.Repeat([]byte("y"), 70000))...) // 64-bit length
	in = append(in, frame(ws.OpClose, true, closeBody(1000, "bye"))...)
	in = append(in, frame(ws.OpText, true, []byte("after close"))...)
	return in
}

func TestReaderGivesTheSameResultWhateverTheChunking(t *testing.T) {
	in := validStream()
	for _, chunk := range []int{1, 2, 3, 7, 13, 100, 4096, len(in)} {
		sink, r, err := feedInChunks(in, chunk, 1<<20, false)
		if err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		want := []string{"one", "two!", string(bytes.Repeat([]byte("x"), 300)), string(bytes.Repeat([]byte("y"), 70000))}
		if len(sink.texts) != len(want) {
			t.Fatalf("chunk %d: %d texts, want %d", chunk, len(sink.texts), len(want))
		}
		for i := range want {
			if sink.texts[i] != want[i] {
				t.Fatalf("chunk %d: text %d differs", chunk, i)
			}
		}
		if len(sink.pings) != 1 || sink.pings[0] != "p" || sink.pongs != 1 {
			t.Fatalf("chunk %d: pings %q pongs %d", chunk, sink.pings, sink.pongs)
		}
		if len(sink.closes) != 1 || sink.closes[0] != 1000 {
			t.Fatalf("chunk %d: closes %v", chunk, sink.closes)
		}
		if r.partial != nil || r.message != nil {
			t.Fatalf("chunk %d: reader keeps %d+%d bytes after complete frames", chunk, len(r.partial), len(r.message))
		}
	}
}

func TestReaderRejectsMalformedFrames(t *testing.T) {
	for _, tc := range malformedCases {
		rejects(t, tc.name, tc.input, tc.code, false)
	}
	for _, tc := range compressedCases {
		rejects(t, tc.name, tc.input, tc.code, true)
	}
}

// rejects checks that input fails the reader with code, whole or cut in
// bytes.
func rejects(t *testing.T, name string, input []byte, code ws.StatusCode, deflate bool) {
	t.Helper()
	for _, chunk := range []int{1, 1 << 20} {
		_, _, err := feedInChunks(input, chunk, 2*testMaxMessage, deflate)
		if err == nil {
			t.Fatalf("%s (chunk %d): no error", name, chunk)
		}
		if got := codeOf(err); got != code {
			t.Fatalf("%s (chunk %d): %v maps to %d, want %d", name, chunk, err, got, code)
		}
	}
}

func TestReaderRefusesOversizeOnTheHeaderAlone(t *testing.T) {
	header := rawFrame(ws.Header{Fin: true, OpCode: ws.OpText, Masked: true, Length: 1 << 40}, nil)
	var r frameReader
	_, _, err := r.feed(append([]byte(nil), header...), 1024, anyFrames, &recordSink{})
	if !errors.Is(err, ErrMessageTooBig) {
		t.Fatalf("err = %v, want ErrMessageTooBig", err)
	}
}

func TestReaderKeepsOnlyTheIncompleteFrame(t *testing.T) {
	var r frameReader
	whole := frame(ws.OpText, true, []byte("hello"))
	in := append(frame(ws.OpText, true, []byte("done")), whole[:4]...)
	sink := &recordSink{}
	if _, _, err := r.feed(in, 1024, anyFrames, sink); err != nil {
		t.Fatal(err)
	}
	if len(r.partial) != 4 {
		t.Fatalf("partial holds %d bytes, want 4", len(r.partial))
	}
	if _, _, err := r.feed(append([]byte(nil), whole[4:]...), 1024, anyFrames, sink); err != nil {
		t.Fatal(err)
	}
	if r.partial != nil || len(sink.texts) != 2 || sink.texts[1] != "hello" {
		t.Fatalf("partial %d bytes, texts %q", len(r.partial), sink.texts)
	}
}

// TestReaderDoesNotPinABigArrayBehindASmallTail: after a frame near the
// limit, a peer that always stops one byte into the next header (and
// sends a ping now and then, so the heartbeat never closes it) leaves the
// reader a byte, not the big frame's array.
func TestReaderDoesNotPinABigArrayBehindASmallTail(t *testing.T) {
	var r frameReader
	sink := &recordSink{}
	big := frame(ws.OpText, true, bytes.Repeat([]byte("b"), 100<<10))
	ping := frame(ws.OpPing, true, []byte("p"))
	feeds := [][]byte{big[:50<<10], append(big[50<<10:], ping[0])}
	for range 3 {
		feeds = append(feeds, append(ping[1:len(ping):len(ping)], ping[0]))
	}
	for i, in := range feeds {
		if _, _, err := r.feed(append([]byte(nil), in...), 1<<20, anyFrames, sink); err != nil {
			t.Fatal(err)
		}
		if i > 0 && (len(r.partial) != 1 || cap(r.partial) > 64) {
			t.Fatalf("feed %d: partial holds %d bytes in an array of %d", i, len(r.partial), cap(r.partial))
		}
	}
	if len(sink.texts) != 1 || len(sink.pings) != 3 {
		t.Fatalf("%d texts, %d pings", len(sink.texts), len(sink.pings))
	}
}

func TestCloseReasonIsCutAtARuneBoundary(t *testing.T) {
	long := string(bytes.Repeat([]byte("é"), 100)) // 200 bytes
	got := closeReason(long)
	if len(got) > 123 || len(got) != 122 {
		t.Fatalf("reason is %d bytes, want 122", len(got))
	}
}

// codeOf is the close code err is answered with.
func codeOf(err error) ws.StatusCode {
	code, _ := closeOf(err)
	return code
}

// The client reads a reason written for it, never a Go error string, and
// every connection-ending error has one that fits a close frame.
func TestCloseReasonsAreBuiltForTheClient(t *testing.T) {
	errs := []error{errLengthMSB, errCloseBody, errCloseCode, errBinary, errTextUTF8, errTooBig, errCompressedBad, errCompressedTooBig,
		protocolError(ws.ErrProtocolMaskRequired), fmt.Errorf("%w: wrapped", ErrHeartbeatTimeout)}
	for _, c := range closeCauses {
		errs = append(errs, c.err)
	}
	for _, err := range errs {
		code, reason := closeOf(err)
		if reason == "" || len(reason) > 123 || strings.Contains(reason, "herald/") {
			t.Errorf("%v: reason %q", err, reason)
		}
		if code < 1000 || code == broker.CloseProtocolError && !errors.Is(err, ErrProtocol) {
			t.Errorf("%v: code %d", err, code)
		}
	}
	if _, reason := closeOf(protocolError(ws.ErrProtocolMaskRequired)); reason != string(ws.ErrProtocolMaskRequired) {
		t.Errorf("an unmasked frame is told %q", reason)
	}
}
