package bench

import "testing"

func TestParseDelivery(t *testing.T) {
	msg := []byte(`{"type":"message","topic":"bench.3","epoch":"e7f3","seq":42,"msg":"u","time":1764074400123,"data":{"t":1764074400123456789,"n":7}}`)
	d, ok := parseDelivery(msg)
	if !ok || d.seq != 42 || d.sent != 1764074400123456789 || d.n != 7 {
		t.Errorf("got %+v, %v", d, ok)
	}
	if string(msgType(msg)) != "message" {
		t.Errorf("type %q", msgType(msg))
	}
	// Field order is not part of the contract, and "time" must not be
	// taken for "t".
	reordered := []byte(`{"data": {"n": 9, "t": 5},"time":1,"seq": 3,"type":"message"}`)
	if d, ok := parseDelivery(reordered); !ok || d.seq != 3 || d.sent != 5 || d.n != 9 {
		t.Errorf("reordered: %+v, %v", d, ok)
	}
}

func TestParseDeliveryRefusesIncompleteMessages(t *testing.T) {
	for _, m := range []string{
		`{"type":"message","data":{"t":1}}`,
		`{"type":"message","seq":1}`,
		`{"type":"message","seq":1,"data":{"text":"hi"}}`,
		`{"type":"message","seq":x,"data":{"t":1}}`,
		`{"type":"message","seq":99999999999999999999,"data":{"t":1}}`,
	} {
		if d, ok := parseDelivery([]byte(m)); ok {
			t.Errorf("%s: accepted as %+v", m, d)
		}
	}
}

func TestParseInt(t *testing.T) {
	cases := map[string]int64{"0": 0, "-12,": -12, " 9223372036854775807": 9223372036854775807}
	for in, want := range cases {
		if got, ok := parseInt([]byte(in)); !ok || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "-", "x1", "9223372036854775808"} {
		if _, ok := parseInt([]byte(in)); ok {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestStringFieldMissing(t *testing.T) {
	if f := stringField([]byte(`{"type":"err`), `"type":"`); f != nil {
		t.Errorf("unterminated string gave %q", f)
	}
	if f := msgType([]byte(`{}`)); f != nil {
		t.Errorf("no type gave %q", f)
	}
}

func TestAppendPayload(t *testing.T) {
	got := string(appendPayload(nil, 12, 3))
	if got != `{"t":12,"n":3}` {
		t.Errorf("payload %s", got)
	}
}
