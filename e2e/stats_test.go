package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/herald-broker/herald/internal/redistest"
)

// clusterView is the part of GET /api/stats that shows every node.
type clusterView struct {
	Node    string `json:"node"`
	Cluster struct {
		Nodes []struct {
			Node        string `json:"node"`
			Connections int64  `json:"connections"`
			HeapBytes   uint64 `json:"heap_bytes"`
		} `json:"nodes"`
		Connections int64  `json:"connections"`
		Error       string `json:"error"`
		Topics      []struct {
			Topic       string  `json:"topic"`
			Subscribers int     `json:"subscribers"`
			PublishRate float64 `json:"publish_rate"`
			LastSeq     uint64  `json:"last_seq"`
		} `json:"topics"`
	} `json:"cluster"`
}

func readClusterView(t *testing.T, n *node) clusterView {
	t.Helper()
	var v clusterView
	getJSON(t, n.base+"/api/stats", &v)
	return v
}

// topicsOf maps the view's topics to "subscribers/seq known/publish
// rate known", and a topic listed twice to a DUPLICATE key.
func topicsOf(v clusterView) map[string]string {
	out := map[string]string{}
	for _, tp := range v.Cluster.Topics {
		if _, twice := out[tp.Topic]; twice {
			out["DUPLICATE "+tp.Topic] = ""
		}
		out[tp.Topic] = fmt.Sprintf("%d/%t/%t", tp.Subscribers, tp.LastSeq > 0, tp.PublishRate > 0)
	}
	return out
}

// Behind a load balancer any node may answer: each node's /api/stats shows
// both nodes, a topic subscribed on both once with its subscribers summed,
// and a topic published to with no subscriber at all.
func TestStatsShowTheWholeClusterFromAnyNode(t *testing.T) {
	nodes := startCluster(t, redistest.Start(t), 2)
	a, b := nodes[0], nodes[1]
	dial(t, a.ws).subscribe("s", "room.1")
	for _, topic := range []string{"room.1", "room.1", "only.b"} {
		dial(t, b.ws).subscribe("s", topic)
	}
	// Publishes go on until the test ends, so every traffic window has some.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			publishQuietly(a, "room.1", i)
			publishQuietly(b, "lonely", i)
		}
	}()
	defer func() { close(stop); <-done }()

	for _, n := range nodes {
		var last clusterView
		eventually(t, "the cluster view of "+n.base, func() bool {
			last = readClusterView(t, n)
			got := topicsOf(last)
			return len(last.Cluster.Nodes) == 2 && last.Cluster.Connections == 4 &&
				got["room.1"] == "3/true/true" && got["only.b"] == "1/false/false" &&
				got["lonely"] == "0/true/true" && len(got) == 3
		})
		if last.Cluster.Nodes[0].Node != "n1" || last.Cluster.Nodes[1].Node != "n2" {
			t.Errorf("%s lists nodes %+v, want n1 and n2", last.Node, last.Cluster.Nodes)
		}
		for _, nd := range last.Cluster.Nodes {
			if nd.HeapBytes == 0 {
				t.Errorf("%s shows no heap for %s", last.Node, nd.Node)
			}
		}
		if !strings.HasPrefix(n.base, "http://") || last.Node == "" {
			t.Errorf("node field %q", last.Node)
		}
	}
}

// publishQuietly publishes {"n":i} to topic through n, for a goroutine
// of the test's: what it publishes is checked through the stats.
func publishQuietly(n *node, topic string, i int) {
	body := fmt.Sprintf(`{"topic":%q,"data":{"n":%d}}`, topic, i)
	if resp, err := httpClient.Post(n.base+"/api/publish", "application/json", strings.NewReader(body)); err == nil {
		resp.Body.Close()
	}
}

// With Redis gone, a node still answers /api/stats: itself alone, and an
// error that says why the others are missing.
func TestStatsWithoutRedisShowThisNodeAndWhy(t *testing.T) {
	redis := redistest.Start(t)
	nodes := startCluster(t, redis, 2)
	eventually(t, "both nodes", func() bool { return len(readClusterView(t, nodes[0]).Cluster.Nodes) == 2 })
	redis.Stop()
	var v clusterView
	eventually(t, "the error", func() bool {
		v = readClusterView(t, nodes[0])
		return v.Cluster.Error != ""
	})
	if len(v.Cluster.Nodes) != 1 || v.Cluster.Nodes[0].Node != "n1" || !strings.Contains(v.Cluster.Error, "this node only") {
		t.Fatalf("without Redis: nodes %+v, error %q", v.Cluster.Nodes, v.Cluster.Error)
	}
}
