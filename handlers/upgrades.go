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

	mu sync.Mutex
	// buckets holds, per key, when its bucket is full again.
	buckets   map[string]time.Time
	nextPrune int
}

// minPrune is the table size below which refilled keys are not swept.
const minPrune = 1024

func newUpgradeLimiter(perMinute int) *upgradeLimiter {
	return &upgradeLimiter{perMinute: perMinute, now: time.Now, buckets: make(map[string]time.Time), nextPrune: minPrune}
}

// take spends one upgrade of key, or reports how long until one is free.
// The bucket is kept as the time it will be full again (GCRA), so the
// arithmetic is exact: each upgrade pushes that time one interval on, and
// an upgrade is refused while it lies more than a full bucket ahead.
func (l *upgradeLimiter) take(key string) (time.Duration, bool) {
	if l == nil || l.perMinute <= 0 {
		return 0, true
	}
	now := l.now()
	interval := time.Minute / time.Duration(l.perMinute)
	l.mu.Lock()
	defer l.mu.Unlock()
	full, ok := l.buckets[key]
	if !ok && len(l.buckets) >= l.nextPrune {
		l.prune(now)
	}
	if full.Before(now) {
		full = now
	}
	if ahead := full.Sub(now) + interval; ahead > time.Minute {
		return ahead - time.Minute, false
	}
	l.buckets[key] = full.Add(interval)
	return 0, true
}

// prune forgets the keys whose bucket is full again (they equal a new
// one), so the table holds only keys seen within the last minute.
func (l *upgradeLimiter) prune(now time.Time) {
	for k, full := range l.buckets {
		if !full.After(now) {
			delete(l.buckets, k)
		}
	}
	l.nextPrune = max(minPrune, 2*len(l.buckets))
}

// retryAfterSeconds rounds a wait up to whole seconds, at least one.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
