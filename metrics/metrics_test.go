package metrics_test

import (
	"context"
	"testing"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/herald-broker/herald/store/memory"
)

func TestScrapeFollowsANode(t *testing.T) {
	eng := memory.New(memory.Config{HistorySize: 10})
	t.Cleanup(func() { eng.Close(context.Background()) })
	n := startNode(t, eng)

	fams := n.scrape(t)
	wantValues(t, fams, map[string]float64{
		"herald_connections": 0, "herald_messages_published_total": 0,
		"herald_connections_closed_total{code=1000,initiator=client}":  0,
		"herald_connections_closed_total{code=other,initiator=server}": 0,
	})
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
	if _, ok := fams["herald_redis_errors_total"]; ok {
		t.Error("Redis metrics on a node without Redis")
	}

	reader, writer := dial(t, n.url), dial(t, n.url)
	reader.send(`{"type":"subscribe","id":"1","topic":"chat"}`)
	reader.expect(`"type":"subscribed"`)
	reader.send(`{"type":"subscribe","id":"2","topic":"news.*"}`)
	reader.expect(`"type":"subscribed"`)
	writer.send(`{"type":"publish","id":"3","topic":"chat","data":"over ws"}`)
	writer.expect(`"type":"published"`)
	reader.expect(`"over ws"`)
	if _, err := n.b.Publish(context.Background(), "news.today", []byte(`"over http"`), ""); err != nil {
		t.Fatal(err)
	}
	reader.expect(`"over http"`)
	wantValues(t, n.scrape(t), map[string]float64{
		"herald_connections":                    2,
		"herald_subscriptions":                  2,
		"herald_topics":                         2,
		"herald_messages_published_total":       2,
		"herald_messages_delivered_total":       2,
		"herald_messages_dropped_total":         0,
		"herald_publish_duration_seconds":       2, // the histogram's count
		"herald_publish_waits_total":            0, // nothing was behind
		"herald_publish_refused_overload_total": 0,
		"herald_connections_throttled_total":    0, // nobody sent past twice the rate
	})
	if info := fams["herald_build_info"].GetMetric(); len(info) != 1 || info[0].GetLabel()[0].GetValue() == "" {
		t.Errorf("herald_build_info = %v, want one series with a version", info)
	}

	// A binary frame is refused by the server with 1003; the other client
	// leaves with 1000.
	if err := wsutil.WriteClientBinary(writer.conn, []byte{1}); err != nil {
		t.Fatal(err)
	}
	if code := writer.closedWith(); code != ws.StatusUnsupportedData {
		t.Fatalf("binary frame closed with %d, want 1003", code)
	}
	if err := ws.WriteFrame(reader.conn, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))); err != nil {
		t.Fatal(err)
	}
	if code := reader.closedWith(); code != ws.StatusNormalClosure {
		t.Fatalf("close 1000 answered with %d", code)
	}
	reader.conn.Close()
	writer.conn.Close()
	eventually(t, "both sessions gone", func() bool { return n.b.Stats().Connections == 0 })
	wantValues(t, n.scrape(t), map[string]float64{
		"herald_connections":   0,
		"herald_subscriptions": 0,
		"herald_topics":        0,
		"herald_connections_closed_total{code=1003,initiator=server}": 1,
		"herald_connections_closed_total{code=1000,initiator=client}": 1,
		"herald_connections_closed_total{code=1003,initiator=client}": 0,
		"herald_connections_closed_total{code=1006,initiator=client}": 0,
	})
}
