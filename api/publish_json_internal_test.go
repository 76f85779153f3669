package api

import (
	"encoding/json"
	"testing"
)

// replyStrings are topics and ids, plain and not: every branch of
// appendJSONString, and what json.Marshal escapes.
var replyStrings = []string{
	"", "news", "chat.room-1_a", "0b6c3c86-6f5e-4c59-9d3b-3f1c2a7e5b10",
	`quote"`, `back\slash`, "<b>&</b>", "tab\tnew\nline", "\x00\x1f\x7f",
	"ünïcode", "\u2028\u2029", "bad \xff utf-8",
}

// The hand-written replies are byte for byte what json.Marshal makes.
func TestPublishRepliesAsEncodingJSON(t *testing.T) {
	var results []publishReply
	for i, s := range replyStrings {
		r := publishReply{Topic: s, Seq: uint64(i) << 60, Msg: replyStrings[len(replyStrings)-1-i]}
		wantBytes(t, appendPublishReply(nil, r), r)
		results = append(results, r)
	}
	wantBytes(t, appendResults(nil, results), resultsReply{Results: results})
	wantBytes(t, appendResults([]byte("left over"), results[:1])[len("left over"):], resultsReply{Results: results[:1]})
}

func wantBytes(t *testing.T, got []byte, v any) {
	t.Helper()
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range replyStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		wantBytes(t, appendJSONString(nil, s), s)
	})
}
