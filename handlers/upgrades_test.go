package handlers

import (
	"fmt"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/internal/testenv/fixture"
)

// TestUpgradeLimiter: perMinute upgrades at once, then one every
// 60/perMinute seconds, with the wait until the next as Retry-After; keys
// are independent, 0 is no limit, and refilled keys are forgotten.
func TestUpgradeLimiter(t *testing.T) {
	const perMinute = 6
	clock := fixture.NewClock(time.Time{})
	l := newUpgradeLimiter(perMinute)
	l.now = clock.Now
	for i := 0; i < perMinute; i++ {
		if _, ok := l.take("u"); !ok {
			t.Fatalf("upgrade %d of the burst refused", i)
		}
	}
	wait, ok := l.take("u")
	if ok || wait != 10*time.Second || retryAfterSeconds(wait) != 10 {
		t.Fatalf("over the burst: ok=%v wait=%v", ok, wait)
	}
	if _, ok := l.take("v"); !ok {
		t.Fatal("another key refused")
	}
	clock.Advance(4 * time.Second)
	if wait, ok := l.take("u"); ok || wait != 6*time.Second {
		t.Fatalf("4s later: ok=%v wait=%v", ok, wait)
	}
	clock.Advance(6 * time.Second)
	if _, ok := l.take("u"); !ok {
		t.Fatal("refilled token refused")
	}
	if _, ok := l.take("u"); ok {
		t.Fatal("one token refilled, two taken")
	}
	for i := 0; i < 1000; i++ {
		if _, ok := newUpgradeLimiter(0).take("u"); !ok {
			t.Fatal("0 limited")
		}
	}

	// The table forgets keys that have refilled.
	for i := 0; i < minPrune; i++ {
		l.take(fmt.Sprint("k", i))
	}
	if n := len(l.buckets); n < minPrune {
		t.Fatalf("%d buckets, want the %d keys taken within the minute", n, minPrune)
	}
	clock.Advance(time.Minute)
	l.prune(clock.Now())
	if n := len(l.buckets); n != 0 || l.nextPrune != minPrune {
		t.Fatalf("%d buckets after a minute (next prune at %d), want none", n, l.nextPrune)
	}
}
