package bench

import (
	"math"
	"testing"
	"time"
)

func TestBucketsCoverEveryValue(t *testing.T) {
	prev := -1
	for _, v := range []int64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 20, 1<<40 + 12345, math.MaxInt64} {
		b := bucketOf(v)
		if b < prev || b >= histBuckets {
			t.Fatalf("value %d: bucket %d after %d", v, b, prev)
		}
		low := bucketLow(b)
		if low > v {
			t.Errorf("value %d in bucket %d whose low edge is %d", v, b, low)
		}
		if b+1 < histBuckets && bucketLow(b+1) <= v {
			t.Errorf("value %d belongs past bucket %d", v, b)
		}
		if v > 0 && float64(v-low)/float64(v) > 1.0/64 {
			t.Errorf("value %d: bucket low %d is more than 1/64 off", v, low)
		}
		prev = b
	}
}

func TestQuantilesOfUniformValues(t *testing.T) {
	var h Histogram
	for us := 1; us <= 10000; us++ {
		h.Record(time.Duration(us) * time.Microsecond)
	}
	d := h.Snapshot()
	if d.Count() != 10000 || d.MaxUS != 10000 {
		t.Fatalf("count %d max %d", d.Count(), d.MaxUS)
	}
	for q, want := range map[float64]float64{0.5: 5000, 0.9: 9000, 0.99: 9900, 0.999: 9990} {
		got := float64(d.Quantile(q))
		if math.Abs(got-want)/want > 1.0/64 {
			t.Errorf("q%v = %v, want %v within 1/64", q, got, want)
		}
	}
	if s := d.Summary(); s.Max != 10 || s.Count != 10000 {
		t.Errorf("summary %+v", s)
	}
}

func TestHistogramMergeAndEmpty(t *testing.T) {
	var a, b Histogram
	a.Record(time.Millisecond)
	b.Record(3 * time.Millisecond)
	b.Record(-time.Second) // clock skew between publisher and reader
	d := a.Snapshot()
	d.Merge(b.Snapshot())
	if d.Count() != 3 || d.MaxUS != 3000 || d.Quantile(0) != 0 {
		t.Errorf("merged: count %d max %d min %d", d.Count(), d.MaxUS, d.Quantile(0))
	}
	var empty HistData
	if empty.Quantile(0.5) != 0 || empty.Summary().Count != 0 {
		t.Errorf("empty histogram gave values")
	}
}
