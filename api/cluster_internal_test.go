package api

import (
	"fmt"
	"testing"

	"github.com/herald-broker/herald/broker"
)

func TestMergeStatsCountsEachTopicOnce(t *testing.T) {
	a := sharedStats{nodeStats: nodeStats{Node: "a", Connections: 2},
		Subscribed: []broker.TopicCount{{Topic: "room", Subscribers: 2}, {Topic: "room.*", Subscribers: 1}},
		Traffic:    []topicTraffic{{Topic: "room", Rate: 1, Epoch: "e", Seq: 5, TimeMS: 100}}}
	b := sharedStats{nodeStats: nodeStats{Node: "b", Connections: 3},
		Subscribed: []broker.TopicCount{{Topic: "room", Subscribers: 3}},
		Traffic: []topicTraffic{{Topic: "room", Rate: 2, Epoch: "e", Seq: 7, TimeMS: 200},
			{Topic: "lonely", Rate: 0.5, Epoch: "f", Seq: 1, TimeMS: 50}}}
	c := mergeStats([]sharedStats{b, a})
	if len(c.Nodes) != 2 || c.Nodes[0].Node != "a" || c.Connections != 5 {
		t.Fatalf("nodes %+v, connections %d", c.Nodes, c.Connections)
	}
	want := []clusterTopic{
		{Topic: "room", Subscribers: 5, PublishRate: 3, Epoch: "e", LastSeq: 7, LastMS: 200},
		{Topic: "room.*", Subscribers: 1},
		{Topic: "lonely", PublishRate: 0.5, Epoch: "f", LastSeq: 1, LastMS: 50},
	}
	if fmt.Sprint(c.Topics) != fmt.Sprint(want) || c.TopicsCut {
		t.Fatalf("topics %+v (cut %t), want %+v", c.Topics, c.TopicsCut, want)
	}
}

// TestMergeStatsStaysBounded: however many topics the nodes share, the
// view lists maxClusterTopic and says it is cut.
func TestMergeStatsStaysBounded(t *testing.T) {
	var all []sharedStats
	for n := 0; n < 5; n++ {
		st := sharedStats{nodeStats: nodeStats{Node: fmt.Sprint(n)}}
		for i := 0; i < sharedTopics; i++ {
			st.Subscribed = append(st.Subscribed, broker.TopicCount{Topic: fmt.Sprintf("t.%d.%d", n, i), Subscribers: 1})
		}
		all = append(all, st)
	}
	c := mergeStats(all)
	if len(c.Topics) != maxClusterTopic || !c.TopicsCut {
		t.Fatalf("%d topics, cut %t; want %d, cut", len(c.Topics), c.TopicsCut, maxClusterTopic)
	}
}
