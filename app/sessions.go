package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/wasmchannel/wasmchannel/auth"
)

// uncheckedSweeps is how many sweeps in a row a session may fail to be
// checked (the store erred) before its sockets are closed anyway.
const uncheckedSweeps = 12

// sessionCheck tells the sweeper whether a socket's session still holds.
//
// A store error is neither answer. Closing on the first error would drop
// every socket on one slow query; keeping the socket on every error would
// keep a revoked session's sockets open for as long as the store fails. So
// a session that could not be checked stays open for uncheckedSweeps
// sweeps (a minute at the default 5s) and is then closed: its client
// reconnects and authenticates afresh. Only the sweep goroutine calls it.
type sessionCheck struct {
	auth  *auth.Service
	grace time.Duration
	now   func() time.Time
	log   *slog.Logger
	// failing holds, per session key, when its checks started failing and
	// the sweep that last saw it, so keys whose sockets left are dropped.
	failing map[string]failure
	sweep   int
}

type failure struct {
	since time.Time
	sweep int
}

func newSessionCheck(a *auth.Service, every time.Duration, log *slog.Logger) *sessionCheck {
	return &sessionCheck{auth: a, grace: uncheckedSweeps * every, now: time.Now, log: log, failing: map[string]failure{}}
}

// live reports whether the session with this token hash may keep its
// sockets (auth.CheckSession, with the store-error rule above).
func (s *sessionCheck) live(ctx context.Context, tokenHash string) bool {
	err := s.auth.CheckSession(ctx, tokenHash)
	switch {
	case err == nil:
		delete(s.failing, tokenHash)
		return true
	case errors.Is(err, auth.ErrSessionGone):
		delete(s.failing, tokenHash)
		return false
	}
	now := s.now()
	f, ok := s.failing[tokenHash]
	if !ok {
		f.since = now
		s.log.Warn("session check failed; sockets kept for now", "err", err)
	}
	f.sweep = s.sweep
	s.failing[tokenHash] = f
	if now.Sub(f.since) >= s.grace {
		s.log.Warn("session unchecked too long; closing its sockets", "for", now.Sub(f.since).Round(time.Second))
		delete(s.failing, tokenHash)
		return false
	}
	return true
}

// endSweep forgets failures of sessions the last sweep did not visit.
func (s *sessionCheck) endSweep() {
	for k, f := range s.failing {
		if f.sweep != s.sweep {
			delete(s.failing, k)
		}
	}
	s.sweep++
}
