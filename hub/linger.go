package hub

import (
	"sync/atomic"
	"time"
)

// Busy sockets keep their writer goroutine between frames; the others do
// not. A new writer starts on a 2 KB stack and grows it on its way down to
// writev: at issue 17's row 4 (a frame every 5 ms to each of 1,000
// sockets) that growth, with the goroutine's start and exit, was 14% of
// server CPU, more than parking and waking one costs. So a socket whose
// writer started lingerAfter times within one lingerPeriod lets it park
// when the queue empties, and a tick ends it after a whole period without
// a write. Below that rate the starts cost little, and a socket that gets
// frames now and then (an idle one, bench load --idle, or one in a room
// whose members join: OnlineUsers comes at most every 25 ms) holds no
// writer between them.
const (
	lingerPeriod = time.Second
	lingerAfter  = 64
)

// lingerClock ends parked writers: each tick closes the channel they wait
// on. Its goroutine runs only while writers park, and stops after a period
// in which none did.
type lingerClock struct {
	period time.Duration
	after  int // writer starts within one period before a writer parks

	epoch   atomic.Uint32
	ch      atomic.Pointer[chan struct{}]
	parked  atomic.Bool // a writer parked since the last tick
	running atomic.Bool
}

func newLingerClock(period time.Duration, after int) *lingerClock {
	k := &lingerClock{period: period, after: after}
	ch := make(chan struct{})
	k.ch.Store(&ch)
	return k
}

// park returns the channel that closes at the next tick, starting the
// clock if it is stopped.
func (k *lingerClock) park() <-chan struct{} {
	ch := *k.ch.Load()
	if !k.parked.Load() { // a load is cheaper than a store on a shared line
		k.parked.Store(true)
	}
	if !k.running.Load() && k.running.CompareAndSwap(false, true) {
		go k.run()
	}
	return ch
}

func (k *lingerClock) run() {
	t := time.NewTicker(k.period)
	defer t.Stop()
	for range t.C {
		k.tick()
		if k.parked.Swap(false) {
			continue
		}
		// Stop, unless a writer parked after the swap: it stored parked
		// before reading running, and this reads parked after storing
		// running, so one of the two sees the other.
		k.running.Store(false)
		if !k.parked.Load() || !k.running.CompareAndSwap(false, true) {
			return
		}
	}
}

// tick wakes every parked writer and starts a new period.
func (k *lingerClock) tick() {
	next := make(chan struct{})
	prev := k.ch.Swap(&next)
	k.epoch.Add(1)
	close(*prev)
}
