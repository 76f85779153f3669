package api

import "sort"

// The cluster view of /api/stats: every node's shared stats merged, each
// topic counted once.

// clusterStats is the "cluster" object of /api/stats.
type clusterStats struct {
	Nodes       []nodeStats `json:"nodes"`
	Connections int64       `json:"connections"` // WebSocket and SSE
	// SSEConnections are the SSE streams among Connections.
	SSEConnections int64          `json:"sse_connections"`
	Subscriptions  int64          `json:"subscriptions"`
	InPerS         float64        `json:"in_per_s"`
	OutPerS        float64        `json:"out_per_s"`
	Topics         []clusterTopic `json:"topics"`
	// TopicsCut: some topic may be missing or undercounted, as a node
	// shared only its busiest, or more than maxClusterTopic were found.
	TopicsCut bool   `json:"topics_cut"`
	Error     string `json:"error,omitempty"`
}

// clusterTopic is one topic or pattern, counted once for the cluster.
type clusterTopic struct {
	Topic       string  `json:"topic"`
	Subscribers int     `json:"subscribers"`  // summed over the nodes
	PublishRate float64 `json:"publish_rate"` // per second, summed over the nodes
	Epoch       string  `json:"epoch,omitempty"`
	LastSeq     uint64  `json:"last_seq,omitempty"` // of the latest publish any node saw
	LastMS      int64   `json:"last_publish_ms,omitempty"`
	// Presence is who is on a topic that keeps presence, for the first
	// maxPresenceCounts of them in the list; absent for the others.
	Presence *presenceCount `json:"presence,omitempty"`
}

// presenceCount is a presence topic's users and sessions, cluster-wide.
type presenceCount struct {
	Users    int `json:"users"`
	Sessions int `json:"sessions"`
}

// mergeStats counts each topic once, its subscribers and publish rates
// summed over the nodes, its last seq the latest any node saw.
func mergeStats(all []sharedStats) clusterStats {
	c := clusterStats{Nodes: make([]nodeStats, 0, len(all)), Topics: []clusterTopic{}}
	topics := map[string]*clusterTopic{}
	topic := func(name string) *clusterTopic {
		t := topics[name]
		if t == nil {
			t = &clusterTopic{Topic: name}
			topics[name] = t
		}
		return t
	}
	for _, st := range all {
		c.Nodes = append(c.Nodes, st.nodeStats)
		c.Connections += st.Connections
		c.SSEConnections += st.SSEConnections
		c.Subscriptions += st.Subscriptions
		c.InPerS += st.InPerS
		c.OutPerS += st.OutPerS
		c.TopicsCut = c.TopicsCut || st.SubscribedCut || st.Untracked > 0
		for _, tc := range st.Subscribed {
			topic(tc.Topic).Subscribers += tc.Subscribers
		}
		for _, tt := range st.Traffic {
			t := topic(tt.Topic)
			t.PublishRate += tt.Rate
			if tt.TimeMS > t.LastMS || (tt.TimeMS == t.LastMS && tt.Seq > t.LastSeq) {
				t.Epoch, t.LastSeq, t.LastMS = tt.Epoch, tt.Seq, tt.TimeMS
			}
		}
	}
	sort.Slice(c.Nodes, func(i, j int) bool { return c.Nodes[i].Node < c.Nodes[j].Node })
	for _, t := range topics {
		c.Topics = append(c.Topics, *t)
	}
	sort.Slice(c.Topics, func(i, j int) bool { return busierTopic(c.Topics[i], c.Topics[j]) })
	if len(c.Topics) > maxClusterTopic {
		c.Topics, c.TopicsCut = c.Topics[:maxClusterTopic], true
	}
	return c
}

// busierTopic orders by subscribers, then publish rate, then name.
func busierTopic(a, b clusterTopic) bool {
	if a.Subscribers != b.Subscribers {
		return a.Subscribers > b.Subscribers
	}
	if a.PublishRate != b.PublishRate {
		return a.PublishRate > b.PublishRate
	}
	return a.Topic < b.Topic
}
