package redis

import (
	"strings"
	"testing"

	"github.com/herald-broker/herald/broker"
)

// TestPublishCommandMatchesKeys checks that the publish command built in
// one buffer names the keys and channels as keys does, with and without an
// idempotency key and on each channel choice (sharded ones on Cluster,
// where the run key is the one of the topic's slot), and that a reused
// call carries nothing over from its last publish.
func TestPublishCommandMatchesKeys(t *testing.T) {
	k := keys{prefix: "p:"}
	opts := [3]any{100, int64(1000), int64(2000)}
	call := newCall()
	defer call.release()
	for _, tc := range []struct {
		key              string
		classic, sharded bool
	}{
		{"idem-1", true, false},
		{"", true, false},
		{"", false, true},
		{"k", true, true},
		{strings.Repeat("long", 100), true, false}, // named by its hash
	} {
		req := broker.PublishRequest{Topic: "chat.room", ID: "id-1", Time: 42, Data: []byte(`{"a":1}`), IdempotencyKey: tc.key}
		call.pub.reset()
		var run any = k.run()
		wantRun := k.run()
		if tc.sharded {
			run, wantRun = nil, k.slotRun(hashSlot(req.Topic))
		}
		call.publishCommand(k, req, tc.classic, tc.sharded, opts, run)
		want := []string{k.meta(req.Topic), k.hist(req.Topic), wantRun}
		if tc.key != "" {
			want = append(want, k.idem(req.Topic, tc.key))
		}
		if call.nkeys != len(want) {
			t.Fatalf("%+v: %d keys, want %d", tc, call.nkeys, len(want))
		}
		for i, w := range want {
			if got := argString(call.args[3+i]); got != w {
				t.Errorf("%+v: key %d is %q, want %q", tc, i, got, w)
			}
		}
		argv := call.args[3+call.nkeys:]
		wantClassic, wantSharded := "", ""
		if tc.classic {
			wantClassic = k.channel(req.Topic)
		}
		if tc.sharded {
			wantSharded = k.shardChannel(req.Topic)
		}
		if got := *argv[7].(*string); got != wantClassic {
			t.Errorf("%+v: classic channel %q, want %q", tc, got, wantClassic)
		}
		if got := *argv[9].(*string); got != wantSharded {
			t.Errorf("%+v: sharded channel %q, want %q", tc, got, wantSharded)
		}
		if epoch := *argv[0].(*string); len(epoch) != 16 {
			t.Errorf("%+v: epoch %q is not 16 hex digits", tc, epoch)
		}
		if *argv[1].(*string) != "id-1" || *argv[2].(*int64) != 42 || *argv[8].(*string) != req.Topic {
			t.Errorf("%+v: id, time or topic wrong: %v", tc, argv)
		}
		if b, _ := argv[3].(*bytesArg).MarshalBinary(); string(b) != `{"a":1}` {
			t.Errorf("%+v: data %q", tc, b)
		}
		if argv[4] != opts[0] || argv[5] != opts[1] || argv[6] != opts[2] {
			t.Errorf("%+v: settings %v, want %v", tc, argv[4:7], opts)
		}
	}
}
