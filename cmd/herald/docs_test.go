package main

import (
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The settings tables of README.md and docs/protocol.md section 7 list
// every setting the parser reads, with its flag and default, and nothing
// the parser does not know: the table in config.go is the one source.
func TestDocsListEverySetting(t *testing.T) {
	for _, doc := range []string{"../../README.md", "../../docs/protocol.md"} {
		rows := settingRows(t, doc)
		for _, s := range settings {
			row, ok := rows[s.env]
			if !ok {
				t.Errorf("%s: no row for %s", doc, s.env)
				continue
			}
			if !strings.Contains(row, "`--"+s.flag+"`") {
				t.Errorf("%s: the row of %s does not name its flag --%s: %s", doc, s.env, s.flag, row)
			}
			if s.def != "" && !strings.Contains(row, "`"+s.def+"`") {
				t.Errorf("%s: the row of %s does not give its default %q: %s", doc, s.env, s.def, row)
			}
			delete(rows, s.env)
		}
		for env := range rows {
			t.Errorf("%s: a row for %s, which no setting reads", doc, env)
		}
	}
}

var settingRow = regexp.MustCompile("^\\| `(HERALD_[A-Z0-9_]+)` \\|")

// settingRows returns the table rows of doc that start with a setting's
// variable, by variable.
func settingRows(t *testing.T, doc string) map[string]string {
	t.Helper()
	text, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	rows := make(map[string]string)
	for _, line := range strings.Split(string(text), "\n") {
		if m := settingRow.FindStringSubmatch(line); m != nil {
			rows[m[1]] = line
		}
	}
	if len(rows) == 0 {
		t.Fatalf("%s has no settings table", doc)
	}
	return rows
}

// The error codes and close codes of docs/protocol.md are exactly those
// the code declares: broker's Code and Close constants, and api's own
// HTTP-only codes. The source is read rather than a list kept here, so a
// new constant without its line in the reference fails.
func TestDocsListEveryCode(t *testing.T) {
	doc, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	errorCodes := declared(t, `(?m)^\s+\w+\s+(?:broker\.)?Code = "([a-z_]+)"`,
		"../../broker/errors.go", "../../api/reply.go")
	closeCodes := declared(t, `(?m)^\s+Close\w+\s+= (\d{4})`, "../../broker/conn.go")
	compare(t, "error code", errorCodes, matches(string(doc), "(?m)^\\| `([a-z_]+)` \\| \\d{3} \\|"))
	compare(t, "close code", closeCodes, matches(string(doc), `(?m)^\| (\d{4}) \|`))
}

func declared(t *testing.T, pattern string, files ...string) map[string]bool {
	t.Helper()
	out := make(map[string]bool)
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for k := range matches(string(src), pattern) {
			out[k] = true
		}
	}
	if len(out) == 0 {
		t.Fatalf("no declarations of %q in %v", pattern, files)
	}
	return out
}

func matches(text, pattern string) map[string]bool {
	out := make(map[string]bool)
	for _, m := range regexp.MustCompile(pattern).FindAllStringSubmatch(text, -1) {
		out[m[1]] = true
	}
	return out
}

func compare(t *testing.T, what string, code, doc map[string]bool) {
	t.Helper()
	compareTo(t, "docs/protocol.md", what, code, doc)
}

// compareTo reports what code declares and docName does not list, and
// the other way round.
func compareTo(t *testing.T, docName, what string, code, doc map[string]bool) {
	t.Helper()
	for c := range code {
		if !doc[c] {
			t.Errorf("%s %s is declared but not in %s", what, c, docName)
		}
	}
	for c := range doc {
		if !code[c] {
			t.Errorf("%s lists %s %s, which the code does not declare", docName, what, c)
		}
	}
}

// Every metric the reference pages name is one the node registers, and
// README's metrics section names every one of them, the hooks' included:
// the names are read from the sources that register them.
func TestDocsNameTheMetricsThatExist(t *testing.T) {
	registered := declared(t, `"(herald_[a-z_]+)"`,
		"../../metrics/collector.go", "../../metrics/memory.go", "../../api/hooks/metrics.go")
	for _, doc := range []string{"../../README.md", "../../docs/protocol.md", "../../web/README.md"} {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		named := matches(string(text), `\b(herald_[a-z_]+)`)
		for name := range named {
			if !registered[name] {
				t.Errorf("%s names %s, which no collector registers", doc, name)
			}
		}
		if doc != "../../README.md" {
			continue
		}
		for name := range registered {
			if !named[name] {
				t.Errorf("%s does not name %s", doc, name)
			}
		}
	}
}

var (
	leastInRow = regexp.MustCompile(`at least (\d+)`)
	zeroInRow  = regexp.MustCompile(`\b0(:| turns)`) // "0: no limit", "0 turns it off"
)

// A whole-number setting whose least value is above 1 says so in its rows
// ("at least N"), and a row that gives a least value gives the one the
// parser takes: the least is found by asking the parser, so a floor
// raised in config.go without the tables fails here. A row says what 0
// means exactly when the parser takes 0.
func TestDocsGiveEachSettingsLeast(t *testing.T) {
	for _, doc := range []string{"../../README.md", "../../docs/protocol.md"} {
		rows := settingRows(t, doc)
		for _, s := range settings {
			least, ok := leastAccepted(s)
			row := rows[s.env]
			m := leastInRow.FindStringSubmatch(row)
			switch {
			case m != nil && (!ok || m[1] != strconv.Itoa(least)):
				t.Errorf("%s: the row of %s says at least %s; the parser's least is %d (whole number: %v)", doc, s.env, m[1], least, ok)
			case m == nil && ok && least > 1:
				t.Errorf("%s: the row of %s does not say its least value, %d: %s", doc, s.env, least, row)
			}
			if says := zeroInRow.MatchString(row); ok && says != (least <= 0) {
				t.Errorf("%s: the row of %s says what 0 means: %v; the parser takes 0: %v", doc, s.env, says, least <= 0)
			}
		}
	}
}

// leastAccepted is the least whole number parseConfig takes for s, found
// between -1 and its default; false when the default is no whole number.
func leastAccepted(s setting) (int, bool) {
	def, err := strconv.Atoi(s.def)
	if err != nil {
		return 0, false
	}
	takes := func(n int) bool {
		_, err := parseConfig(nil, envOf(map[string]string{s.env: strconv.Itoa(n)}), io.Discard)
		return err == nil
	}
	lo, hi := -1, def // takes(hi); the least taken is in (lo, hi]
	for hi-lo > 1 {
		if mid := lo + (hi-lo)/2; takes(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, true
}

// README's table of refusal log lines has a row for every kind the api
// and the broker log, as their constants spell them.
func TestReadmeListsEveryRefusalKind(t *testing.T) {
	kinds := declared(t, `= "((?:refused|closed): [^"]+)"`, "../../api/refusals.go", "../../broker/refusals.go")
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	compareTo(t, "README.md", "refusal kind", kinds, matches(string(readme), "(?m)^\\| `((?:refused|closed): [^`]+)` \\|"))
}

// defaultInProse is a setting named in running text with its default
// after it: "`HERALD_MAX_QUEUE_BYTES` (1 MiB)", "`HERALD_RATE_LIMIT` a
// second (100)", "`HERALD_HOOK_TIMEOUT` (default 3 s)". A multiple of a
// setting ("twice `HERALD_RATE_LIMIT` a second (200)") is not its default.
var defaultInProse = regexp.MustCompile("(twice\\s+)?`(HERALD_[A-Z0-9_]+)`(?:\\s+a\\s+second)?\\s+\\((?:default\\s+)?([\\d,]+)(?:\\s+(KiB|MiB|ms|s))?\\)")

// The defaults the reference pages give in their running text, away from
// the settings tables, are the parser's.
func TestDocsProseGivesTheDefaults(t *testing.T) {
	byEnv := make(map[string]setting, len(settings))
	for _, s := range settings {
		byEnv[s.env] = s
	}
	found := 0
	for _, doc := range []string{"../../README.md", "../../docs/protocol.md", "../../web/README.md"} {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range defaultInProse.FindAllStringSubmatch(string(text), -1) {
			s, ok := byEnv[m[2]]
			if m[1] != "" || !ok {
				continue
			}
			found++
			if got, want := proseValue(t, m[3], m[4]), settingValue(t, s); got != want {
				t.Errorf("%s gives %s the default %q; the parser's is %q", doc, s.env, m[0], s.def)
			}
		}
	}
	if found < 10 {
		t.Fatalf("found %d defaults in running text", found)
	}
}

// proseValue is a number and its unit as bytes, nanoseconds or a count.
func proseValue(t *testing.T, number, unit string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(strings.ReplaceAll(number, ",", ""), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	scale := map[string]int64{"": 1, "KiB": 1 << 10, "MiB": 1 << 20, "ms": int64(time.Millisecond), "s": int64(time.Second)}
	return n * scale[unit]
}

// settingValue is s's default as proseValue counts it.
func settingValue(t *testing.T, s setting) int64 {
	t.Helper()
	if n, err := strconv.ParseInt(s.def, 10, 64); err == nil {
		return n
	}
	d, err := time.ParseDuration(s.def)
	if err != nil {
		t.Fatalf("the default of %s, %q, is neither a number nor a duration", s.env, s.def)
	}
	return int64(d)
}
