package bench

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram counts durations in log-linear buckets, as HDR histograms do:
// values below 2^subBits µs are exact, and above, every power of two is cut
// into 2^(subBits-1) buckets, so a percentile is off by at most 1/64 (1.6 %).
// Memory is fixed whatever the count, adding is one atomic increment, and
// histograms of several workers merge by adding buckets.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	max    atomic.Int64 // µs
}

const (
	subBits     = 7
	subCount    = 1 << subBits
	halfSub     = subCount / 2
	histBuckets = subCount + (63-subBits)*halfSub
)

// bucketOf maps a value in µs to its bucket.
func bucketOf(us int64) int {
	if us < subCount {
		return int(max(us, 0))
	}
	shift := bits.Len64(uint64(us)) - subBits // ≥ 1
	return subCount + (shift-1)*halfSub + int(us>>shift) - halfSub
}

// bucketLow is the smallest value in µs that falls in bucket i.
func bucketLow(i int) int64 {
	if i < subCount {
		return int64(i)
	}
	shift := (i-subCount)/halfSub + 1
	return int64((i-subCount)%halfSub+halfSub) << shift
}

// Record adds one duration; negative ones count as zero.
func (h *Histogram) Record(d time.Duration) {
	us := d.Microseconds()
	h.counts[bucketOf(us)].Add(1)
	for {
		m := h.max.Load()
		if us <= m || h.max.CompareAndSwap(m, us) {
			return
		}
	}
}

// Snapshot returns the non-empty buckets, keyed by bucket index, for
// sending to the parent process.
func (h *Histogram) Snapshot() HistData {
	d := HistData{Buckets: map[int]uint64{}, MaxUS: h.max.Load()}
	for i := range h.counts {
		if n := h.counts[i].Load(); n > 0 {
			d.Buckets[i] = n
		}
	}
	return d
}

// HistData is a histogram's content in a form JSON carries.
type HistData struct {
	Buckets map[int]uint64 `json:"buckets"`
	MaxUS   int64          `json:"max_us"`
}

// Merge adds o into d.
func (d *HistData) Merge(o HistData) {
	if d.Buckets == nil {
		d.Buckets = map[int]uint64{}
	}
	for i, n := range o.Buckets {
		d.Buckets[i] += n
	}
	d.MaxUS = max(d.MaxUS, o.MaxUS)
}

// Count is how many values were recorded.
func (d HistData) Count() uint64 {
	var n uint64
	for _, c := range d.Buckets {
		n += c
	}
	return n
}

// Quantile returns the value at q (0..1) in µs: the low edge of the bucket
// holding it, or the exact maximum for q = 1.
func (d HistData) Quantile(q float64) int64 {
	total := d.Count()
	if total == 0 {
		return 0
	}
	if q >= 1 {
		return d.MaxUS
	}
	rank := uint64(q*float64(total-1)) + 1
	var seen uint64
	for i := 0; i < histBuckets; i++ {
		seen += d.Buckets[i]
		if seen >= rank {
			return min(bucketLow(i), d.MaxUS)
		}
	}
	return d.MaxUS
}

// Latency is a summary of a histogram in milliseconds.
type Latency struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

// Summary computes the percentiles the report shows.
func (d HistData) Summary() Latency {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Latency{
		Count: d.Count(),
		P50:   ms(d.Quantile(0.50)),
		P90:   ms(d.Quantile(0.90)),
		P99:   ms(d.Quantile(0.99)),
		P999:  ms(d.Quantile(0.999)),
		Max:   ms(d.MaxUS),
	}
}
