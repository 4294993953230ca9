package hub

import "time"

// bucket is a token bucket: rate tokens per second, holding at most rate,
// so a user gets a burst of rate packets and then rate per second.
type bucket struct {
	tokens float64
	last   time.Time
}

// allow takes one token if there is one.
func (b *bucket) allow(now time.Time, rate int) bool {
	if b.last.IsZero() {
		b.tokens = float64(rate)
	} else {
		b.tokens += now.Sub(b.last).Seconds() * float64(rate)
		if b.tokens > float64(rate) {
			b.tokens = float64(rate)
		}
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// full reports whether the bucket has refilled, so it can be forgotten.
func (b *bucket) full(now time.Time, rate int) bool {
	return now.Sub(b.last).Seconds()*float64(rate)+b.tokens >= float64(rate)
}
