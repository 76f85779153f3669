package bench

import "testing"

// TestIdleReportsRSSPerConnectionAfterTheHold: idle gives two figures, at
// the moment every connection subscribed and after the hold, each over the
// server's RSS before the run.
func TestIdleReportsRSSPerConnectionAfterTheHold(t *testing.T) {
	cfg := Config{Scenario: ScenarioIdle, Conns: 1000, Topics: 1}
	r := newReport(cfg)
	r.ServerRSSBeforeKiB, r.ServerRSSSubscribedKiB, r.ServerRSSEndKiB = 10_000, 12_000, 11_000
	var m WorkerStats
	m.Connected, m.Alive = 1000, 1000
	r.fill(cfg, m, nil)
	if r.RSSPerConnBytes != 2048 || r.RSSPerConnHeldBytes != 1024 {
		t.Fatalf("per connection: subscribed %v, held %v; want 2048 and 1024", r.RSSPerConnBytes, r.RSSPerConnHeldBytes)
	}
	fan := Config{Scenario: ScenarioFanout, Conns: 1000, Topics: 1}
	r = newReport(fan)
	r.ServerRSSBeforeKiB, r.ServerRSSSubscribedKiB, r.ServerRSSEndKiB = 10_000, 12_000, 11_000
	r.fill(fan, m, nil)
	if r.RSSPerConnHeldBytes != 0 {
		t.Fatalf("fanout reports a held figure: %v", r.RSSPerConnHeldBytes)
	}
}
