package redis

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/herald-broker/herald/broker"
)

func TestGlobOverMatchesHeraldPattern(t *testing.T) {
	k := keys{prefix: "h:"}
	for pattern, want := range map[string]string{
		"chat.*":    "h:m.chat.*",
		"chat.>":    "h:m.chat.*",
		"a.*.b.>":   "h:m.a.*",
		"user:42.>": "h:m.user:42.*",
		"x=1.+y.*":  "h:m.x=1.*",
	} {
		got, ok := k.firstTokenGlob(pattern)
		if !ok || got != want {
			t.Errorf("firstTokenGlob(%q) = %q, %v; want %q", pattern, got, ok, want)
		}
		if topic := pattern[:len(pattern)-1] + "x"; !globMatch(got, k.channel(topic)) {
			t.Errorf("glob %q does not match the channel of %q", got, topic)
		}
	}
	for _, pattern := range []string{">", "*.inbox", "*.>"} {
		if got, ok := k.firstTokenGlob(pattern); ok {
			t.Errorf("firstTokenGlob(%q) = %q, want none: it starts with a wildcard", pattern, got)
		}
	}
	if got := k.catchAllGlob(); got != "h:m.*" {
		t.Errorf("catchAllGlob() = %q", got)
	}
	if got := (keys{prefix: "a*[b]?\\:"}).catchAllGlob(); got != `a\*\[b\]\?\\:m.*` {
		t.Errorf("glob with a prefix holding metacharacters = %q", got)
	}
}

// globMatch is Redis's glob for what firstTokenGlob makes: a literal, then
// '*' matching anything.
func globMatch(glob, channel string) bool {
	lit, ok := strings.CutSuffix(glob, "*")
	return ok && strings.HasPrefix(channel, lit)
}

func TestKeysShareTheTopicHashTag(t *testing.T) {
	k := keys{prefix: "p:"}
	for _, key := range []string{k.meta("a.b"), k.hist("a.b"), k.idem("a.b", "key")} {
		if got := hashTag(key); got != "a.b" {
			t.Errorf("key %q has hash tag %q, want a.b", key, got)
		}
	}
	if topic, ok := k.topicOf(k.channel("a.b")); !ok || topic != "a.b" {
		t.Errorf("topicOf(channel(a.b)) = %q, %v", topic, ok)
	}
	if _, ok := k.topicOf(k.probe("n1")); ok {
		t.Error("the probe channel reads as a topic channel")
	}
}

func TestShardChannelsLiveInTheTopicSlot(t *testing.T) {
	k := keys{prefix: "p:"}
	ch := k.shardChannel("chat.a")
	if got := hashTag(ch); got != "chat.a" {
		t.Errorf("sharded channel %q has hash tag %q, want the topic", ch, got)
	}
	if topic, ok := k.topicOf(ch); !ok || topic != "chat.a" {
		t.Errorf("topicOf(%q) = %q, %v", ch, topic, ok)
	}
	if glob, _ := k.firstTokenGlob("chat.*"); globMatch(glob, ch) {
		t.Errorf("glob %q matches the sharded channel %q", glob, ch)
	}
	probe := k.shardProbe("n1", "chat.a")
	if !k.isProbe("n1", probe) || !k.isProbe("n1", k.probe("n1")) || k.isProbe("n2", probe) {
		t.Errorf("isProbe does not tell node n1's probe channels %q and %q", probe, k.probe("n1"))
	}
	if hashTag(probe) != "chat.a" {
		t.Errorf("shard probe %q is not in the slot of its anchor", probe)
	}
	if _, ok := k.topicOf(probe); ok {
		t.Error("a shard probe channel reads as a topic channel")
	}
}

// hashTag is the part of key Redis Cluster hashes: inside the first {...}.
func hashTag(key string) string {
	for i := 0; i < len(key); i++ {
		if key[i] == '{' {
			for j := i + 1; j < len(key); j++ {
				if key[j] == '}' {
					return key[i+1 : j]
				}
			}
		}
	}
	return key
}

func TestParsePayload(t *testing.T) {
	m, err := parsePayload("chat.a\nep1\n42\nid-1\n1764074400123\n{\"t\":\"line\\nbreak\"}\n")
	if err != nil {
		t.Fatal(err)
	}
	want := broker.Message{Topic: "chat.a", Epoch: "ep1", Seq: 42, ID: "id-1", Time: 1764074400123}
	if m.Topic != want.Topic || m.Epoch != want.Epoch || m.Seq != want.Seq || m.ID != want.ID || m.Time != want.Time ||
		string(m.Data) != "{\"t\":\"line\\nbreak\"}\n" {
		t.Fatalf("parsePayload = %+v (data %q)", m, m.Data)
	}
	for _, bad := range []string{"", "a\nb\nc", "t\ne\nnotanumber\ni\n1\nd", "t\ne\n1\ni\nnotatime\nd"} {
		if _, err := parsePayload(bad); err == nil {
			t.Errorf("parsePayload(%q) succeeded", bad)
		}
	}
}

func TestParseResultRejectsMalformed(t *testing.T) {
	if _, err := parseResult("t", "only\ntwo"); err == nil {
		t.Error("a result with two fields parsed")
	}
	if _, err := parseResult("t", "e\nx\nid"); err == nil {
		t.Error("a result with a bad seq parsed")
	}
	r, err := parseResult("t", "e\n7\nid")
	if err != nil || r != (broker.PublishResult{Topic: "t", Epoch: "e", Seq: 7, ID: "id"}) {
		t.Errorf("parseResult = %+v, %v", r, err)
	}
}

func TestBackoffGrowsCappedWithJitter(t *testing.T) {
	b := backoff{min: 10, max: 80}
	for i, ceil := range []int64{10, 20, 40, 80, 80, 80} {
		d := int64(b.next())
		if d < ceil/2 || d > ceil {
			t.Fatalf("wait %d = %d, want within [%d, %d]", i, d, ceil/2, ceil)
		}
	}
	b.reset()
	if d := int64(b.next()); d > 10 {
		t.Fatalf("wait after reset = %d, want at most 10", d)
	}
}

// TestReceivedChannelsAreToldApartWithoutAllocating checks the tests the
// receive loop runs on every message: right for this prefix and node, wrong
// for any other, and free of allocations.
func TestReceivedChannelsAreToldApartWithoutAllocating(t *testing.T) {
	k := keys{prefix: "p:"}
	other := keys{prefix: "q:"}
	shard := k.shardProbe("n1", "a")
	cases := []struct {
		name string
		ok   bool
		got  bool
	}{
		{"own probe", true, k.isProbe("n1", k.probe("n1"))},
		{"own shard probe", true, k.isProbe("n1", shard)},
		{"own classic probe on Cluster", true, k.isProbe("n1", k.classicProbe("n1", 3))},
		{"another node's probe", false, k.isProbe("n1", k.probe("n10"))},
		{"another prefix's probe", false, k.isProbe("n1", other.probe("n1"))},
		{"a probe as a topic", false, k.isProbe("n1", k.channel("probe.n1"))},
		{"control", true, k.isControl(k.control())},
		{"another prefix's control", false, k.isControl(other.control())},
		{"a topic named control", false, k.isControl(k.channel("control"))},
	}
	for _, c := range cases {
		if c.got != c.ok {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.ok)
		}
	}
	if _, ok := k.topicOf(other.channel("a.b")); ok {
		t.Error("topicOf took another prefix's channel")
	}
	if _, ok := k.topicOf(k.control()); ok {
		t.Error("topicOf took the control channel")
	}
	ch, sch, probe := k.channel("a.b"), k.shardChannel("a.b"), k.probe("n1")
	allocs := testing.AllocsPerRun(100, func() {
		_, _ = k.topicOf(ch)
		_, _ = k.topicOf(sch)
		_ = k.isProbe("n1", probe) || k.isProbe("n1", shard) || k.isControl(ch)
	})
	if allocs != 0 {
		t.Errorf("%v allocations a message, want 0", allocs)
	}
}

// The fields of a received message share no memory with its payload:
// kept past the message (a topic's last ID and epoch, the broker's
// delivery counts by topic), they would keep its data alive.
func TestParsePayloadKeepsNoPartOfThePayload(t *testing.T) {
	payload := "chat.a\nep1\n42\nid-1\n1764074400123\n" + strings.Repeat("x", 64<<10)
	m, err := parsePayload(payload)
	if err != nil {
		t.Fatal(err)
	}
	start := uintptr(unsafe.Pointer(unsafe.StringData(payload)))
	for name, field := range map[string]string{"topic": m.Topic, "epoch": m.Epoch, "id": m.ID} {
		if p := uintptr(unsafe.Pointer(unsafe.StringData(field))); p >= start && p < start+uintptr(len(payload)) {
			t.Errorf("the message's %s %q is part of its 64 KiB payload", name, field)
		}
	}
}
