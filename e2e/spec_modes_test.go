package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
)

// Section 12: everything in sections 2-11 holds in every mode. Presence,
// controls, /sse and webhooks on two herald processes sharing a Redis
// Cluster, then a Sentinel set, before and after their master is killed.

func TestSpecFeaturesOnRedisCluster(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t, 3, 1)
	featuresInMode(t, cluster.URL(), func() {
		master := cluster.MasterOfKey("{room.m}")
		master.Kill()
		cluster.WaitOK()
	})
}

func TestSpecFeaturesOnRedisSentinel(t *testing.T) {
	t.Parallel()
	sentinel := redistest.StartSentinel(t)
	featuresInMode(t, sentinel.URL(), func() {
		sentinel.WaitFailover(sentinel.KillMaster())
	})
}

func featuresInMode(t *testing.T, url string, failover func()) {
	backend, a, b := startHookedPair(t, url, "100ms")

	watcher := wsOpen(t, b.ws+"?mode=ok&user=w", dialOpts{})
	watcher.cmd("w", `{"type":"subscribe","id":"w","topic":"room.m","presence":true}`)
	ada := wsOpen(t, a.ws+"?mode=ok&user=ada", dialOpts{})
	ada.cmd("s", `{"type":"subscribe","id":"s","topic":"room.m"}`)
	jsonEq(t, "ada's join", watcher.nextObj(), `{"type":"join","topic":"room.m","user":"ada","info":{"name":"ada"}}`)
	want := `{"topic":"room.m","users":2,"sessions":2,"members":[{"user":"ada","sessions":1,"info":{"name":"ada"}},{"user":"w","sessions":1,"info":{"name":"w"}}]}`
	for _, n := range []*process{a, b} {
		_, m := getPresence(t, &n.node, "room.m")
		jsonEq(t, "presence on "+n.base, m, want)
	}

	control(t, &b.node, "/api/subscribe", `{"user":"ada","topic":"user:ada.n"}`)
	if m := ada.nextObj(); m["type"] != "subscribed" || m["topic"] != "user:ada.n" || m["server"] != true {
		t.Fatalf("ada after a backend's subscribe: %v", m)
	}
	publish(t, &b.node, "user:ada.n", `"n1"`)
	if m := ada.nextObj(); m["type"] != "message" || m["data"] != "n1" {
		t.Fatalf("ada: %v", m)
	}

	stream, _, _ := sseOpen(t, b.base+"/sse?mode=ok&user=s&topic=room.m&topic=room.*", nil)
	stream.next()
	jsonEq(t, "the stream's user joins", watcher.nextObj(), `{"type":"join","topic":"room.m","user":"s","info":{"name":"s"}}`)
	publish(t, &a.node, "room.m", `"m1"`)
	publish(t, &a.node, "room.other", `"o1"`)
	for _, want := range []string{"m1", "o1"} {
		if m := stream.next().dataObj(); m["data"] != want {
			t.Fatalf("stream got %v, want %s", m, want)
		}
	}
	eventually(t, "room.m occupied, ada added", func() bool {
		var got []string
		for _, ev := range backend.events(0) {
			if ev["topic"] == "room.m" {
				got = append(got, fmt.Sprint(ev["name"], ev["user"]))
			}
		}
		return slices.Contains(got, "topic_occupied<nil>") && slices.Contains(got, "member_addedada")
	})

	failover()
	eventually(t, "a publish after the failover", func() bool {
		resp, err := httpClient.Post(a.base+"/api/publish", "application/json", bytes.NewBufferString(`{"topic":"room.m","data":"m2"}`))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	deadline := time.Now().Add(wait)
	for m := stream.next().dataObj(); m["data"] != "m2"; m = stream.next().dataObj() {
		if time.Now().After(deadline) {
			t.Fatal("the stream never got the message published after the failover")
		}
	}
	// The stream's exact room.m makes its user s present too.
	eventually(t, "presence after the failover", func() bool {
		_, m := getPresence(t, &b.node, "room.m")
		return m["users"] == 3.0 && m["sessions"] == 3.0
	})
	control(t, &b.node, "/api/unsubscribe", `{"user":"ada","topic":"user:ada.n"}`)
	for {
		m := ada.nextObj()
		if m["type"] == "unsubscribed" {
			jsonEq(t, "ada after a backend's unsubscribe", m, `{"type":"unsubscribed","topic":"user:ada.n","reason":"server"}`)
			break
		}
		if m["type"] != "message" && m["type"] != "gap" {
			t.Fatalf("ada: %v", m)
		}
	}
	ada.clientClose()
	for {
		m := watcher.nextObj()
		if m["type"] == "leave" {
			jsonEq(t, "ada's leave", m, `{"type":"leave","topic":"room.m","user":"ada"}`)
			break
		}
		if m["type"] != "message" && m["type"] != "gap" && !(m["type"] == "join" && m["user"] == "ada") {
			t.Fatalf("watcher: %v", m)
		}
	}
}
