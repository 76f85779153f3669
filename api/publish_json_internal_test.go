package api

import (
	"encoding/json"
	"strings"
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

// bodies are publish bodies, of the usual shape and not.
var bodies = []string{
	`{"topic":"news","data":{"text":"hi"}}`,
	` { "topic" : "a.b" , "data" : [1, "x", {"y": null}] , "idempotency_key" : "k-1" } `,
	`{"data":"s\"q\\u00e9","topic":"a"}`, `{"topic":"a","data":-1.5e3}`, `{"topic":"a","data":true}`,
	`{"topic":"a","data":null}`, `{}`, `{"topic":""}`, `{"data":1}`,
	`{"topic":null,"data":1}`, `{"topic":"a","topic":"b","data":1}`, `{"Topic":"a","data":1}`,
	`{"topic":"a","data":1,"extra":2}`, `{"topic":"\u0061","data":1}`, `{"topic":"é","data":1}`,
	`{"topic":"a","data":[1,,2]}`, `{"topic":"a","data":1 2}`, `{"topic":"a","data":}`,
	`{"topic":"a","data":1}x`, `{"topic":"a","data":1`, `[1]`, ``, `{"topic":5,"data":1}`,
	`{"topic":"a","data":1,"idempotency_key":[]}`, `{"topic":"a","data":"unterminated}`,
	`{"topic":"a","data":tru"e"}`, `{"topic":"a","data":01}`, "{\"topic\":\"a\",\"data\":\"\xff\"}",
}

// The usual bodies take the short way, and what it accepts decodes as
// json.Unmarshal decodes it, or has data that is not JSON.
func TestReadPublish(t *testing.T) {
	for _, body := range bodies[:6] {
		if !readPublish([]byte(body), new(publishRequest)) {
			t.Errorf("%s went to encoding/json", body)
		}
		checkReadPublish(t, []byte(body))
	}
	for _, body := range bodies[6:] {
		checkReadPublish(t, []byte(body))
	}
	for _, body := range []string{`{"topic":"a","data":[1,,2]}`, `{"topic":"a","data":01}`} {
		if !readPublish([]byte(body), new(publishRequest)) {
			t.Errorf("%s went to encoding/json: data is the broker's to check", body)
		}
	}
	// As deep as encoding/json takes a value alone, too deep within a body.
	deep := []byte(`{"topic":"a","data":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`)
	if readPublish(deep, new(publishRequest)) {
		t.Error("data nested 10000 deep was taken: encoding/json refuses the body")
	}
	checkReadPublish(t, deep)
	batch := `{"messages":[` + bodies[0] + `,` + bodies[1] + `]}`
	if !readBatch([]byte(batch), new(batchRequest)) {
		t.Errorf("%s went to encoding/json", batch)
	}
	for _, body := range []string{batch, `{"messages":[]}`, `{"messages":null}`, `{"messages":[1]}`, `{"messages":[{}],"x":1}`, `{"messages":[{},]}`} {
		checkReadBatch(t, []byte(body))
	}
}

// checkReadPublish: a body readPublish takes is JSON exactly when its data
// is (or it has none), and then encoding/json reads the same message.
func checkReadPublish(t *testing.T, body []byte) {
	var fast, slow publishRequest
	if !readPublish(body, &fast) {
		return
	}
	err := json.Unmarshal(body, &slow)
	if dataValid := fast.Data == nil || json.Valid(fast.Data); (err == nil) != dataValid {
		t.Fatalf("%q: taken with data %q (valid %v), and encoding/json says %v", body, fast.Data, dataValid, err)
	}
	if err == nil && !samePublish(fast, slow) {
		t.Fatalf("%q: decoded %+v, encoding/json %+v", body, fast, slow)
	}
}

func checkReadBatch(t *testing.T, body []byte) {
	var fast, slow batchRequest
	if !readBatch(body, &fast) {
		return
	}
	dataValid := true
	for _, m := range fast.Messages {
		dataValid = dataValid && (m.Data == nil || json.Valid(m.Data))
	}
	err := json.Unmarshal(body, &slow)
	if (err == nil) != dataValid {
		t.Fatalf("%q: taken with data valid %v, and encoding/json says %v", body, dataValid, err)
	}
	if err != nil {
		return
	}
	if len(fast.Messages) != len(slow.Messages) {
		t.Fatalf("%q: %d messages, encoding/json %d", body, len(fast.Messages), len(slow.Messages))
	}
	for i := range fast.Messages {
		if !samePublish(fast.Messages[i], slow.Messages[i]) {
			t.Fatalf("%q: message %d decoded %+v, encoding/json %+v", body, i, fast.Messages[i], slow.Messages[i])
		}
	}
}

func samePublish(a, b publishRequest) bool {
	return a.Topic == b.Topic && string(a.Data) == string(b.Data) && (a.Data == nil) == (b.Data == nil) &&
		a.IdempotencyKey == b.IdempotencyKey
}

func FuzzReadPublish(f *testing.F) {
	for _, body := range bodies {
		f.Add([]byte(body))
	}
	f.Fuzz(checkReadPublish)
}

func FuzzReadBatch(f *testing.F) {
	f.Add([]byte(`{"messages":[` + bodies[0] + `,` + bodies[1] + `]}`))
	f.Add([]byte(`{"messages":[]}`))
	for _, body := range bodies {
		f.Add([]byte(`{"messages":[` + body + `]}`))
	}
	f.Fuzz(checkReadBatch)
}
