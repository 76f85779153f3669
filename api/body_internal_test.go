package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
)

// stallingBody is a body that sends nothing: its first Read notes how much
// room it was offered and fails, as a connection closed midway does.
type stallingBody struct{ offered int }

func (b *stallingBody) Read(p []byte) (int, error) {
	b.offered = len(p)
	return 0, io.ErrUnexpectedEOF
}

func (b *stallingBody) Close() error { return nil }

// A client that declares the longest body allowed and sends none of it
// makes no buffer of that length: room is made as the bytes arrive (a
// buffer the pool gives may be larger than initialBodyRoom, never new).
func TestDeclaredLengthIsNotAllocatedAhead(t *testing.T) {
	const limit = 4 << 20
	body := &stallingBody{}
	r := httptest.NewRequest(http.MethodPost, "/api/batch", nil)
	r.Body, r.ContentLength = body, limit
	w := httptest.NewRecorder()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, ok := readBody(w, r, limit)
	runtime.ReadMemStats(&after)
	if ok {
		t.Fatal("a body that failed was read")
	}
	if body.offered == 0 || body.offered > maxPooledBody {
		t.Fatalf("%d bytes offered for a body that had sent nothing, want 1 to %d", body.offered, maxPooledBody)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > limit/4 {
		t.Fatalf("%d bytes allocated for a body that had sent nothing of the %d it declared", n, limit)
	}
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "could not be read") {
		t.Fatalf("answered %d %s", w.Code, w.Body)
	}
}

// A body longer than initialBodyRoom is read whole, as it arrives.
func TestLongBodyReadWhole(t *testing.T) {
	want := strings.Repeat("x", 3*initialBodyRoom+7)
	r := httptest.NewRequest(http.MethodPost, "/api/batch", strings.NewReader(want))
	w := httptest.NewRecorder()
	body, ok := readBody(w, r, 4<<20)
	if !ok {
		t.Fatalf("answered %d %s", w.Code, w.Body)
	}
	defer body.release()
	if string(body.bytes) != want {
		t.Fatalf("read %d bytes, want %d", len(body.bytes), len(want))
	}
}

// A body that outgrew maxPooledBody is not kept for reuse.
func TestLongBodyNotPooled(t *testing.T) {
	long := strings.Repeat("x", 2*maxPooledBody)
	r := httptest.NewRequest(http.MethodPost, "/api/batch", strings.NewReader(long))
	body, ok := readBody(httptest.NewRecorder(), r, 4<<20)
	if !ok || len(body.bytes) != len(long) {
		t.Fatalf("read %d bytes of %d", len(body.bytes), len(long))
	}
	body.release()
	var got []*[]byte
	defer func() {
		for _, b := range got {
			bodyBuffers.Put(b)
		}
	}()
	for range 8 {
		b := bodyBuffers.Get().(*[]byte)
		got = append(got, b)
		if cap(*b) > maxPooledBody {
			t.Fatalf("the pool holds a buffer of %d bytes, over %d", cap(*b), maxPooledBody)
		}
	}
}
