package api_test

import (
	"encoding/json"
	"testing"

	"github.com/herald-broker/herald/api"
)

// since.seq is read by its value, however the client's JSON library wrote
// it: 2, 2.0, 2e0 and 20E-1 resume alike. A seq that is no whole number
// is bad_request, and says what since must be.
func TestResumeSeqIsReadByValue(t *testing.T) {
	n := startNode(t, api.Config{}, nil)
	for range 3 {
		n.post(t, "/api/publish", `{"topic":"news","data":1}`).wantOK(t, &published{})
	}
	c := mustDial(t, n)
	c.send(`{"type":"subscribe","id":"0","topic":"news"}`)
	var sub struct {
		Type, Epoch string
		Seq         uint64
		Recovered   *bool
	}
	if err := json.Unmarshal(c.read(), &sub); err != nil || sub.Type != "subscribed" || sub.Seq != 3 {
		t.Fatalf("subscribe: %+v %v", sub, err)
	}
	for _, seq := range []string{"2", "2.0", "2e0", "20E-1", "0.2e+1"} {
		c := mustDial(t, n)
		c.send(`{"type":"subscribe","id":"r","topic":"news","since":{"epoch":"` + sub.Epoch + `","seq":` + seq + `}}`)
		var got struct {
			Type      string
			Recovered bool
			Seq       uint64
		}
		if raw := c.read(); json.Unmarshal(raw, &got) != nil || got.Type != "subscribed" || !got.Recovered {
			t.Fatalf("since.seq %s: %s", seq, raw)
		}
		if raw := c.read(); json.Unmarshal(raw, &got) != nil || got.Type != "message" || got.Seq != 3 {
			t.Fatalf("since.seq %s: then %s, want message 3", seq, raw)
		}
	}
	for _, seq := range []string{"2.5", "-1", "25e-1", "1e20", "18446744073709551616"} {
		c.send(`{"type":"subscribe","id":"bad","topic":"news","since":{"epoch":"e","seq":` + seq + `}}`)
		var e struct{ Type, ID, Code, Message string }
		if raw := c.read(); json.Unmarshal(raw, &e) != nil || e.Type != "error" || e.Code != "bad_request" || e.Message != sinceSeqProblem {
			t.Fatalf("since.seq %s: %s", seq, raw)
		}
	}
}

// sinceSeqProblem is what a client is told of a seq that is not one.
const sinceSeqProblem = `field since has the wrong type: it is {"epoch":<string>,"seq":<whole number from 0 to 18446744073709551615>}`
