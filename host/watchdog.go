package host

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// The call deadline of instrumented modules (see instrument) is kept by one
// watchdog goroutine per pool rather than a timer per call: a call stores
// the watchdog's tick count when it starts and clears it when it returns
// (two atomic stores), and the watchdog, ticking four times per CallTimeout,
// interrupts any call that has been running for five ticks. A call is thus
// stopped between 1 and 1.25 CallTimeouts after it started. Arming a
// time.Timer per call instead cost about 0.7 µs a call, since starting an
// earlier timer wakes the runtime's poller.

// deadlineTicks is how many ticks a call may span; ticks are CallTimeout/4
// apart, so a call is interrupted after 4 to 5 quarter-timeouts.
const deadlineTicks = 5

// interrupted marks a call the watchdog has stopped.
const interrupted = math.MaxUint64

// watchdog interrupts calls that pass their deadline.
type watchdog struct {
	period time.Duration
	tick   atomic.Uint64 // starts at 1: a call start of 0 means "not in a call"

	mu        sync.Mutex
	instances map[*instance]struct{}

	stop chan struct{}
	done chan struct{}
}

func newWatchdog(timeout time.Duration) *watchdog {
	w := &watchdog{
		period:    max(timeout/(deadlineTicks-1), time.Millisecond),
		instances: map[*instance]struct{}{},
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	w.tick.Store(1)
	go w.run()
	return w
}

func (w *watchdog) run() {
	defer close(w.done)
	t := time.NewTicker(w.period)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		now := w.tick.Add(1)
		w.mu.Lock()
		for in := range w.instances {
			if s := in.callStart.Load(); s != 0 && s != interrupted && now-s >= deadlineTicks {
				in.interrupt(s)
			}
		}
		w.mu.Unlock()
	}
}

func (w *watchdog) add(in *instance) {
	w.mu.Lock()
	w.instances[in] = struct{}{}
	w.mu.Unlock()
}

func (w *watchdog) remove(in *instance) {
	w.mu.Lock()
	delete(w.instances, in)
	w.mu.Unlock()
}

// close stops the watchdog, interrupting the calls still running: once it
// is gone nothing else could stop one that loops.
func (w *watchdog) close() {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	for in := range w.instances {
		if s := in.callStart.Load(); s != 0 && s != interrupted {
			in.interrupt(s)
		}
	}
}

// begin marks the start of a call on in.
func (w *watchdog) begin(in *instance) { in.callStart.Store(w.tick.Load()) }

// end marks the end of the call and reports whether the watchdog
// interrupted it. It clears the interrupt so the instance could be called
// again, though after an interrupt it is discarded anyway.
func (w *watchdog) end(in *instance) bool {
	if in.callStart.Swap(0) != interrupted {
		return false
	}
	in.interruptMu.Lock()
	in.flag.Set(0)
	in.interruptMu.Unlock()
	return true
}

// interrupt stops the call that started at tick start, if it is still
// running: the module traps at its next loop header or function entry.
// The lock orders the flag's set here before its reset in end.
func (in *instance) interrupt(start uint64) {
	in.interruptMu.Lock()
	if in.callStart.CompareAndSwap(start, interrupted) {
		in.flag.Set(1)
	}
	in.interruptMu.Unlock()
}
