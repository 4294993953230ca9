package handlers

import (
	"math"
	"sync"
	"time"
)

// upgradeLimiter is a token bucket per key (a user id or an address) for
// WebSocket upgrades: perMinute upgrades at once, then perMinute a minute.
// Every upgrade makes the room send OnlineUsers to all its sockets, so
// reconnecting in a loop would reach everyone in the room; the burst is
// as large as the per-minute rate so that a user whose tabs all reconnect
// after a restart is not refused.
type upgradeLimiter struct {
	perMinute int // 0 is no limit
	now       func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	nextPrune int
}

type bucket struct {
	tokens float64
	last   time.Time
}

// minPrune is the table size below which full buckets are not swept.
const minPrune = 1024

func newUpgradeLimiter(perMinute int) *upgradeLimiter {
	return &upgradeLimiter{perMinute: perMinute, now: time.Now, buckets: make(map[string]*bucket), nextPrune: minPrune}
}

// take spends one upgrade of key, or reports how long until one is free.
func (l *upgradeLimiter) take(key string) (time.Duration, bool) {
	if l == nil || l.perMinute <= 0 {
		return 0, true
	}
	now := l.now()
	capacity := float64(l.perMinute)
	perSecond := capacity / 60
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.nextPrune {
			l.prune(now)
		}
		b = &bucket{tokens: capacity, last: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(capacity, b.tokens+now.Sub(b.last).Seconds()*perSecond)
	b.last = now
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) / perSecond * float64(time.Second)), false
	}
	b.tokens--
	return 0, true
}

// prune forgets the buckets that have refilled (they equal a new one), so
// the table holds only keys seen within the last minute.
func (l *upgradeLimiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if now.Sub(b.last) >= time.Minute {
			delete(l.buckets, k)
		}
	}
	l.nextPrune = max(minPrune, 2*len(l.buckets))
}

// retryAfterSeconds rounds a wait up to whole seconds, at least one.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
