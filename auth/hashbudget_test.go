package auth

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/scrypt"

	"github.com/wasmchannel/wasmchannel/chat"
)

// gateHashes makes every scrypt run wait for release and do only a cheap
// hash, so a test can hold the budget at production cost without spending
// its memory. started receives one value per run.
func gateHashes(t *testing.T) (started chan struct{}, release func()) {
	started = make(chan struct{}, 1024)
	gate := make(chan struct{})
	deriveKey = func(pw, salt []byte, N, r, p, keyLen int) ([]byte, error) {
		started <- struct{}{}
		<-gate
		return scrypt.Key(pw, salt, 16, 1, 1, keyLen)
	}
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(func() { release(); deriveKey = scrypt.Key })
	return started, release
}

// waitFor polls cond until it holds or a few seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHashBudget: at Better Auth's cost and the default budget, as many
// hashes run at once as fit in the budget whatever GOMAXPROCS is, up to
// HashQueue more wait, and the next sign-up gets ErrBusy at once and
// stores nothing. Every queued sign-up completes (issue 15, finding 2).
func TestHashBudget(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(16))
	def := DefaultConfig()
	f := newFixture(t, nil, func(c *Config) {
		c.Scrypt = def.Scrypt
		c.HashWait = time.Minute // this test releases the queue itself
	})
	started, release := gateHashes(t)
	slots := int(def.HashMemory / def.Scrypt.Memory())
	if slots < 1 {
		t.Fatalf("default budget %d B holds no hash of %d B", def.HashMemory, def.Scrypt.Memory())
	}
	signUp := func(i int) error {
		r := reqFrom(fmt.Sprintf("10.9.%d.%d", i/250, i%250))
		_, err := f.svc.SignUp(r, SignUpInput{Name: "x", Email: fmt.Sprintf("u%d@example.com", i), Password: "password123"})
		return err
	}
	n := slots + def.HashQueue
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() { errs <- signUp(i) }()
	}
	waitFor(t, "the budget to fill and the queue to form", func() bool {
		used, _, queued := f.svc.hashes.stats()
		return used == int64(slots)*def.Scrypt.Memory() && queued == def.HashQueue
	})
	if got := len(started); got != slots {
		t.Fatalf("%d hashes running, want %d", got, slots)
	}
	begin := time.Now()
	err := signUp(n)
	var busy *BusyError
	if !errors.As(err, &busy) || !errors.Is(err, ErrBusy) || busy.RetryAfter != def.BusyRetryAfter {
		t.Fatalf("sign-up past the queue: %v, want ErrBusy with Retry-After %v", err, def.BusyRetryAfter)
	}
	if d := time.Since(begin); d > time.Second {
		t.Fatalf("the refusal took %v; it must not wait", d)
	}
	if _, _, err := f.store.UserByEmail(context.Background(), fmt.Sprintf("u%d@example.com", n)); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("refused sign-up stored a user: %v", err)
	}
	release()
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("queued sign-up failed: %v", err)
		}
	}
	for i := 0; i < n; i++ {
		if _, _, err := f.store.UserByEmail(context.Background(), fmt.Sprintf("u%d@example.com", i)); err != nil {
			t.Fatalf("user %d lost: %v", i, err)
		}
	}
	used, peak, queued := f.svc.hashes.stats()
	if used != 0 || queued != 0 || peak > def.HashMemory {
		t.Fatalf("after the burst: used %d, queued %d, peak %d (budget %d)", used, queued, peak, def.HashMemory)
	}
	// The refused client retries and gets in.
	if err := signUp(n); err != nil {
		t.Fatalf("retry: %v", err)
	}
}

// TestHashBudgetWaitEnds: a hash queued longer than HashWait gives ErrBusy
// and leaves the queue; one whose request ends leaves it too.
func TestHashBudgetWaitEnds(t *testing.T) {
	def := DefaultConfig()
	b := newHashBudget(def.HashMemory, def.HashQueue, 20*time.Millisecond, def.BusyRetryAfter)
	ctx := context.Background()
	held, err := b.acquire(ctx, def.HashMemory)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.acquire(ctx, def.Scrypt.Memory()); !errors.Is(err, ErrBusy) {
		t.Fatalf("wait past HashWait: %v, want ErrBusy", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		waitFor(t, "the waiter", func() bool { _, _, q := b.stats(); return q == 1 })
		cancel()
	}()
	if _, err := b.acquire(cctx, def.Scrypt.Memory()); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	if _, _, q := b.stats(); q != 0 {
		t.Fatalf("%d waiters left in the queue", q)
	}
	b.release(held)
	if n, err := b.acquire(ctx, def.Scrypt.Memory()); err != nil {
		t.Fatal(err)
	} else {
		b.release(n)
	}
}

// TestHashBudgetOversized: a stored hash costlier than the whole budget
// runs alone instead of never.
func TestHashBudgetOversized(t *testing.T) {
	def := DefaultConfig()
	b := newHashBudget(def.HashMemory, def.HashQueue, def.HashWait, def.BusyRetryAfter)
	n, err := b.acquire(context.Background(), 4*def.HashMemory)
	if err != nil || n != def.HashMemory {
		t.Fatalf("oversized hash: took %d, %v", n, err)
	}
	done := make(chan int64)
	go func() {
		m, _ := b.acquire(context.Background(), def.Scrypt.Memory())
		done <- m
	}()
	waitFor(t, "the next hash to queue", func() bool { _, _, q := b.stats(); return q == 1 })
	b.release(n)
	b.release(<-done)
	if used, peak, _ := b.stats(); used != 0 || peak > def.HashMemory {
		t.Fatalf("used %d, peak %d", used, peak)
	}
}

// TestVerifyChargesStoredCost: a sign-in is charged the memory of the cost
// its stored hash was made with, not the current cost.
func TestVerifyChargesStoredCost(t *testing.T) {
	def := DefaultConfig()
	f := newFixture(t, nil, nil) // new hashes at TestScrypt
	f.svc.SignUp(req("POST", "/"), SignUpInput{Name: "x", Email: "ann@example.com", Password: "password123"})
	h, err := HashPassword("password123", def.Scrypt)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.SetPassword(context.Background(), mustUser(t, f, "ann@example.com").ID, h, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	started, release := gateHashes(t)
	done := make(chan error, 1)
	go func() { done <- f.signInFrom("192.0.2.9", "ann@example.com", "password123") }()
	<-started
	if used, _, _ := f.svc.hashes.stats(); used != def.Scrypt.Memory() {
		t.Fatalf("charged %d B, want %d", used, def.Scrypt.Memory())
	}
	release()
	if err := <-done; err != nil && !errors.Is(err, ErrInvalidCredentials) {
		t.Fatal(err)
	}
}

func mustUser(t *testing.T, f *authFixture, email string) chat.User {
	t.Helper()
	u, _, err := f.store.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestBusyCostsNoAttempt: a sign-in refused with ErrBusy was never checked,
// so it does not count towards the lock-out of its (email, address).
func TestBusyCostsNoAttempt(t *testing.T) {
	lim, def := DefaultLimits(), DefaultConfig()
	f := newFixture(t, nil, func(c *Config) { c.HashWait = 10 * time.Millisecond })
	f.signUp(t, "ann@example.com", "password123")
	held, err := f.svc.hashes.acquire(context.Background(), def.HashMemory)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= lim.EmailFailures; i++ {
		if err := f.signInFrom("192.0.2.7", "ann@example.com", "password123"); !errors.Is(err, ErrBusy) {
			t.Fatalf("attempt %d with the budget held: %v, want ErrBusy", i, err)
		}
	}
	f.svc.hashes.release(held)
	if err := f.signInFrom("192.0.2.7", "ann@example.com", "password123"); err != nil {
		t.Fatalf("after the busy spell: %v", err)
	}
}
