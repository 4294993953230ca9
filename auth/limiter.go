package auth

import (
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Limits configures the limits on sign-in, sign-up and new sessions. Zero
// fields take DefaultLimits' values; a negative count (Off) turns that one
// limit off, as a load generator signing up thousands of users from one
// address needs.
type Limits struct {
	// EmailFailures is how many failed sign-ins one email may have from one
	// client address within Window before that pair is locked out. Keyed
	// by the pair, so a stranger's guesses lock out the stranger, never the
	// owner signing in from elsewhere. (5)
	EmailFailures int
	// IPFailures is how many failed sign-ins one address may have within
	// Window, whatever the emails, so one address cannot spray guesses
	// across accounts. (20)
	IPFailures int
	// Window is the counting window and the length of a pair's first
	// lock-out. (15 minutes)
	Window time.Duration
	// MaxLockout caps the back-off: each further lock-out of the same pair
	// lasts twice the one before, up to MaxLockout. A pair's record is
	// forgotten MaxLockout after its last lock-out ends. (4 hours)
	MaxLockout time.Duration
	// SignUpsPerIP is how many sign-ups one address may attempt within
	// QuotaWindow; each costs a password hash. (30)
	SignUpsPerIP int
	// NewSessionsPerUser is how many sessions one account may open within
	// QuotaWindow. Successful sign-ins count, so a correct password cannot
	// mint sessions (and hashes) without bound. (30)
	NewSessionsPerUser int
	// QuotaWindow is the window of the two quotas above. (1 hour)
	QuotaWindow time.Duration
	// MaxEntries bounds each of the limiter's tables (10000); when one is
	// full, expired entries go first, then the oldest.
	MaxEntries int
	// Disabled turns every limit off (tests of other things only).
	Disabled bool
}

// Off, as a count of Limits, turns that limit off.
const Off = -1

// DefaultLimits is the production setting of every limit.
func DefaultLimits() Limits {
	return Limits{
		EmailFailures:      5,
		IPFailures:         20,
		Window:             15 * time.Minute,
		MaxLockout:         4 * time.Hour,
		SignUpsPerIP:       30,
		NewSessionsPerUser: 30,
		QuotaWindow:        time.Hour,
		MaxEntries:         10000,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.EmailFailures == 0 {
		l.EmailFailures = d.EmailFailures
	}
	if l.IPFailures == 0 {
		l.IPFailures = d.IPFailures
	}
	if l.Window <= 0 {
		l.Window = d.Window
	}
	if l.MaxLockout <= 0 {
		l.MaxLockout = max(d.MaxLockout, l.Window)
	}
	if l.SignUpsPerIP == 0 {
		l.SignUpsPerIP = d.SignUpsPerIP
	}
	if l.NewSessionsPerUser == 0 {
		l.NewSessionsPerUser = d.NewSessionsPerUser
	}
	if l.QuotaWindow <= 0 {
		l.QuotaWindow = d.QuotaWindow
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = d.MaxEntries
	}
	return l
}

// limiter holds the counters behind Limits. Sign-in keeps only failures,
// so successful traffic costs it no memory.
type limiter struct {
	cfg      Limits
	mu       sync.Mutex
	pair     *lockTable    // failures per (email, address), with back-off
	ip       *counterTable // failures per address
	signUp   *counterTable // sign-up attempts per address
	sessions *counterTable // new sessions per user id
}

func newLimiter(cfg Limits) *limiter {
	return &limiter{
		cfg:      cfg,
		pair:     &lockTable{max: cfg.MaxEntries, m: make(map[string]*lockout)},
		ip:       newCounterTable(cfg.MaxEntries),
		signUp:   newCounterTable(cfg.MaxEntries),
		sessions: newCounterTable(cfg.MaxEntries),
	}
}

// LimitKey is the address a limit counts: an IPv6 address by its /64,
// since one subscriber usually holds a whole /64 and could otherwise
// rotate through it to reset every per-address limit. IPv4 addresses, and
// anything that does not parse (a custom ClientIP), count as they are.
func LimitKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() || a.Is4In6() {
		return ip
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

func pairKey(email, ip string) string { return email + "\x00" + ip }

// peek reports, without counting anything, how long a guess at email
// from ip must wait.
func (l *limiter) peek(email, ip string, now time.Time) (time.Duration, bool) {
	if l.cfg.Disabled {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waitLocked(email, ip, now)
}

func (l *limiter) waitLocked(email, ip string, now time.Time) (time.Duration, bool) {
	var wait time.Duration
	if l.cfg.EmailFailures > 0 {
		wait = l.pair.locked(pairKey(email, ip), now)
	}
	if l.cfg.IPFailures > 0 {
		if w, over := l.ip.over(ip, l.cfg.IPFailures, l.cfg.Window, now); over && w > wait {
			wait = w
		}
	}
	return wait, wait == 0
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
	if wait, ok := l.waitLocked(email, ip, now); !ok {
		return wait, false
	}
	if l.cfg.EmailFailures > 0 {
		l.pair.fail(pairKey(email, ip), l.cfg, now)
	}
	if l.cfg.IPFailures > 0 {
		l.ip.add(ip, l.cfg.Window, now)
	}
	return 0, true
}

// succeeded takes back the attempt begin counted and forgets the pair's
// failures and lock-outs. The address's earlier failures stay: otherwise
// an attacker could reset their address's count by signing into an
// account of their own between guesses.
func (l *limiter) succeeded(email, ip string) {
	if l.cfg.Disabled {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.pair.m, pairKey(email, ip))
	if c, ok := l.ip.m[ip]; ok {
		if c.n <= 1 {
			delete(l.ip.m, ip)
		} else {
			c.n--
			l.ip.m[ip] = c
		}
	}
}

// allowSignUp counts a sign-up attempt from ip, or reports how long to
// wait when the address has used its quota.
func (l *limiter) allowSignUp(ip string, now time.Time) (time.Duration, bool) {
	if l.cfg.Disabled || l.cfg.SignUpsPerIP < 0 {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if w, over := l.signUp.over(ip, l.cfg.SignUpsPerIP, l.cfg.QuotaWindow, now); over {
		return w, false
	}
	l.signUp.add(ip, l.cfg.QuotaWindow, now)
	return 0, true
}

// sessionQuota reports how long userID must wait before opening another
// session, without counting one.
func (l *limiter) sessionQuota(userID string, now time.Time) (time.Duration, bool) {
	if l.cfg.Disabled || l.cfg.NewSessionsPerUser < 0 {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if w, over := l.sessions.over(userID, l.cfg.NewSessionsPerUser, l.cfg.QuotaWindow, now); over {
		return w, false
	}
	return 0, true
}

// sessionOpened counts a new session of userID.
func (l *limiter) sessionOpened(userID string, now time.Time) {
	if l.cfg.Disabled || l.cfg.NewSessionsPerUser < 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sessions.add(userID, l.cfg.QuotaWindow, now)
}

// size is the number of live entries in the sign-in tables (tests check
// the bound).
func (l *limiter) size() (pairs, ips int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pair.m), len(l.ip.m)
}

// lockout is one (email, address) pair's failures and back-off.
type lockout struct {
	start    time.Time // first failure of the current count
	n        int
	until    time.Time // locked out before this
	strikes  int       // lock-outs so far; the next lasts Window·2^strikes
	forgetAt time.Time // when the record, strikes included, may go
}

// lockTable is a size-bounded map of lockouts.
type lockTable struct {
	max int
	m   map[string]*lockout
}

// locked reports how long key is still locked out (0 if it is not).
func (t *lockTable) locked(key string, now time.Time) time.Duration {
	e, ok := t.m[key]
	if !ok {
		return 0
	}
	if !now.Before(e.forgetAt) {
		delete(t.m, key)
		return 0
	}
	if now.Before(e.until) {
		return e.until.Sub(now)
	}
	return 0
}

// fail counts a failure for key; reaching the limit starts a lock-out
// twice as long as the pair's previous one, up to MaxLockout.
func (t *lockTable) fail(key string, cfg Limits, now time.Time) {
	e, ok := t.m[key]
	if !ok {
		if len(t.m) >= t.max {
			t.evict(now)
		}
		e = &lockout{start: now}
		t.m[key] = e
	}
	if !now.Before(e.start.Add(cfg.Window)) {
		e.start, e.n = now, 0
	}
	e.n++
	e.forgetAt = e.start.Add(cfg.Window)
	if e.n >= cfg.EmailFailures {
		d := cfg.Window
		for i := 0; i < e.strikes && d < cfg.MaxLockout; i++ {
			d *= 2
		}
		d = min(d, cfg.MaxLockout)
		e.until = now.Add(d)
		e.strikes++
		e.start, e.n = now, 0
	}
	if e.strikes > 0 {
		e.forgetAt = e.until.Add(cfg.MaxLockout)
	}
}

// evict drops forgettable entries and, if the table is still full, the
// eighth that would be forgotten first, so that a full table costs one
// sort per max/8 new keys rather than a scan per key.
func (t *lockTable) evict(now time.Time) {
	evictBounded(t.m, t.max, now, func(e *lockout) time.Time { return e.forgetAt })
}

// evictBounded deletes the entries of m whose end (when they may be
// forgotten) has come and, if m still holds bound or more, the ones that
// end first: evictCount of them.
func evictBounded[V any](m map[string]V, bound int, now time.Time, end func(V) time.Time) {
	for k, v := range m {
		if !now.Before(end(v)) {
			delete(m, k)
		}
	}
	if len(m) < bound {
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return end(m[a]).Compare(end(m[b])) })
	for _, k := range keys[:evictCount(bound, len(m))] {
		delete(m, k)
	}
}

// evictCount is how many entries a full table of bound max drops at once.
func evictCount(bound, have int) int {
	return min(have, max(1, bound/8)+have-bound)
}

type counter struct {
	start time.Time // first event of the current window
	n     int
}

// counterTable is a size-bounded map of fixed-window counters.
type counterTable struct {
	max int
	m   map[string]counter
}

func newCounterTable(max int) *counterTable {
	return &counterTable{max: max, m: make(map[string]counter)}
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

// evict drops expired counters and, if the table is still full, the
// oldest eighth. Memory stays bounded; the price is that a flood of fresh
// keys can make the limiter forget the oldest counts early.
func (t *counterTable) evict(window time.Duration, now time.Time) {
	evictBounded(t.m, t.max, now, func(c counter) time.Time { return c.start.Add(window) })
}
