package loadgen

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketBoundsCoverEveryValue(t *testing.T) {
	values := []uint64{0, 1, 63, 127, 128, 129, 191, 192, 255, 256, 1000, 12345, 1 << 20, 1<<20 + 1, 1<<40 - 1, 1 << 62, 1<<63 - 1}
	for range 2000 {
		values = append(values, rand.Uint64N(1<<63))
	}
	for _, v := range values {
		i := bucketOf(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d, outside [0,%d)", v, i, histBuckets)
		}
		lo, hi := bucketBounds(i)
		if v < lo || v > hi {
			t.Fatalf("value %d in bucket %d = [%d,%d]", v, i, lo, hi)
		}
		if v >= histLinear && float64(hi-lo+1)/float64(lo) > 1.0/float64(histHalf)+1e-12 {
			t.Fatalf("bucket %d = [%d,%d] is wider than 1/%d of its value", i, lo, hi, histHalf)
		}
	}
	// Buckets tile the line: each starts right after the previous one ends.
	for i := 1; i < histBuckets; i++ {
		_, prevHi := bucketBounds(i - 1)
		lo, _ := bucketBounds(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ends at %d", i, lo, prevHi)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name    string
		samples func() []time.Duration
	}{
		{"constant", func() []time.Duration { return slices.Repeat([]time.Duration{3 * time.Millisecond}, 1000) }},
		{"one sample", func() []time.Duration { return []time.Duration{42 * time.Microsecond} }},
		{"uniform 1µs-10ms", func() []time.Duration {
			s := make([]time.Duration, 100000)
			for i := range s {
				s[i] = time.Microsecond + time.Duration(rng.Int64N(int64(10*time.Millisecond)))
			}
			return s
		}},
		{"long tail", func() []time.Duration {
			s := make([]time.Duration, 50000)
			for i := range s {
				s[i] = time.Duration(rng.ExpFloat64() * float64(2*time.Millisecond))
				if i%1000 == 0 {
					s[i] = time.Duration(rng.Int64N(int64(2 * time.Second)))
				}
			}
			return s
		}},
		{"tiny values", func() []time.Duration {
			s := make([]time.Duration, 1000)
			for i := range s {
				s[i] = time.Duration(i % 200)
			}
			return s
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Histogram
			samples := tt.samples()
			for _, s := range samples {
				h.Record(s)
			}
			slices.Sort(samples)
			if got := h.Count(); got != uint64(len(samples)) {
				t.Fatalf("Count = %d, want %d", got, len(samples))
			}
			if h.Max() != samples[len(samples)-1] || h.Min() != samples[0] {
				t.Fatalf("Min, Max = %v, %v; want %v, %v", h.Min(), h.Max(), samples[0], samples[len(samples)-1])
			}
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
				rank := int(float64(len(samples))*q+0.999999) - 1
				want := samples[max(rank, 0)]
				got := h.Quantile(q)
				// Never below the true value, at most one bucket above.
				if got < want || float64(got-want) > float64(want)/float64(histHalf)+1 {
					t.Errorf("Quantile(%v) = %v, true %v", q, got, want)
				}
			}
		})
	}
}

func TestHistogramEmptyAndNegative(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Max() != 0 || h.Mean() != 0 || h.Min() != 0 {
		t.Fatal("empty histogram reports non-zero figures")
	}
	h.Record(-5 * time.Millisecond)
	if h.Count() != 1 || h.Max() != 0 || h.Quantile(0.5) != 0 {
		t.Fatalf("negative sample: count %d max %v p50 %v, want it counted as 0", h.Count(), h.Max(), h.Quantile(0.5))
	}
}
