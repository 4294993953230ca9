package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/scrypt"

	"github.com/wasmchannel/wasmchannel/chat"
)

// Every threshold below comes from DefaultLimits, the production setting.

// signInFrom attempts a sign-in from ip.
func (f *authFixture) signInFrom(ip, email, password string) error {
	_, err := f.svc.SignIn(reqFrom(ip), SignInInput{Email: email, Password: password})
	return err
}

// reqFrom is a POST from ip.
func reqFrom(ip string) *http.Request {
	r := req("POST", "/")
	r.RemoteAddr = ip + ":1234"
	return r
}

// wantRetryAfter checks that err is a *RateLimitError asking for want.
func wantRetryAfter(t *testing.T, err error, want time.Duration) {
	t.Helper()
	var rl *RateLimitError
	if !errors.As(err, &rl) || !errors.Is(err, ErrTooManyRequests) {
		t.Fatalf("want a rate-limit error, got %v", err)
	}
	if rl.RetryAfter != want {
		t.Fatalf("RetryAfter = %v, want %v", rl.RetryAfter, want)
	}
}

// TestLockoutKeyedByEmailAndAddress: a stranger's wrong guesses lock the
// stranger's (email, address) pair, never the owner signing in from
// elsewhere (issue 15, finding 6).
func TestLockoutKeyedByEmailAndAddress(t *testing.T) {
	lim := DefaultLimits()
	f := newFixture(t, nil, nil)
	f.signUp(t, "ann@example.com", "password123")
	const stranger, owner = "198.51.100.7", "203.0.113.9"
	for i := 0; i < lim.EmailFailures; i++ {
		if err := f.signInFrom(stranger, "ann@example.com", "wrong-password"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	f.clock.Advance(time.Minute)
	// Even the right password is refused from the stranger's address: the
	// guesser learns nothing.
	wantRetryAfter(t, f.signInFrom(stranger, "ann@example.com", "password123"), lim.Window-time.Minute)
	if err := f.signInFrom(owner, "ann@example.com", "password123"); err != nil {
		t.Fatalf("the owner from another address is locked out: %v", err)
	}
	// Another email from the stranger's address is a different pair.
	if err := f.signInFrom(stranger, "bob@example.com", "wrong-password"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("other email: %v", err)
	}
	f.clock.Advance(lim.Window - time.Minute)
	if err := f.signInFrom(stranger, "ann@example.com", "password123"); err != nil {
		t.Fatalf("after the lock-out: %v", err)
	}
}

// TestLockoutBacksOff: each further lock-out of a pair lasts twice the one
// before, up to MaxLockout; a success forgets the pair's history.
func TestLockoutBacksOff(t *testing.T) {
	lim := DefaultLimits()
	f := newFixture(t, nil, nil)
	f.signUp(t, "ann@example.com", "password123")
	const ip = "198.51.100.7"
	lockOut := func() {
		t.Helper()
		for i := 0; i < lim.EmailFailures; i++ {
			if err := f.signInFrom(ip, "ann@example.com", "wrong-password"); !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("guess %d: %v", i, err)
			}
		}
	}
	want := lim.Window
	for strike := 0; want < lim.MaxLockout || strike < 2; strike++ {
		lockOut()
		wantRetryAfter(t, f.signInFrom(ip, "ann@example.com", "password123"), want)
		f.clock.Advance(want)
		want = min(2*want, lim.MaxLockout)
	}
	lockOut()
	wantRetryAfter(t, f.signInFrom(ip, "ann@example.com", "password123"), lim.MaxLockout)
	f.clock.Advance(lim.MaxLockout)
	if err := f.signInFrom(ip, "ann@example.com", "password123"); err != nil {
		t.Fatal(err)
	}
	lockOut()
	wantRetryAfter(t, f.signInFrom(ip, "ann@example.com", "password123"), lim.Window)
}

func TestBruteForcePerIP(t *testing.T) {
	lim := DefaultLimits()
	f := newFixture(t, nil, nil)
	f.signUp(t, "ann@example.com", "password123")
	const sprayer = "203.0.113.7"
	// Spraying different emails from one address.
	for i := 0; i < lim.IPFailures; i++ {
		if err := f.signInFrom(sprayer, fmt.Sprintf("user%d@example.com", i), "password123"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	wantRetryAfter(t, f.signInFrom(sprayer, "ann@example.com", "password123"), lim.Window)
	if err := f.signInFrom("203.0.113.8", "ann@example.com", "password123"); err != nil {
		t.Fatalf("other address: %v", err)
	}
	f.clock.Advance(lim.Window)
	if err := f.signInFrom(sprayer, "ann@example.com", "password123"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// TestBruteForceSuccessResetsPairOnly: a correct password forgets the
// pair's failures but not the address's, or an attacker could reset their
// address by signing into their own account between guesses.
func TestBruteForceSuccessResetsPairOnly(t *testing.T) {
	lim := DefaultLimits()
	f := newFixture(t, nil, nil)
	f.signUp(t, "ann@example.com", "password123")
	f.signUp(t, "mallory@example.com", "password123")
	const ip = "192.0.2.50"
	for i := 0; i < lim.IPFailures; i++ {
		if err := f.signInFrom(ip, fmt.Sprintf("victim%d@example.com", i), "wrong-password"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("failure %d: %v", i, err)
		}
		if i < lim.IPFailures-1 {
			if err := f.signInFrom(ip, "mallory@example.com", "password123"); err != nil {
				t.Fatalf("own account after failure %d: %v", i, err)
			}
		}
	}
	if err := f.signInFrom(ip, "mallory@example.com", "password123"); !errors.Is(err, ErrTooManyRequests) {
		t.Fatalf("address limit was reset by successful sign-ins: %v", err)
	}
	// The owner's success forgets her failures: twice she stops one short
	// of the limit, and is never locked out.
	const home = "192.0.2.60"
	for round := 0; round < 2; round++ {
		for i := 0; i < lim.EmailFailures-1; i++ {
			if err := f.signInFrom(home, "ann@example.com", "wrong-password"); !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("round %d failure %d: %v", round, i, err)
			}
		}
		if err := f.signInFrom(home, "ann@example.com", "password123"); err != nil {
			t.Fatalf("round %d: pair count was not reset by success: %v", round, err)
		}
	}
}

// TestBruteForceConcurrentGuesses: a burst of parallel guesses from one
// address cannot get more attempts checked than the limit.
func TestBruteForceConcurrentGuesses(t *testing.T) {
	lim := DefaultLimits()
	f := newFixture(t, nil, nil)
	f.signUp(t, "ann@example.com", "password123")
	n := 4 * lim.EmailFailures
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := f.signInFrom("10.0.0.1", "ann@example.com", "wrong-password")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, ErrInvalidCredentials):
				counts["checked"]++
			case errors.Is(err, ErrTooManyRequests):
				counts["limited"]++
			default:
				counts[fmt.Sprint(err)]++
			}
		}()
	}
	wg.Wait()
	if counts["checked"] != lim.EmailFailures || counts["limited"] != n-lim.EmailFailures {
		t.Fatalf("outcomes %v, want %d checked and %d limited", counts, lim.EmailFailures, n-lim.EmailFailures)
	}
}

func TestLimiterBounded(t *testing.T) {
	lim := DefaultLimits()
	l := newLimiter(lim)
	now := time.Unix(1000, 0)
	var lastEmail, lastIP string
	for i := 0; i < 2*lim.MaxEntries; i++ {
		lastEmail, lastIP = fmt.Sprintf("u%d@example.com", i), fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255)
		l.begin(lastEmail, lastIP, now.Add(time.Duration(i)*time.Millisecond))
	}
	if pairs, ips := l.size(); pairs > lim.MaxEntries || ips > lim.MaxEntries {
		t.Fatalf("limiter holds %d pairs and %d addresses, bound %d", pairs, ips, lim.MaxEntries)
	}
	// The newest entry survived eviction: its count goes on.
	at := now.Add(time.Duration(2*lim.MaxEntries) * time.Millisecond)
	for i := 1; i < lim.EmailFailures; i++ {
		if _, ok := l.begin(lastEmail, lastIP, at); !ok {
			t.Fatalf("attempt %d refused early", i+1)
		}
	}
	if _, ok := l.begin(lastEmail, lastIP, at); ok {
		t.Fatal("newest pair was evicted")
	}
}

func TestLimiterDisabled(t *testing.T) {
	lim := DefaultLimits()
	f := newFixture(t, nil, func(c *Config) { c.Limits = Limits{Disabled: true} })
	for i := 0; i <= lim.EmailFailures+lim.IPFailures; i++ {
		if err := f.signInFrom("192.0.2.1", "ann@example.com", "wrong-password"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
}

// TestLimitsOff: Off turns off one limit and leaves the others at their
// defaults (bench load turns off the quotas, never the lock-out).
func TestLimitsOff(t *testing.T) {
	lim := DefaultLimits()
	f := newFixture(t, nil, func(c *Config) {
		c.Limits = Limits{SignUpsPerIP: Off, NewSessionsPerUser: Off}
	})
	const ip = "198.51.100.30"
	for i := 0; i <= lim.SignUpsPerIP; i++ {
		if _, err := f.svc.SignUp(reqFrom(ip), SignUpInput{Name: "x", Email: fmt.Sprintf("off%d@example.com", i), Password: "password123"}); err != nil {
			t.Fatalf("sign-up %d with the quota off: %v", i, err)
		}
	}
	for i := 0; i < lim.NewSessionsPerUser; i++ {
		f.signIn(t, ip, "off0@example.com", "password123")
	}
	for i := 0; i < lim.EmailFailures; i++ {
		if err := f.signInFrom(ip, "off1@example.com", "wrong-password"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if err := f.signInFrom(ip, "off1@example.com", "password123"); !errors.Is(err, ErrTooManyRequests) {
		t.Fatalf("the lock-out stays on: %v", err)
	}
}

func TestClientIPOverride(t *testing.T) {
	lim := DefaultLimits()
	f := newFixture(t, nil, func(c *Config) {
		c.ClientIP = func(r *http.Request) string { return r.Header.Get("X-Real-Ip") }
	})
	try := func(ip string, i int) error {
		rq := req("POST", "/", "X-Real-Ip: "+ip)
		_, err := f.svc.SignIn(rq, SignInInput{Email: fmt.Sprintf("x%d@example.com", i), Password: "password123"})
		return err
	}
	for i := 0; i < lim.IPFailures; i++ {
		if err := try("1.1.1.1", i); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatal(err)
		}
	}
	if err := try("1.1.1.1", 0); !errors.Is(err, ErrTooManyRequests) {
		t.Fatalf("same proxy-reported client: %v", err)
	}
	if err := try("2.2.2.2", 0); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("other proxy-reported client: %v", err)
	}
}

// TestSignUpQuotaPerAddress: one address gets SignUpsPerIP sign-ups per
// QuotaWindow; the refused one creates nothing, and earlier ones stay.
func TestSignUpQuotaPerAddress(t *testing.T) {
	lim := DefaultLimits()
	f := newFixture(t, nil, nil)
	ctx := context.Background()
	signUp := func(ip string, i int) error {
		_, err := f.svc.SignUp(reqFrom(ip), SignUpInput{Name: "x", Email: fmt.Sprintf("u%d@example.com", i), Password: "password123"})
		return err
	}
	const ip = "198.51.100.20"
	for i := 0; i < lim.SignUpsPerIP; i++ {
		if err := signUp(ip, i); err != nil {
			t.Fatalf("sign-up %d: %v", i, err)
		}
	}
	f.clock.Advance(time.Minute)
	wantRetryAfter(t, signUp(ip, lim.SignUpsPerIP), lim.QuotaWindow-time.Minute)
	if _, _, err := f.store.UserByEmail(ctx, fmt.Sprintf("u%d@example.com", lim.SignUpsPerIP)); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("refused sign-up left a user behind: %v", err)
	}
	for i := 0; i < lim.SignUpsPerIP; i++ {
		if _, _, err := f.store.UserByEmail(ctx, fmt.Sprintf("u%d@example.com", i)); err != nil {
			t.Fatalf("user %d lost: %v", i, err)
		}
	}
	if err := signUp("198.51.100.21", lim.SignUpsPerIP); err != nil {
		t.Fatalf("another address: %v", err)
	}
	f.clock.Advance(lim.QuotaWindow)
	if err := signUp(ip, lim.SignUpsPerIP+1); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// TestNewSessionQuota: successful sign-ins count towards the account's
// quota of new sessions; past it, sign-in is refused before any hashing
// and opens nothing, and the sessions already open keep working (issue 15,
// finding 2).
func TestNewSessionQuota(t *testing.T) {
	lim := DefaultLimits()
	f := newFixture(t, nil, nil)
	first := f.signUp(t, "ann@example.com", "password123") // the first session
	for i := 1; i < lim.NewSessionsPerUser; i++ {
		if err := f.signInFrom(fmt.Sprintf("10.1.0.%d", i%250), "ann@example.com", "password123"); err != nil {
			t.Fatalf("sign-in %d: %v", i, err)
		}
	}
	var hashes atomic.Int64
	deriveKey = func(pw, salt []byte, N, r, p, keyLen int) ([]byte, error) {
		hashes.Add(1)
		return scrypt.Key(pw, salt, N, r, p, keyLen)
	}
	t.Cleanup(func() { deriveKey = scrypt.Key })
	f.clock.Advance(time.Minute)
	wantRetryAfter(t, f.signInFrom("10.2.0.1", "ann@example.com", "password123"), lim.QuotaWindow-time.Minute)
	if n := hashes.Load(); n != 0 {
		t.Fatalf("a refused sign-in ran scrypt %d times", n)
	}
	if n := len(sessionRows(t, f.store)); n != lim.NewSessionsPerUser {
		t.Fatalf("%d sessions stored, want %d", n, lim.NewSessionsPerUser)
	}
	if _, err := f.svc.Authenticate(req("GET", "/", f.cookieHeader(first.Token))); err != nil {
		t.Fatalf("an open session stopped working: %v", err)
	}
	// Another account is unaffected.
	f.signUp(t, "bob@example.com", "password123")
	f.clock.Advance(lim.QuotaWindow)
	if err := f.signInFrom("10.2.0.1", "ann@example.com", "password123"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// TestLimitKeyIPv6Prefix: addresses of one IPv6 /64 share their limits;
// IPv4 addresses and other /64s do not.
func TestLimitKeyIPv6Prefix(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9", true},
		{"2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"fe80::1%eth0", "fe80::2", true},
		{"192.0.2.1", "192.0.2.2", false},
		{"::ffff:192.0.2.1", "::ffff:192.0.2.2", false},
		{"not-an-ip", "not-an-ip", true},
	} {
		if got := LimitKey(tc.a) == LimitKey(tc.b); got != tc.same {
			t.Errorf("LimitKey(%q)=%q, LimitKey(%q)=%q; same=%v, want %v", tc.a, LimitKey(tc.a), tc.b, LimitKey(tc.b), got, tc.same)
		}
	}
	lim := DefaultLimits()
	f := newFixture(t, nil, nil)
	for i := 0; i < lim.SignUpsPerIP; i++ {
		r := req("POST", "/")
		r.RemoteAddr = fmt.Sprintf("[2001:db8:1:2::%x]:1234", i+1)
		if _, err := f.svc.SignUp(r, SignUpInput{Name: "x", Email: fmt.Sprintf("v6-%d@example.com", i), Password: "password123"}); err != nil {
			t.Fatalf("sign-up %d: %v", i, err)
		}
	}
	r := req("POST", "/")
	r.RemoteAddr = "[2001:db8:1:2:dead::beef]:1234"
	_, err := f.svc.SignUp(r, SignUpInput{Name: "x", Email: "v6-last@example.com", Password: "password123"})
	if !errors.Is(err, ErrTooManyRequests) {
		t.Fatalf("another address of the same /64: %v", err)
	}
}
