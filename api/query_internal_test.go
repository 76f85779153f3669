package api

import (
	"net/http/httptest"
	"testing"
)

func TestParseHistoryQuery(t *testing.T) {
	cases := []struct {
		query string
		want  historyQuery
		bad   bool
	}{
		{"?topic=a", historyQuery{topic: "a", since: 0, limit: 100}, false},
		{"?topic=a&since=7&limit=5", historyQuery{topic: "a", since: 7, limit: 5}, false},
		{"?topic=a&limit=5000", historyQuery{topic: "a", limit: 1000}, false},
		{"?topic=a&since=18446744073709551615", historyQuery{topic: "a", since: 1<<64 - 1, limit: 100}, false},
		{"?topic=a&since=18446744073709551616", historyQuery{}, true},
		{"?topic=a&limit=-3", historyQuery{}, true},
		{"?since=1", historyQuery{}, true},
	}
	for _, tc := range cases {
		got, err := parseHistoryQuery(httptest.NewRequest("GET", "/api/history"+tc.query, nil))
		if tc.bad {
			if err == nil {
				t.Errorf("%s: accepted as %+v", tc.query, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: got %+v, %v; want %+v", tc.query, got, err, tc.want)
		}
	}
}

func TestBodyLimits(t *testing.T) {
	l := newBodyLimits(64 << 10)
	if l.publish != 128<<10 || l.batch != 4<<20 || l.broadcast <= l.publish {
		t.Fatalf("limits for 64 KiB messages: %+v", l)
	}
	if big := newBodyLimits(8 << 20); big.batch != big.publish {
		t.Fatalf("a batch must hold one maximal message: %+v", big)
	}
}
