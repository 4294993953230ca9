package loadgen

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram records durations in log-linear buckets, HDR style: values below
// 128 ns have a bucket each, and every power of two above that is split into
// 64 equal buckets, so a reported percentile is within 1/64 (1.6%) of the
// true value at any scale. It is safe for concurrent use, but each client
// records into its own (uncontended atomic adds) and readers Merge them:
// one shared histogram cost the generator a contended cache line per
// delivery, at about a million deliveries a second.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64 // nanoseconds; overflows only after ~584 years of samples
	max    atomic.Int64
	min    atomic.Int64 // valid when n > 0; stored as value+1 so 0 means unset
}

const (
	histSubBits = 7
	histLinear  = 1 << histSubBits // values below this get one bucket each
	histHalf    = histLinear / 2   // buckets per power of two above it
	// histBuckets covers every int64: the largest shift is 63-histSubBits+1.
	histBuckets = histLinear + (64-histSubBits)*histHalf
)

// bucketOf returns the bucket index of v (v >= 0).
func bucketOf(v uint64) int {
	if v < histLinear {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits // >= 1
	sub := v >> uint(shift)              // in [histHalf, histLinear)
	return histLinear + (shift-1)*histHalf + int(sub-histHalf)
}

// bucketBounds returns the smallest and largest value of bucket i.
func bucketBounds(i int) (lo, hi uint64) {
	if i < histLinear {
		return uint64(i), uint64(i)
	}
	j := i - histLinear
	shift := uint(j/histHalf + 1)
	sub := uint64(j%histHalf + histHalf)
	lo = sub << shift
	hi = lo + (1 << shift) - 1
	return lo, hi
}

// Record adds one sample. Negative durations (clock steps) count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(uint64(v))].Add(1)
	h.n.Add(1)
	h.sum.Add(uint64(v))
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			break
		}
	}
	for {
		m := h.min.Load()
		if (m != 0 && v+1 >= m) || h.min.CompareAndSwap(m, v+1) {
			break
		}
	}
}

// Merge adds o's samples to h. o may be recording meanwhile; h then holds
// a moment of it, each sample either in or out.
func (h *Histogram) Merge(o *Histogram) {
	if o.n.Load() == 0 {
		return
	}
	var n uint64
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
			n += c
		}
	}
	h.n.Add(n)
	h.sum.Add(o.sum.Load())
	if m := o.max.Load(); m > h.max.Load() {
		h.max.Store(m)
	}
	if m := o.min.Load(); m != 0 && (h.min.Load() == 0 || m < h.min.Load()) {
		h.min.Store(m)
	}
}

// Count is the number of samples.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max is the largest sample, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Min is the smallest sample, exactly (0 when empty).
func (h *Histogram) Min() time.Duration {
	m := h.min.Load()
	if m == 0 {
		return 0
	}
	return time.Duration(m - 1)
}

// Mean is the average sample (0 when empty).
func (h *Histogram) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Quantile returns the value at quantile q (0 < q <= 1): the upper bound of
// the bucket holding the sample of rank ceil(q*n), clamped to the observed
// range, so it never understates a latency and never reports more than Max.
// It returns 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = max(rank, 1)
	rank = min(rank, n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			_, hi := bucketBounds(i)
			v := time.Duration(hi)
			return min(max(v, h.Min()), h.Max())
		}
	}
	// Concurrent Records can make n run ahead of the bucket counts.
	return h.Max()
}
