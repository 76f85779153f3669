package main

import (
	"reflect"
	"strings"
	"testing"
)

func TestUnknownSettings(t *testing.T) {
	environ := []string{
		"HOME=/root",
		"HERALD_REDIS_URL=redis://127.0.0.1:6379/0", // a setting
		"HERALD_REDIS_ULR=redis://x",                // two letters swapped
		"HERALD_LOG_LEVL=debug",                     // one letter missing
		"HERALD_COLOUR=blue",                        // nothing close
		"HERALD_SERVICE_HOST=10.0.0.1",              // Kubernetes, for a Service named herald
		"HERALD_PORT_8080_TCP=tcp://10.0.0.1:8080",
		"HERALD_REDIS_PASSWORD=secret", // the Helm chart's
		"HERALD_CHROMIUM=/usr/bin/chromium",
		"NOT_HERALD_ADDR=:1",
	}
	want := []unknownSetting{
		{"HERALD_REDIS_ULR", "HERALD_REDIS_URL"},
		{"HERALD_LOG_LEVL", "HERALD_LOG_LEVEL"},
		{"HERALD_COLOUR", ""},
	}
	if got := unknownSettings(environ); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"", "ab", 2}, {"URL", "ULR", 2}, {"LEVEL", "LEVL", 1},
		{"kitten", "sitting", 3}, {"HERALD_ADDR", "HERALD_ADDR", 0},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// Every setting is known: none of the table's own variables is warned
// about, and none is taken for another's typo.
func TestSettingsAreNotUnknown(t *testing.T) {
	var environ []string
	for _, s := range settings {
		environ = append(environ, s.env+"=x")
	}
	if got := unknownSettings(environ); len(got) != 0 {
		t.Fatalf("settings taken for unknown variables: %v", got)
	}
}

func TestRunWarnsAboutUnknownVariables(t *testing.T) {
	code, out := runWith(t, []string{"--addr=127.0.0.1:0"}, map[string]string{"HERALD_REDIS_ULR": "redis://127.0.0.1:1/0"})
	if code != exitOK {
		t.Fatalf("exit %d, output %q", code, out)
	}
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "HERALD_REDIS_ULR") {
			line = l
		}
	}
	for _, want := range []string{`"level":"warn"`, `"variable":"HERALD_REDIS_ULR"`, `"did_you_mean":"HERALD_REDIS_URL"`, "did you mean HERALD_REDIS_URL?"} {
		if !strings.Contains(line, want) {
			t.Fatalf("the warning %q lacks %s; the log:\n%s", line, want, out)
		}
	}
	if !strings.Contains(out, `"cluster":false`) {
		t.Fatalf("the misspelt variable was used:\n%s", out)
	}
}

func TestLookupInIsFirstWins(t *testing.T) {
	lookup := lookupIn([]string{"A=1", "B=", "A=2", "C"})
	if v, ok := lookup("A"); v != "1" || !ok {
		t.Errorf("A = %q, %v", v, ok)
	}
	if v, ok := lookup("B"); v != "" || !ok {
		t.Errorf("B = %q, %v", v, ok)
	}
	if _, ok := lookup("C"); ok {
		t.Error("an entry without = was found")
	}
}
