package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/wasmchannel/wasmchannel/chat"
)

// maxUserAgent bounds what is stored of the User-Agent header.
const maxUserAgent = 512

// Issued is a fresh session handed to a client by SignUp or SignIn.
type Issued struct {
	User    chat.User
	Session chat.Session
	// Token is the raw session token; the client gets it, the database
	// gets only its hash.
	Token    string
	Remember bool
}

// SignUpInput is a validated-shape sign-up request (handlers check JSON
// types; SignUp checks the values).
type SignUpInput struct {
	Name       string
	Email      string
	Password   string
	Image      *string
	RememberMe bool
}

// SignInInput is a sign-in request.
type SignInInput struct {
	Email      string
	Password   string
	RememberMe bool
}

// newToken returns 32 random bytes as unpadded base64url: URL-safe and free
// of dots, so "token.signature" splits unambiguously.
func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("session token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// NewID returns a 32-character alphanumeric id, the shape Better Auth uses
// for user and session ids.
func NewID() (string, error) {
	const n = 32
	out := make([]byte, 0, n)
	buf := make([]byte, 48)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("new id: %w", err)
		}
		for _, b := range buf {
			// 248 = 4·62: rejecting the rest keeps every letter equally likely.
			if b < 248 && len(out) < n {
				out = append(out, idAlphabet[int(b)%len(idAlphabet)])
			}
		}
	}
	return string(out), nil
}

// SignUp creates a user and signs them in. Errors: ErrInvalidEmail,
// ErrPasswordTooShort, ErrPasswordTooLong, ErrUserExists, a *RateLimitError
// when the address has used its sign-up quota, ErrBusy when password
// hashing is saturated.
func (s *Service) SignUp(r *http.Request, in SignUpInput) (Issued, error) {
	ctx := r.Context()
	email := NormalizeEmail(in.Email)
	if !ValidEmail(email) {
		return Issued{}, ErrInvalidEmail
	}
	if err := CheckPasswordLength(in.Password); err != nil {
		return Issued{}, err
	}
	ip := LimitKey(s.cfg.ClientIP(r))
	if wait, ok := s.limiter.allowSignUp(ip, s.cfg.Now()); !ok {
		s.log.Warn("auth: sign-up refused by per-address quota", "ip", ip, "retry_after", wait.Round(time.Second))
		return Issued{}, &RateLimitError{RetryAfter: wait}
	}
	// Checked before hashing so a taken email costs no scrypt run; the
	// unique index still decides races below.
	if _, _, err := s.store.UserByEmail(ctx, email); err == nil {
		return Issued{}, ErrUserExists
	} else if !errors.Is(err, chat.ErrNotFound) {
		return Issued{}, fmt.Errorf("sign up: look up email: %w", err)
	}
	hash, err := s.hashBounded(ctx, in.Password)
	if err != nil {
		return Issued{}, fmt.Errorf("sign up: %w", err)
	}
	id, err := NewID()
	if err != nil {
		return Issued{}, fmt.Errorf("sign up: %w", err)
	}
	now := s.now()
	u := chat.User{ID: id, Name: in.Name, Email: email, Image: in.Image, CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateUser(ctx, u, hash); err != nil {
		if errors.Is(err, chat.ErrConflict) {
			return Issued{}, ErrUserExists
		}
		return Issued{}, fmt.Errorf("sign up: create user: %w", err)
	}
	s.log.Info("auth: user signed up", "user_id", u.ID)
	return s.issue(r, u, in.RememberMe)
}

// SignIn checks an email and password and opens a session. A wrong
// password and an unknown email give the same ErrInvalidCredentials after
// the same scrypt work. Before any password check it refuses, with a
// *RateLimitError (errors.Is ErrTooManyRequests): an (email, address) pair
// locked out after repeated failures, an address with too many failures,
// and an account that has opened its quota of sessions (only the owner
// can fill it, so only the owner sees that refusal). ErrBusy means
// password hashing is saturated; it costs the client no attempt.
func (s *Service) SignIn(r *http.Request, in SignInInput) (Issued, error) {
	ctx := r.Context()
	email := NormalizeEmail(in.Email)
	if !ValidEmail(email) {
		return Issued{}, ErrInvalidEmail
	}
	ip := LimitKey(s.cfg.ClientIP(r))
	now := s.cfg.Now()
	u, hash, err := s.store.UserByEmail(ctx, email)
	known := err == nil
	if err != nil && !errors.Is(err, chat.ErrNotFound) {
		return Issued{}, fmt.Errorf("sign in: look up email: %w", err)
	}
	// Only a correct password adds to this quota, so nobody but the owner
	// can use it up, and checking it first spares the hash.
	if known {
		if wait, ok := s.limiter.sessionQuota(u.ID, now); !ok {
			s.log.Warn("auth: sign-in refused by per-account session quota", "user_id", u.ID, "ip", ip, "retry_after", wait.Round(time.Second))
			return Issued{}, &RateLimitError{RetryAfter: wait}
		}
	}
	if !known {
		if hash, err = s.dummyHash(); err != nil {
			return Issued{}, fmt.Errorf("sign in: %w", err)
		}
	}
	ok, err := s.checkPassword(ctx, email, ip, hash, in.Password)
	if err != nil {
		return Issued{}, fmt.Errorf("sign in: %w", err)
	}
	if !ok || !known {
		s.log.Info("auth: sign-in failed", "email", email, "ip", ip)
		return Issued{}, ErrInvalidCredentials
	}
	return s.issue(r, u, in.RememberMe)
}

// issue stores a new session for u and returns its raw token.
func (s *Service) issue(r *http.Request, u chat.User, remember bool) (Issued, error) {
	token, err := newToken()
	if err != nil {
		return Issued{}, err
	}
	id, err := NewID()
	if err != nil {
		return Issued{}, err
	}
	now := s.now()
	ttl := s.cfg.SessionTTL
	if !remember {
		ttl = dontRememberTTL
	}
	sess := chat.Session{
		ID:        id,
		TokenHash: chat.HashToken(token),
		UserID:    u.ID,
		ExpiresAt: now.Add(ttl),
		IPAddress: s.cfg.ClientIP(r),
		UserAgent: truncate(r.UserAgent(), maxUserAgent),
		CreatedAt: now,
		UpdatedAt: now,
	}
	if err := s.store.CreateSession(r.Context(), sess); err != nil {
		return Issued{}, fmt.Errorf("create session: %w", err)
	}
	s.limiter.sessionOpened(u.ID, s.cfg.Now())
	s.log.Info("auth: session created", "user_id", u.ID, "session_id", sess.ID)
	return Issued{User: u, Session: sess, Token: token, Remember: remember}, nil
}

// Authenticate returns who sent r, from "Authorization: Bearer" or the
// signed session cookie. Every protected route and the WebSocket upgrade
// call it; anything but a live session gives ErrUnauthenticated. A session
// last extended more than UpdateAge ago is extended to SessionTTL from now
// (Identity.Refreshed); an expired one is deleted.
func (s *Service) Authenticate(r *http.Request) (Identity, error) {
	token, ok := s.tokenFromRequest(r)
	if !ok {
		return Identity{}, ErrUnauthenticated
	}
	ctx := r.Context()
	hash := chat.HashToken(token)
	sess, u, err := s.store.SessionByTokenHash(ctx, hash)
	if errors.Is(err, chat.ErrNotFound) {
		return Identity{}, ErrSessionGone
	}
	if err != nil {
		return Identity{}, fmt.Errorf("authenticate: %w", err)
	}
	id := Identity{User: u, Session: sess, Token: token, DontRemember: s.dontRemember(r)}
	now := s.now()
	if !now.Before(sess.ExpiresAt) {
		if err := s.store.DeleteSession(ctx, hash); err != nil && !errors.Is(err, chat.ErrNotFound) {
			s.log.Error("auth: delete expired session", "session_id", sess.ID, "err", err)
		}
		return Identity{}, ErrSessionGone
	}
	// Better Auth's rule: extend once the last extension is UpdateAge old,
	// i.e. expiresAt - TTL + UpdateAge <= now. rememberMe:false sessions
	// keep their one-day life.
	if !id.DontRemember && !sess.ExpiresAt.Add(-s.cfg.SessionTTL).Add(s.cfg.UpdateAge).After(now) {
		exp := now.Add(s.cfg.SessionTTL)
		if err := s.store.ExtendSession(ctx, sess.ID, exp, now); err != nil {
			if errors.Is(err, chat.ErrNotFound) {
				return Identity{}, ErrSessionGone // signed out meanwhile
			}
			return Identity{}, fmt.Errorf("authenticate: extend session: %w", err)
		}
		id.Session.ExpiresAt, id.Session.UpdatedAt = exp, now
		id.Refreshed = true
	}
	return id, nil
}

// CheckSession is nil for a live session, ErrSessionGone for a missing or
// expired one, and the store's error otherwise, without extending the
// session. The socket sweep calls it and keeps its own rule for store
// errors (app's sweep closes a session it could not check for a minute).
func (s *Service) CheckSession(ctx context.Context, tokenHash string) error {
	sess, _, err := s.store.SessionByTokenHash(ctx, tokenHash)
	if errors.Is(err, chat.ErrNotFound) {
		return ErrSessionGone
	}
	if err != nil {
		return fmt.Errorf("check session: %w", err)
	}
	if !s.now().Before(sess.ExpiresAt) {
		return ErrSessionGone
	}
	return nil
}

// SignOut deletes the session r carries, if any. Clearing the cookies is
// the caller's job (ClearSessionCookies), since it owns the response.
func (s *Service) SignOut(r *http.Request) error {
	token, ok := s.tokenFromRequest(r)
	if !ok {
		return nil
	}
	if err := s.store.DeleteSession(r.Context(), chat.HashToken(token)); err != nil && !errors.Is(err, chat.ErrNotFound) {
		return fmt.Errorf("sign out: %w", err)
	}
	return nil
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
