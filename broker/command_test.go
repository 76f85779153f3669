package broker

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDecodeCommand(t *testing.T) {
	c, err := decodeCommand([]byte(`{"type":"subscribe","id":"7","topic":"chat.lobby","since":{"epoch":"e","seq":38},"future":[1,{"x":2}]}`))
	if err != nil || c.Type != cmdSubscribe || c.ID != "7" || c.Topic != "chat.lobby" || c.Since == nil || *c.Since != (since{Epoch: "e", Seq: 38}) {
		t.Errorf("subscribe: %+v %v", c, err)
	}
	c, err = decodeCommand([]byte(`{"type":"publish","topic":"a","data": [1, 2 ]}`))
	if err != nil || string(c.Data) != `[1, 2 ]` {
		t.Errorf("publish data %q %v", c.Data, err)
	}
	c, err = decodeCommand([]byte(`{"type":"subscribe","topic":"a","since":null}`))
	if err != nil || c.Since != nil {
		t.Errorf("since null: %+v %v", c, err)
	}
	c, err = decodeCommand([]byte(`{"type":"refresh","id":"6","token":"t"}`))
	if err != nil || c.Token != "t" {
		t.Errorf("refresh: %+v %v", c, err)
	}
	if _, err := decodeCommand([]byte(`{"type":"ping","id":"` + strings.Repeat("é", 32) + `"}`)); err != nil {
		t.Errorf("a 64-byte id: %v", err)
	}
}

// A string id is echoed, "" included; no id, null or a wrong type is not.
func TestDecodeCommandKnowsWhetherAnIDCame(t *testing.T) {
	for payload, want := range map[string]echoID{
		`{"type":"ping","id":""}`:   {id: "", set: true},
		`{"type":"ping","id":"a"}`:  {id: "a", set: true},
		`{"type":"ping"}`:           {},
		`{"type":"ping","id":null}`: {},
		`{"type":"ping","id":5}`:    {},
	} {
		c, _ := decodeCommand([]byte(payload))
		if got := c.echo(); got != want {
			t.Errorf("%s: echoes %+v, want %+v", payload, got, want)
		}
	}
}

func TestDecodeCommandOwnsItsMemory(t *testing.T) {
	payload := []byte(`{"type":"publish","id":"1","topic":"a","data":{"k":"v"}}`)
	c, err := decodeCommand(payload)
	if err != nil {
		t.Fatal(err)
	}
	for i := range payload {
		payload[i] = 'z'
	}
	if c.ID != "1" || c.Topic != "a" || string(c.Data) != `{"k":"v"}` {
		t.Errorf("command changed with its payload: %+v", c)
	}
}

func FuzzDecodeCommand(f *testing.F) {
	for _, s := range []string{
		`{"type":"ping","id":"5"}`,
		`{"type":"subscribe","id":"1","topic":"chat.lobby"}`,
		`{"type":"subscribe","id":"2","topic":"chat.lobby","since":{"epoch":"e7f3","seq":38}}`,
		`{"type":"unsubscribe","id":"3","topic":"chat.*"}`,
		`{"type":"publish","id":"4","topic":"chat.lobby","data":{"text":"hi"}}`,
		`{"type":"refresh","id":"6","token":"abc"}`,
		`{"type":"publish","topic":"a","data":null}`,
		`[1]`, `null`, `{"type":7}`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		c, err := decodeCommand(payload)
		if err != nil {
			if err.Code == "" || err.Message == "" {
				t.Errorf("error without code or message: %+v", err)
			}
			return
		}
		if len(c.ID) > MaxIDBytes {
			t.Errorf("id of %d bytes accepted", len(c.ID))
		}
		switch c.Type {
		case cmdSubscribe, cmdUnsubscribe:
			if !ValidPattern(c.Topic) || (c.Since != nil && IsPattern(c.Topic)) {
				t.Errorf("accepted %+v", c)
			}
		case cmdPublish:
			if !ValidTopic(c.Topic) || !json.Valid(c.Data) {
				t.Errorf("accepted %+v", c)
			}
		case cmdRefresh:
			if c.Token == "" {
				t.Error("refresh without token accepted")
			}
		case cmdPing:
		default:
			t.Errorf("type %q accepted", c.Type)
		}
	})
}

func BenchmarkDecodeCommand(b *testing.B) {
	for name, s := range map[string]string{
		"ping":      `{"type":"ping","id":"5"}`,
		"subscribe": `{"type":"subscribe","id":"2","topic":"chat.lobby","since":{"epoch":"e7f3","seq":38}}`,
		"publish":   `{"type":"publish","id":"4","topic":"chat.lobby","data":{"text":"hello there, how are you today?"}}`,
	} {
		payload := []byte(s)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				if _, err := decodeCommand(payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A field of the wrong type is a bad request only for a command that
// defines the field; others ignore it (docs/protocol.md section 2).
func TestUndefinedFieldsAreIgnoredWhateverTheirType(t *testing.T) {
	for payload, want := range map[string]Code{
		`{"type":"ping","id":"1","topic":5}`:                          "",
		`{"type":"unsubscribe","id":"1","topic":"a","since":"x"}`:     "",
		`{"type":"ping","data":[1],"token":7,"idempotency_key":{}}`:   "",
		`{"type":"refresh","token":"t","topic":false}`:                "",
		`{"type":"subscribe","id":"1","topic":"a","since":"x"}`:       CodeBadRequest,
		`{"type":"publish","topic":"a","data":1,"idempotency_key":3}`: CodeBadRequest,
		`{"type":"refresh","token":5}`:                                CodeBadRequest,
		`{"type":"ping","id":5}`:                                      CodeBadRequest,
		`{"type":5}`:                                                  CodeBadRequest,
	} {
		_, err := decodeCommand([]byte(payload))
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v, want no error", payload, err)
		case want != "" && (err == nil || err.Code != want):
			t.Errorf("%s: %v, want %s", payload, err, want)
		}
	}
}

// FuzzDecodeCommandMatchesEncodingJSON checks the command parser against
// encoding/json, the reference, on everything but key case (encoding/json
// matches keys case-insensitively; the protocol names them exactly) and
// since.seq, read by its value (see reference).
func FuzzDecodeCommandMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"type":"subscribe","id":"1","topic":"a","since":{"epoch":"e","seq":3},"x":[{"y":"}"}]}`,
		`{"type":"publish","topic":"a","data":{"k":[1,"\""]},"id":null}`,
		`{"id":"a","id":null,"since":{"seq":1},"since":{"epoch":"\u00e9\ud83d\ude00"}}`,
		`{"since":{"seq":1.5}}`, `{"since":[]}`, `{"type":true}`, `{"\u0074ype":"ping"}`,
		`{"since":{"seq":18446744073709551616}}`, `{"id":"\ud800x\u0041\/"}`, "{\"id\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		if !json.Valid(payload) || hasCaseVariantKey(payload) {
			return
		}
		var want reference
		werr := json.Unmarshal(payload, &want)
		var got command
		gerr := got.parse(payload)
		if gerr == nil && got.wrong != 0 {
			gerr = Errorf(CodeBadRequest, "wrong field types %b", got.wrong)
		}
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%s: encoding/json error %v, parse error %v", payload, werr, gerr)
		}
		if werr != nil {
			return
		}
		if got.Type != want.Type || got.ID != want.ID || got.Topic != want.Topic || got.Token != want.Token ||
			got.IdempotencyKey != want.IdempotencyKey ||
			string(got.Data) != string(want.Data) || (got.Since == nil) != (want.Since == nil) ||
			(got.Since != nil && (got.Since.Epoch != want.Since.Epoch || got.Since.Seq != uint64(want.Since.Seq))) {
			t.Fatalf("%s:\nparse        %+v %+v\nencoding/json %+v %+v", payload, got, got.Since, want, want.Since)
		}
	})
}

// hasCaseVariantKey reports whether some object key in payload equals a
// command field name only when case is ignored.
func hasCaseVariantKey(payload []byte) bool {
	var v any
	if json.Unmarshal(payload, &v) != nil {
		return false
	}
	return caseVariant(v)
}

func caseVariant(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		for k, inner := range v {
			for _, name := range []string{"type", "id", "topic", "since", "data", "token", "idempotency_key", "epoch", "seq"} {
				if k != name && strings.EqualFold(k, name) {
					return true
				}
			}
			if caseVariant(inner) {
				return true
			}
		}
	case []any:
		for _, inner := range v {
			if caseVariant(inner) {
				return true
			}
		}
	}
	return false
}
