package auth

import (
	"sync"
	"time"
)

// Limits configures the brute-force limiter: within Window, an email may
// fail EmailFailures sign-ins and a client IP IPFailures before further
// attempts get 429 until the window that counted them ends. Zero fields
// take the defaults.
type Limits struct {
	EmailFailures int           // per email (5)
	IPFailures    int           // per client IP (20)
	Window        time.Duration // counting window (15 minutes)
	// MaxEntries bounds each of the two tables (10000); when one is full,
	// expired entries go first, then the oldest.
	MaxEntries int
	// Disabled turns the limiter off (tests of other things only).
	Disabled bool
}

func (l Limits) withDefaults() Limits {
	if l.EmailFailures <= 0 {
		l.EmailFailures = 5
	}
	if l.IPFailures <= 0 {
		l.IPFailures = 20
	}
	if l.Window <= 0 {
		l.Window = 15 * time.Minute
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = 10000
	}
	return l
}

// limiter counts failed sign-ins in fixed windows per key. It keeps only
// failures, so successful traffic costs no memory.
type limiter struct {
	cfg   Limits
	mu    sync.Mutex
	email *counterTable
	ip    *counterTable
}

type counter struct {
	start time.Time // first failure of the current window
	n     int
}

// counterTable is a size-bounded map of counters.
type counterTable struct {
	max int
	m   map[string]counter
}

func newLimiter(cfg Limits) *limiter {
	return &limiter{
		cfg:   cfg,
		email: &counterTable{max: cfg.MaxEntries, m: make(map[string]counter)},
		ip:    &counterTable{max: cfg.MaxEntries, m: make(map[string]counter)},
	}
}

// begin reserves a sign-in attempt for email from ip: it counts the
// attempt as a failure up front, so concurrent guesses cannot all slip in
// under the limit, and reports how long to wait when a limit is reached.
// A successful attempt is taken back with succeeded.
func (l *limiter) begin(email, ip string, now time.Time) (time.Duration, bool) {
	if l.cfg.Disabled {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	if w, over := l.email.over(email, l.cfg.EmailFailures, l.cfg.Window, now); over {
		wait = w
	}
	if w, over := l.ip.over(ip, l.cfg.IPFailures, l.cfg.Window, now); over && w > wait {
		wait = w
	}
	if wait > 0 {
		return wait, false
	}
	l.email.add(email, l.cfg.Window, now)
	l.ip.add(ip, l.cfg.Window, now)
	return 0, true
}

// succeeded takes back the attempt begin counted and forgets the email's
// earlier failures. The IP's earlier failures stay: otherwise an attacker
// could reset their address's count by signing into an account of their
// own between guesses.
func (l *limiter) succeeded(email, ip string) {
	if l.cfg.Disabled {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.email.m, email)
	if c, ok := l.ip.m[ip]; ok {
		if c.n <= 1 {
			delete(l.ip.m, ip)
		} else {
			c.n--
			l.ip.m[ip] = c
		}
	}
}

// over reports whether key has reached limit in its current window and
// how long that window still runs.
func (t *counterTable) over(key string, limit int, window time.Duration, now time.Time) (time.Duration, bool) {
	c, ok := t.m[key]
	if !ok {
		return 0, false
	}
	end := c.start.Add(window)
	if !now.Before(end) {
		delete(t.m, key)
		return 0, false
	}
	if c.n < limit {
		return 0, false
	}
	return end.Sub(now), true
}

func (t *counterTable) add(key string, window time.Duration, now time.Time) {
	c, ok := t.m[key]
	if ok && !now.Before(c.start.Add(window)) {
		ok = false
	}
	if !ok {
		if len(t.m) >= t.max {
			t.evict(window, now)
		}
		c = counter{start: now}
	}
	c.n++
	t.m[key] = c
}

// evict drops expired counters; if none had expired, it drops the oldest.
// Memory stays bounded; the price is that a flood of fresh keys can make
// the limiter forget the oldest counts early.
func (t *counterTable) evict(window time.Duration, now time.Time) {
	var oldestKey string
	var oldest time.Time
	for k, c := range t.m {
		if !now.Before(c.start.Add(window)) {
			delete(t.m, k)
			continue
		}
		if oldestKey == "" || c.start.Before(oldest) {
			oldestKey, oldest = k, c.start
		}
	}
	if len(t.m) >= t.max && oldestKey != "" {
		delete(t.m, oldestKey)
	}
}

// size is the number of live counters (tests check the bound).
func (l *limiter) size() (emails, ips int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.email.m), len(l.ip.m)
}
