package broker

import (
	"bytes"
	"testing"
)

func TestFinishFrame(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 0xFFFF, 0x10000, 70000} {
		payload := bytes.Repeat([]byte{'x'}, n)
		buf := append(newFrame(n), payload...)
		frame := finishFrame(buf)
		got, err := parseServerFrame(frame)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("%d bytes: payload changed", n)
		}
		if &frame[len(frame)-1] != &buf[len(buf)-1] && n > 0 {
			t.Errorf("%d bytes: payload was copied", n)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	tests := map[string]string{
		"plain":      `"plain"`,
		`q"b\`:       `"q\"b\\"`,
		"nl\n\t\r":   `"nl\n\t\r"`,
		"\x01\x1f":   `"\u0001\u001f"`,
		"é✓":         `"é✓"`,
		"bad\xffutf": `"bad\ufffdutf"`,
	}
	for in, want := range tests {
		if got := string(appendJSONString(nil, in)); got != want {
			t.Errorf("appendJSONString(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestAppendMessageJSON(t *testing.T) {
	m := &Message{Topic: "chat.a", Epoch: "e7f3", Seq: 42, ID: "u-1", Time: 1764074400123, Data: []byte(`{"text":"hi"}`)}
	want := `{"type":"message","topic":"chat.a","epoch":"e7f3","seq":42,"msg":"u-1","time":1764074400123,"data":{"text":"hi"}}`
	if got := string(AppendMessageJSON(nil, m, "")); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	want = `{"type":"message","topic":"chat.a","pattern":"chat.*","epoch":"e7f3","seq":42,"msg":"u-1","time":1764074400123,"data":{"text":"hi"}}`
	if got := string(AppendMessageJSON([]byte("x"), m, "chat.*")); got != "x"+want {
		t.Errorf("got  %s\nwant x%s", got, want)
	}
}

func TestGapFrameJSON(t *testing.T) {
	m := &Message{Topic: "chat.a", Epoch: "e7f3", Seq: 210, gapFrom: 11}
	want := `{"type":"gap","topic":"chat.a","pattern":"chat.*","epoch":"e7f3","from":11,"to":210}`
	if got := string(appendGapJSON(nil, m, 11, "chat.*")); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
