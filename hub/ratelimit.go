package hub

import (
	"fmt"
	"time"
)

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

// take spends n tokens if any are left. The balance may go below zero, so
// an item larger than the whole budget passes once and is paid back over
// the following seconds instead of never passing.
func (b *bucket) take(now time.Time, rate, n int) bool {
	if !b.allow(now, rate) {
		return false
	}
	b.tokens -= float64(n - 1)
	return true
}

// full reports whether the bucket has refilled, so it can be forgotten.
func (b *bucket) full(now time.Time, rate int) bool {
	return now.Sub(b.last).Seconds()*float64(rate)+b.tokens >= float64(rate)
}

func (r *room) allow(userID string) bool {
	rate := r.h.cfg.RateLimit
	if rate <= 0 {
		return true
	}
	b := r.limits[userID]
	if b == nil {
		b = &bucket{}
		r.limits[userID] = b
	}
	if b.allow(r.h.cfg.Now(), rate) {
		return true
	}
	r.h.obs.RateLimited()
	return false
}

// pruneLimits forgets refilled buckets of users no longer in the room.
func (r *room) pruneLimits() {
	now := r.h.cfg.Now()
	for u, b := range r.limits {
		if r.users[u] == 0 && b.full(now, r.h.cfg.RateLimit) {
			delete(r.limits, u)
		}
	}
}

// admit charges one client packet of size bytes to its user, in this room
// and across rooms. It returns the refusal text, or "" when allowed.
func (r *room) admit(userID string, size int) string {
	if !r.allow(userID) {
		return r.rateText()
	}
	if text := r.h.spend(userID, size); text != "" {
		r.h.obs.RateLimited()
		return text
	}
	return ""
}

func (r *room) rateText() string {
	return fmt.Sprintf("Rate limit exceeded: %d messages per second", r.h.cfg.RateLimit)
}
