package transport

import "testing"

// FuzzFrameReader feeds arbitrary bytes, whole and split at one point, and
// checks the reader neither panics nor depends on how its input is cut,
// never keeps more than one frame's worth of bytes nor an array much larger
// than what it keeps, and reports a fragmented message open exactly while
// it is.
func FuzzFrameReader(f *testing.F) {
	f.Add(validStream(), 5)
	for _, tc := range malformedCases {
		f.Add(tc.input, 3)
	}
	const limit = 2 * testMaxMessage
	f.Fuzz(func(t *testing.T, in []byte, cut int) {
		whole, _, errWhole := feedInChunks(in, len(in)+1, limit)
		if cut <= 0 {
			cut = 1
		}
		split, r, errSplit := feedInChunks(in, cut, limit)
		if (errWhole == nil) != (errSplit == nil) {
			t.Fatalf("whole: %v, split at %d: %v", errWhole, cut, errSplit)
		}
		if errWhole != nil && codeOf(errWhole) != codeOf(errSplit) {
			t.Fatalf("close codes differ: %v vs %v", errWhole, errSplit)
		}
		if len(whole.texts) != len(split.texts) {
			t.Fatalf("%d texts whole, %d split", len(whole.texts), len(split.texts))
		}
		for i := range whole.texts {
			if whole.texts[i] != split.texts[i] {
				t.Fatalf("text %d differs", i)
			}
		}
		if split.pending != r.fragmented || whole.pending != split.pending {
			t.Fatalf("message pending: sink %v, reader %v, whole %v", split.pending, r.fragmented, whole.pending)
		}
		if len(r.message) > limit {
			t.Fatalf("message buffer %d bytes over the limit", len(r.message))
		}
		if len(r.partial) > limit+14+cut {
			t.Fatalf("partial buffer %d bytes", len(r.partial))
		}
		if cap(r.partial) > 2*len(r.partial)+64 {
			t.Fatalf("partial buffer holds %d bytes in an array of %d", len(r.partial), cap(r.partial))
		}
	})
}
