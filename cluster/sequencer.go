package cluster

import (
	"context"
	"slices"
	"sync"
	"time"
)

// sequencer puts one subscribed room's events in Seq order, each once.
//
// Events arrive from three places: NATS (other nodes), Publish (this
// node's commits) and the store (gap fills). Seq numbers are dense, so the
// next one to deliver is always known: an event ahead of it is held, and
// if the missing one has not come over NATS within Hold, it is read from
// the store. The store is authoritative; NATS only makes the common case
// fast.
//
// Before the room's baseline (the store's newest Seq when the subscription
// began) is known, everything is held. Events at or below the baseline are
// history, which a client reads over HTTP, and are dropped, except this
// node's own: a sender's echo is its acknowledgement and is owed even when
// its commit raced the subscription.
type sequencer struct {
	b    *Broker
	room string
	// wake interrupts a fill's retry pause on close.
	wake chan struct{}

	mu      sync.Mutex
	closed  bool
	ready   bool
	base    int64
	next    int64 // the next Seq to deliver
	want    int64 // the highest Seq known to exist
	held    map[int64]Event
	timer   *time.Timer
	filling bool
	probe   bool      // read the store once even without a known gap
	gapAt   time.Time // when the store first failed to explain the gap
}

func newSequencer(b *Broker, room string) *sequencer {
	return &sequencer{b: b, room: room, held: make(map[int64]Event), wake: make(chan struct{})}
}

// offer takes one event from any source.
func (s *sequencer) offer(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offerLocked(ev)
	s.checkLocked()
}

func (s *sequencer) offerLocked(ev Event) {
	if s.closed {
		return
	}
	if !s.ready {
		s.holdLocked(ev)
		if len(s.held) >= s.b.cfg.MaxHeld {
			// The baseline is late (store down): start from what we have.
			s.setBaseLocked(slices.Min(s.heldSeqs()) - 1)
		}
		return
	}
	switch {
	case ev.Seq < s.next:
		if ev.Seq <= s.base && ev.Origin == s.b.cfg.NodeID {
			s.deliverLocked(ev)
			return
		}
		s.b.stats.duplicates.Add(1)
	case ev.Seq == s.next:
		delete(s.held, ev.Seq)
		s.deliverLocked(ev)
		s.next++
		s.drainLocked()
	default:
		s.holdLocked(ev)
	}
}

func (s *sequencer) holdLocked(ev Event) {
	if _, dup := s.held[ev.Seq]; dup {
		s.b.stats.duplicates.Add(1)
		return
	}
	s.held[ev.Seq] = ev
	s.want = max(s.want, ev.Seq)
}

func (s *sequencer) deliverLocked(ev Event) {
	s.b.stats.delivered.Add(1)
	s.b.h.Deliver(ev)
}

// drainLocked delivers held events while they continue the sequence.
func (s *sequencer) drainLocked() {
	for {
		ev, ok := s.held[s.next]
		if !ok {
			return
		}
		delete(s.held, s.next)
		s.deliverLocked(ev)
		s.next++
	}
}

func (s *sequencer) heldSeqs() []int64 {
	seqs := make([]int64, 0, len(s.held))
	for q := range s.held {
		seqs = append(seqs, q)
	}
	return seqs
}

// setBase starts delivery after the baseline seq.
func (s *sequencer) setBase(base int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ready || s.closed {
		return
	}
	s.setBaseLocked(base)
	s.checkLocked()
}

func (s *sequencer) setBaseLocked(base int64) {
	s.ready, s.base, s.next = true, base, base+1
	s.want = max(s.want, base)
	seqs := s.heldSeqs()
	slices.Sort(seqs)
	for _, q := range seqs {
		if q > base {
			break
		}
		ev := s.held[q]
		delete(s.held, q)
		s.offerLocked(ev)
	}
	s.drainLocked()
}

// hint records that seq exists (a peer's heartbeat said it published it),
// so a lost tail is read from the store after Hold.
func (s *sequencer) hint(seq int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || !s.ready || seq < s.next {
		return
	}
	s.want = max(s.want, seq)
	s.checkLocked()
}

// resync reads the store once for anything newer than what was delivered,
// as after a NATS reconnect, when nothing else would reveal a lost tail.
func (s *sequencer) resync() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || !s.ready {
		return
	}
	s.probe = true
	s.checkLocked()
}

// gapLocked reports that an event known to exist is not yet delivered.
func (s *sequencer) gapLocked() bool { return s.ready && s.want >= s.next }

// checkLocked starts the hold timer or a fill when there is a gap.
func (s *sequencer) checkLocked() {
	if s.closed || !s.ready || s.filling {
		return
	}
	if !s.gapLocked() && !s.probe {
		if s.timer != nil {
			s.timer.Stop()
			s.timer = nil
		}
		return
	}
	if s.probe || len(s.held) >= s.b.cfg.MaxHeld {
		s.startFillLocked()
		return
	}
	if s.timer == nil {
		s.timer = time.AfterFunc(s.b.cfg.Hold, s.holdExpired)
	}
}

func (s *sequencer) holdExpired() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timer = nil
	if !s.closed && !s.filling && s.gapLocked() {
		s.startFillLocked()
	}
}

func (s *sequencer) startFillLocked() {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.filling = true
	s.b.wg.Add(1)
	go s.fill()
}

// fill reads the store until the gap is closed (or a probe finds nothing
// more), retrying while the store fails.
func (s *sequencer) fill() {
	defer s.b.wg.Done()
	for {
		s.mu.Lock()
		if s.closed || (!s.gapLocked() && !s.probe) {
			s.filling = false
			s.gapAt = time.Time{}
			s.mu.Unlock()
			return
		}
		after, probe := s.next-1, s.probe
		s.probe = false
		// Read only up to the first held event: the rest is on its way or
		// held already.
		limit := s.b.cfg.FillBatch
		if len(s.held) > 0 && !probe {
			limit = int(min(int64(limit), slices.Min(s.heldSeqs())-s.next))
		}
		s.mu.Unlock()

		ctx, cancel := context.WithTimeout(context.Background(), s.b.cfg.Timeout)
		evs, err := s.b.gaps.After(ctx, s.room, after, limit)
		cancel()

		s.mu.Lock()
		if err != nil {
			s.b.stats.fillErrors.Add(1)
			s.probe = s.probe || probe
			s.mu.Unlock()
			s.b.log.Warn("cluster: gap read failed; retrying", "room", s.room, "after", after, "err", err)
			if !s.pause() {
				s.finish()
				return
			}
			continue
		}
		s.b.stats.gapFills.Add(1)
		s.b.stats.gapEvents.Add(uint64(len(evs)))
		if len(evs) > 0 && evs[0].Seq > after+1 && s.next <= evs[0].Seq-1 {
			// The store vouches that these numbers do not exist: skip them.
			s.b.stats.skipped.Add(uint64(evs[0].Seq - s.next))
			s.b.log.Warn("cluster: store has a hole in room sequence", "room", s.room, "from", s.next, "to", evs[0].Seq-1)
			s.next = evs[0].Seq
			for q := range s.held {
				if q < s.next {
					delete(s.held, q)
				}
			}
		}
		for _, ev := range evs {
			if ev.Room == "" {
				ev.Room = s.room
			}
			s.offerLocked(ev)
		}
		if limit == s.b.cfg.FillBatch && len(evs) == limit {
			s.probe = true // more may follow
			s.mu.Unlock()
			continue
		}
		if !s.gapLocked() || len(evs) > 0 {
			// Closed, or the store moved us on and what is missing now
			// is newer than this read: read again, the clock restarts.
			s.gapAt = time.Time{}
			s.mu.Unlock()
			continue // the loop exits once there is no gap and no probe
		}
		// The store returned nothing for numbers known to exist.
		now := time.Now()
		if s.gapAt.IsZero() {
			s.gapAt = now
		}
		if now.Sub(s.gapAt) >= s.b.cfg.GiveUp {
			s.giveUpLocked()
			s.mu.Unlock()
			continue
		}
		s.mu.Unlock()
		if !s.pause() {
			s.finish()
			return
		}
	}
}

// giveUpLocked stops waiting for events the store does not have after
// GiveUp: deliver what is held, and forget a tail that was only hinted.
func (s *sequencer) giveUpLocked() {
	s.gapAt = time.Time{}
	if len(s.held) == 0 {
		s.b.log.Warn("cluster: hinted events never reached the store", "room", s.room, "from", s.next, "to", s.want)
		s.want = s.next - 1
		return
	}
	low := slices.Min(s.heldSeqs())
	s.b.stats.skipped.Add(uint64(low - s.next))
	s.b.log.Error("cluster: gap not in the store; skipping", "room", s.room, "from", s.next, "to", low-1)
	s.next = low
	s.drainLocked()
}

// pause waits FillRetry; false means the sequencer was closed.
func (s *sequencer) pause() bool {
	t := time.NewTimer(s.b.cfg.FillRetry)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.wake:
		return false
	}
}

func (s *sequencer) finish() {
	s.mu.Lock()
	s.filling = false
	s.mu.Unlock()
}

// close stops delivery; a fill in flight ends at its next step.
func (s *sequencer) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.held = nil
	close(s.wake)
}
