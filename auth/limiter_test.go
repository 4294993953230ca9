package auth

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// signInFrom attempts a sign-in from ip.
func (f *fixture) signInFrom(ip, email, password string) error {
	r := req("POST", "/")
	r.RemoteAddr = ip + ":1234"
	_, err := f.svc.SignIn(r, SignInInput{Email: email, Password: password})
	return err
}

func TestBruteForcePerEmail(t *testing.T) {
	f := newFixture(t, nil, func(c *Config) {
		c.Limits = Limits{EmailFailures: 3, IPFailures: 100, Window: 10 * time.Minute}
	})
	f.signUp(t, "ann@example.com", "password123")
	// Failures spread over many addresses still count against the email.
	for i := 0; i < 3; i++ {
		if err := f.signInFrom(fmt.Sprintf("198.51.100.%d", i), "ann@example.com", "wrong-password"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	f.clock.Advance(time.Minute)
	err := f.signInFrom("198.51.100.99", "ann@example.com", "password123")
	var rl *RateLimitError
	if !errors.As(err, &rl) || !errors.Is(err, ErrTooManyRequests) {
		t.Fatalf("4th attempt (even with the right password): %v", err)
	}
	if rl.RetryAfter != 9*time.Minute {
		t.Fatalf("RetryAfter = %v, want 9m (window end)", rl.RetryAfter)
	}
	// Another email is unaffected.
	if err := f.signInFrom("198.51.100.99", "bob@example.com", "whatever-pw"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("other email: %v", err)
	}
	// When the window ends, the right password works again.
	f.clock.Advance(9 * time.Minute)
	if err := f.signInFrom("198.51.100.99", "ann@example.com", "password123"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestBruteForcePerIP(t *testing.T) {
	f := newFixture(t, nil, func(c *Config) {
		c.Limits = Limits{EmailFailures: 100, IPFailures: 4, Window: time.Minute}
	})
	f.signUp(t, "ann@example.com", "password123")
	// Spraying different emails from one address.
	for i := 0; i < 4; i++ {
		if err := f.signInFrom("203.0.113.7", fmt.Sprintf("user%d@example.com", i), "password123"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if err := f.signInFrom("203.0.113.7", "ann@example.com", "password123"); !errors.Is(err, ErrTooManyRequests) {
		t.Fatalf("5th attempt from the address: %v", err)
	}
	// The account itself is fine from elsewhere.
	if err := f.signInFrom("203.0.113.8", "ann@example.com", "password123"); err != nil {
		t.Fatalf("other address: %v", err)
	}
	f.clock.Advance(time.Minute)
	if err := f.signInFrom("203.0.113.7", "ann@example.com", "password123"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// TestBruteForceSuccessResetsEmailOnly: a correct password forgets the
// email's failures but not the address's, or an attacker could reset
// their address by signing into their own account between guesses.
func TestBruteForceSuccessResetsEmailOnly(t *testing.T) {
	f := newFixture(t, nil, func(c *Config) {
		c.Limits = Limits{EmailFailures: 3, IPFailures: 5, Window: time.Hour}
	})
	f.signUp(t, "ann@example.com", "password123")
	f.signUp(t, "mallory@example.com", "password123")
	const ip = "192.0.2.50"
	for round := 0; round < 2; round++ {
		victim := fmt.Sprintf("victim%d@example.com", round)
		for i := 0; i < 2; i++ {
			if err := f.signInFrom(ip, victim, "wrong-password"); !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("round %d attempt %d: %v", round, i, err)
			}
		}
		if err := f.signInFrom(ip, "mallory@example.com", "password123"); err != nil {
			t.Fatalf("round %d own account: %v", round, err)
		}
	}
	// Four failures from ip so far; a fifth is allowed, then nothing is.
	if err := f.signInFrom(ip, "victim2@example.com", "wrong-password"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("5th failure: %v", err)
	}
	if err := f.signInFrom(ip, "mallory@example.com", "password123"); !errors.Is(err, ErrTooManyRequests) {
		t.Fatalf("address limit was reset by successful sign-ins: %v", err)
	}
	// Two failures for ann, then her success resets her count: two more
	// failures do not reach her limit of three.
	const home = "192.0.2.60"
	for i := 0; i < 2; i++ {
		if err := f.signInFrom(home, "ann@example.com", "wrong-password"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatal(err)
		}
	}
	if err := f.signInFrom(home, "ann@example.com", "password123"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := f.signInFrom(home, "ann@example.com", "wrong-password"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("after reset, failure %d: %v", i, err)
		}
	}
	if err := f.signInFrom(home, "ann@example.com", "password123"); err != nil {
		t.Fatalf("email count was not reset by success: %v", err)
	}
}

// TestBruteForceConcurrentGuesses: a burst of parallel guesses cannot get
// more attempts through than the limit.
func TestBruteForceConcurrentGuesses(t *testing.T) {
	f := newFixture(t, nil, func(c *Config) {
		c.Limits = Limits{EmailFailures: 5, IPFailures: 1000, Window: time.Hour}
	})
	f.signUp(t, "ann@example.com", "password123")
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[string]int{}
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := f.signInFrom(fmt.Sprintf("10.0.%d.%d", i/200, i%200), "ann@example.com", "wrong-password")
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
		}(i)
	}
	wg.Wait()
	if counts["checked"] != 5 || counts["limited"] != 45 {
		t.Fatalf("outcomes %v, want 5 checked and 45 limited", counts)
	}
}

func TestLimiterBounded(t *testing.T) {
	l := newLimiter(Limits{EmailFailures: 3, IPFailures: 3, Window: time.Hour, MaxEntries: 100})
	now := time.Unix(1000, 0)
	for i := 0; i < 1000; i++ {
		l.begin(fmt.Sprintf("u%d@example.com", i), fmt.Sprintf("10.0.%d.%d", i/256, i%256), now.Add(time.Duration(i)*time.Millisecond))
	}
	if e, ip := l.size(); e > 100 || ip > 100 {
		t.Fatalf("limiter holds %d emails and %d addresses, bound 100", e, ip)
	}
	// The newest entries survive eviction.
	for i := 0; i < 2; i++ {
		l.begin("u999@example.com", "198.18.0.1", now.Add(time.Second))
	}
	if _, ok := l.begin("u999@example.com", "198.18.0.1", now.Add(time.Second)); ok {
		t.Fatal("newest key was evicted")
	}
}

func TestLimiterDisabled(t *testing.T) {
	f := newFixture(t, nil, func(c *Config) { c.Limits = Limits{Disabled: true, EmailFailures: 1} })
	for i := 0; i < 5; i++ {
		if err := f.signInFrom("192.0.2.1", "ann@example.com", "wrong-password"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
}

func TestClientIPOverride(t *testing.T) {
	f := newFixture(t, nil, func(c *Config) {
		c.Limits = Limits{EmailFailures: 100, IPFailures: 1, Window: time.Hour}
		c.ClientIP = func(r *http.Request) string { return r.Header.Get("X-Real-Ip") }
	})
	r := func(ip string) error {
		rq := req("POST", "/", "X-Real-Ip: "+ip)
		_, err := f.svc.SignIn(rq, SignInInput{Email: "x@example.com", Password: "password123"})
		return err
	}
	if err := r("1.1.1.1"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatal(err)
	}
	if err := r("1.1.1.1"); !errors.Is(err, ErrTooManyRequests) {
		t.Fatalf("same proxy-reported client: %v", err)
	}
	if err := r("2.2.2.2"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("other proxy-reported client: %v", err)
	}
}
