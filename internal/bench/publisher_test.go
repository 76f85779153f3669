package bench

import (
	"testing"
	"time"
)

func TestSendTimeAtFixedRateIsTheSchedule(t *testing.T) {
	start := time.Unix(100, 0)
	if got := sendTime(start, 3, 2); got != time.Unix(101, 500_000_000).UnixNano() {
		t.Errorf("publish 3 at 2/s due at %d", got)
	}
	if got := sendTime(start, 3, 0); got < time.Now().Add(-time.Minute).UnixNano() {
		t.Errorf("closed loop send time %d is not now", got)
	}
}
