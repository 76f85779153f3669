package transport

import (
	"strings"
	"testing"
)

// FuzzFrameReader feeds arbitrary bytes, whole and split at one point, and
// checks the reader neither panics nor depends on how its input is cut,
// never keeps more than one frame's worth of bytes nor an array much larger
// than what it keeps, and reports a fragmented message open exactly while
// it is. Each input is read with permessage-deflate negotiated and
// without, so compressed messages (RSV1) go through the bounded inflate,
// and once more paced, a few commands and pings a feed (pace.go), which
// must parse the same.
func FuzzFrameReader(f *testing.F) {
	f.Add(validStream(), 5)
	for _, tc := range malformedCases {
		f.Add(tc.input, 3)
	}
	compressed, _ := validCompressedStream()
	f.Add(compressed, 9)
	for _, tc := range compressedCases {
		f.Add(tc.input, 3)
	}
	f.Fuzz(func(t *testing.T, in []byte, cut int) {
		for _, deflate := range []bool{false, true} {
			checkReader(t, in, cut, deflate)
		}
	})
}

func checkReader(t *testing.T, in []byte, cut int, deflate bool) {
	const limit = 2 * testMaxMessage
	whole, _, errWhole := feedInChunks(in, len(in)+1, limit, deflate)
	if cut <= 0 {
		cut = 1
	}
	split, r, errSplit := feedInChunks(in, cut, limit, deflate)
	if (errWhole == nil) != (errSplit == nil) {
		t.Fatalf("deflate %v: whole: %v, split at %d: %v", deflate, errWhole, cut, errSplit)
	}
	if errWhole != nil && codeOf(errWhole) != codeOf(errSplit) {
		t.Fatalf("deflate %v: close codes differ: %v vs %v", deflate, errWhole, errSplit)
	}
	if len(whole.texts) != len(split.texts) {
		t.Fatalf("deflate %v: %d texts whole, %d split", deflate, len(whole.texts), len(split.texts))
	}
	for i := range whole.texts {
		if whole.texts[i] != split.texts[i] {
			t.Fatalf("deflate %v: text %d differs", deflate, i)
		}
		if len(whole.texts[i]) > limit {
			t.Fatalf("deflate %v: text %d is %d bytes, over the limit", deflate, i, len(whole.texts[i]))
		}
	}
	if split.pending != r.fragmented || whole.pending != split.pending {
		t.Fatalf("deflate %v: message pending: sink %v, reader %v, whole %v", deflate, split.pending, r.fragmented, whole.pending)
	}
	paced, _, spent, errPaced := feedPaced(in, cut, 1+cut%3, limit, deflate)
	if (errWhole == nil) != (errPaced == nil) || errWhole != nil && codeOf(errWhole) != codeOf(errPaced) {
		t.Fatalf("deflate %v: whole: %v, paced: %v", deflate, errWhole, errPaced)
	}
	if strings.Join(paced.texts, "\x00") != strings.Join(whole.texts, "\x00") || len(paced.pings) != len(whole.pings) || paced.pongs != whole.pongs {
		t.Fatalf("deflate %v: paced parse differs from the whole one", deflate)
	}
	// Each text and ping spends the budget, and so does one in
	// quietPerPace of the pongs and fragments before a message's last:
	// held back or not, a parse spends the same.
	_, _, unpaced, _ := feedPaced(in, len(in)+1, anyFrames, limit, deflate)
	if errPaced == nil && (spent != unpaced || spent < len(paced.texts)+len(paced.pings)) {
		t.Fatalf("deflate %v: %d paced frames spent for %d texts and %d pings, %d unpaced", deflate, spent, len(paced.texts), len(paced.pings), unpaced)
	}
	if len(r.message) > limit {
		t.Fatalf("deflate %v: message buffer %d bytes over the limit", deflate, len(r.message))
	}
	if len(r.partial) > limit+14+cut {
		t.Fatalf("deflate %v: partial buffer %d bytes", deflate, len(r.partial))
	}
	if cap(r.partial) > 2*len(r.partial)+64 {
		t.Fatalf("deflate %v: partial buffer holds %d bytes in an array of %d", deflate, len(r.partial), cap(r.partial))
	}
}
