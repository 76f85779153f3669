package main

import (
	"strings"

	"go.uber.org/zap"
)

// settingPrefix starts every setting's variable, and every variable the
// start checks for typos.
const settingPrefix = "HERALD_"

// notSettings are HERALD_ variables that are not settings but are set on
// purpose around a node, so the start does not warn about them.
var notSettings = map[string]bool{
	"HERALD_REDIS_PASSWORD": true, // the Helm chart's HERALD_REDIS_URL refers to it
	// Read by the tests and tools of this repository, often exported in a
	// developer's shell.
	"HERALD_CHROMIUM":         true,
	"HERALD_ARTIFACTS":        true,
	"HERALD_SOAK":             true,
	"HERALD_BENCH_CPUPROFILE": true,
}

// notSettingPrefixes start the variables Kubernetes puts in every pod for
// a Service named herald (HERALD_SERVICE_HOST, HERALD_PORT_8080_TCP, ...).
var notSettingPrefixes = []string{"HERALD_SERVICE_", "HERALD_PORT"}

// maxTypoDistance is how many single-letter edits a variable may be from
// a setting's to be named as what it probably meant: HERALD_REDIS_ULR is
// two from HERALD_REDIS_URL.
const maxTypoDistance = 2

// unknownSetting is a HERALD_ variable that is no setting, and the
// setting it probably meant ("" when none is close).
type unknownSetting struct {
	name, meant string
}

// unknownSettings finds, in environ (os.Environ's "NAME=value" form), the
// HERALD_ variables that no setting reads, in environ's order.
func unknownSettings(environ []string) []unknownSetting {
	var out []unknownSetting
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, settingPrefix) || isSetting(name) || ignoredVariable(name) {
			continue
		}
		out = append(out, unknownSetting{name: name, meant: closestSetting(name)})
	}
	return out
}

func isSetting(name string) bool {
	for _, s := range settings {
		if s.env == name {
			return true
		}
	}
	return false
}

func ignoredVariable(name string) bool {
	if notSettings[name] {
		return true
	}
	for _, p := range notSettingPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// closestSetting is the setting's variable nearest to name, if it is at
// most maxTypoDistance edits away; the first in the table on a tie.
func closestSetting(name string) string {
	best, bestDist := "", maxTypoDistance+1
	for _, s := range settings {
		if d := editDistance(name, s.env); d < bestDist {
			best, bestDist = s.env, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, counted in
// bytes (variable names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// warnUnknownSettings logs each HERALD_ variable no setting reads: a typo
// in a variable's name would otherwise leave its setting at the default
// without a word.
func warnUnknownSettings(log *zap.Logger, environ []string) {
	for _, u := range unknownSettings(environ) {
		if u.meant == "" {
			log.Warn("unknown HERALD_ variable ignored: no setting has this name", zap.String("variable", u.name))
			continue
		}
		log.Warn("unknown HERALD_ variable ignored: did you mean "+u.meant+"?",
			zap.String("variable", u.name), zap.String("did_you_mean", u.meant))
	}
}

// lookupIn is os.LookupEnv over environ: the first NAME= entry wins, as
// in the process's own environment.
func lookupIn(environ []string) func(string) (string, bool) {
	return func(key string) (string, bool) {
		for _, kv := range environ {
			if name, value, ok := strings.Cut(kv, "="); ok && name == key {
				return value, true
			}
		}
		return "", false
	}
}
