package main

import (
	"runtime/debug"
	"testing"
)

func TestVCSVersion(t *testing.T) {
	for _, tc := range []struct {
		settings []debug.BuildSetting
		want     string
	}{
		{nil, "(devel)"},
		{[]debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}}, "0123456789ab"},
		{[]debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"}}, "abc-dirty"},
		{[]debug.BuildSetting{{Key: "vcs.modified", Value: "false"}, {Key: "vcs.revision", Value: "abc"}}, "abc"},
	} {
		if got := vcsVersion(tc.settings); got != tc.want {
			t.Errorf("vcsVersion(%v) = %q, want %q", tc.settings, got, tc.want)
		}
	}
}
