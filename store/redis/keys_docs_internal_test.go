package redis

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// Every Redis key and channel docs/protocol.md names (`<prefix>...`, with
// <topic>-like placeholders) is one the engine builds, and so is every
// hash tag it names alone (`{webhooks}`): operators write ACLs and read
// keyspaces from that page, and a key renamed here would leave it wrong.
func TestDocsNameTheKeysTheEngineUses(t *testing.T) {
	doc, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	built := documentedForms()
	names := regexp.MustCompile("`(<prefix>[^`]+)`").FindAllStringSubmatch(string(doc), -1)
	if len(names) < 5 {
		t.Fatalf("found %d key names in docs/protocol.md", len(names))
	}
	for _, n := range names {
		if !built[n[1]] {
			t.Errorf("docs/protocol.md names %s, which the engine does not build", n[1])
		}
	}
	for _, tag := range regexp.MustCompile("`(\\{#?[a-z]+\\})`").FindAllStringSubmatch(string(doc), -1) {
		found := false
		for name := range built {
			found = found || strings.Contains(name, tag[1])
		}
		if !found {
			t.Errorf("docs/protocol.md names the hash tag %s, which no key of the engine carries", tag[1])
		}
	}
}

// documentedForms are the engine's key and channel names as the docs
// write them: prefix <prefix>, a topic {topic}'s, a node's <name>, a
// slot's tag <tag>, and * where ACLs glob.
func documentedForms() map[string]bool {
	k := keys{prefix: "<prefix>"}
	slotRun := regexp.MustCompile(`run\{[^}]*\}$`).ReplaceAllString(k.slotRun(0), "run{<tag>}")
	forms := []string{
		k.meta("topic"), k.hist("topic"), k.idem("topic", "<key>"),
		k.channel("*"), k.channel("<topic>"), k.shardChannel("topic"), k.probe("*"), k.control(), k.controls(),
		k.presEntries("topic"), k.presUsers("topic"), k.presNames("topic"), k.presSeq("topic"),
		k.presChanges("topic"), k.presLogEnd("topic"), k.presLost("topic"), k.presLostUnqueued("topic"), k.presLostTaken("topic"), k.presLostTakenEnds("topic"), k.presLostTerms("topic"), k.presOwned("topic", "<name>"),
		k.presNodes(), k.presSynced(), k.presTopics("<name>"), k.presLostTopics("<name>"), k.presReaper("<name>"),
		k.run(), slotRun, k.statsNodes(), k.statsNode("<name>"), k.lagBehind(), k.lagTopics(), k.webhooks("<name>"),
	}
	out := make(map[string]bool, len(forms))
	for _, f := range forms {
		out[f] = true
	}
	return out
}
