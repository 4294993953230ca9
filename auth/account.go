package auth

// The session and account routes of Better Auth 1.x, as its reference
// server (testdata/betterauth, better-auth 1.7.25) answers them; the HTTP
// layer maps the functions below onto these shapes. All need a session
// (else 401 {"code":"UNAUTHORIZED","message":"Unauthorized"}, clearing
// stale cookies), and the POSTs pass the Origin check.
//
//   - GET  list-sessions: 200 [Session], oldest first, each with "token".
//   - POST revoke-session {token}: 200 {"status":true}, also for an
//     unknown token or another user's (which stays); a missing token is
//     400 VALIDATION_ERROR. Revoking the caller's own session clears its
//     cookies.
//   - POST revoke-sessions: 200 {"status":true}, clears the cookies.
//   - POST revoke-other-sessions: 200 {"status":true}.
//   - POST change-password {currentPassword, newPassword,
//     revokeOtherSessions?}: 200 {"token":null,"user":User}, no cookie; with
//     revokeOtherSessions:true every old session ends and a new one is set
//     (cookie and set-auth-token) and returned in "token". Errors: 400
//     PASSWORD_TOO_SHORT / PASSWORD_TOO_LONG (checked before the current
//     password), 400 INVALID_PASSWORD.
//   - POST update-user {name?, image?}: 200 {"status":true}; image:null
//     clears it; {} is 400 {"message":"No fields to update"}; an "email"
//     key is 400 EMAIL_CAN_NOT_BE_UPDATED. Better Auth re-sends the session
//     cookie with this reply.

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/wasmchannel/wasmchannel/chat"
)

// ListedSession is one entry of ListSessions.
type ListedSession struct {
	chat.Session
	// Token is what RevokeSession takes to end this session. Better Auth
	// shows each session's raw token here; we keep only hashes, so the
	// caller's own session shows its raw token (as get-session does) and
	// the others show their token hash, which is no credential: the server
	// never accepts it to sign in.
	Token string
	// Current marks the session the request came with.
	Current bool
}

// ListSessions returns the unexpired sessions of id's user, oldest first
// (Better Auth's GET /list-sessions).
func (s *Service) ListSessions(ctx context.Context, id Identity) ([]ListedSession, error) {
	ss, err := s.store.SessionsByUser(ctx, id.User.ID)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	now := s.now()
	out := make([]ListedSession, 0, len(ss))
	for _, sess := range ss {
		if !now.Before(sess.ExpiresAt) {
			continue
		}
		ls := ListedSession{Session: sess, Token: sess.TokenHash}
		if sess.TokenHash == id.Session.TokenHash {
			ls.Token, ls.Current = id.Token, true
		}
		out = append(out, ls)
	}
	return out, nil
}

// RevokeSession ends the session of id's user named by token: a raw
// session token, or the Token ListSessions showed. A token that names no
// session of this user, another user's included, is not an error and
// changes nothing, as Better Auth answers {"status":true} to both.
// revokedSelf tells the caller to clear the request's cookies, as Better
// Auth does when a session revokes itself.
func (s *Service) RevokeSession(ctx context.Context, id Identity, token string) (revokedSelf bool, err error) {
	if !validToken(token) {
		return false, nil
	}
	for _, hash := range []string{chat.HashToken(token), token} {
		sess, _, err := s.store.SessionByTokenHash(ctx, hash)
		if errors.Is(err, chat.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("revoke session: %w", err)
		}
		if sess.UserID != id.User.ID {
			return false, nil
		}
		// A session's user never changes, so the check above still holds.
		if err := s.store.DeleteSession(ctx, hash); err != nil {
			return false, fmt.Errorf("revoke session: %w", err)
		}
		s.log.Info("auth: session revoked", "user_id", id.User.ID, "session_id", sess.ID)
		return hash == id.Session.TokenHash, nil
	}
	return false, nil
}

// RevokeSessions ends every session of id's user, the caller's included
// (Better Auth's revoke-sessions); clear the request's cookies after it.
func (s *Service) RevokeSessions(ctx context.Context, id Identity) error {
	if err := s.store.DeleteUserSessions(ctx, id.User.ID); err != nil {
		return fmt.Errorf("revoke sessions: %w", err)
	}
	s.log.Info("auth: all sessions revoked", "user_id", id.User.ID)
	return nil
}

// RevokeOtherSessions ends every session of id's user but the caller's.
func (s *Service) RevokeOtherSessions(ctx context.Context, id Identity) error {
	if err := s.store.DeleteOtherSessions(ctx, id.User.ID, id.Session.TokenHash); err != nil {
		return fmt.Errorf("revoke other sessions: %w", err)
	}
	s.log.Info("auth: other sessions revoked", "user_id", id.User.ID, "kept_session_id", id.Session.ID)
	return nil
}

// ChangePasswordInput is a change-password request.
type ChangePasswordInput struct {
	CurrentPassword     string
	NewPassword         string
	RevokeOtherSessions bool
}

// ChangePassword replaces the password of id's user after checking the
// current one (Better Auth's change-password). With RevokeOtherSessions it
// ends every session of the user, the caller's too, and opens a fresh one
// that it returns: send its cookie and put its token in the response, as
// Better Auth 1.x does; otherwise the returned *Issued is nil (token null).
//
// Errors: ErrPasswordTooShort or ErrPasswordTooLong for the new password
// (checked first, as Better Auth does), ErrInvalidPassword for a wrong
// current one, a *RateLimitError once wrong guesses reach the sign-in
// limit for this (email, address) — a stolen session must not become a
// password oracle — and ErrBusy when hashing is saturated.
func (s *Service) ChangePassword(r *http.Request, id Identity, in ChangePasswordInput) (chat.User, *Issued, error) {
	ctx := r.Context()
	if err := CheckPasswordLength(in.NewPassword); err != nil {
		return chat.User{}, nil, err
	}
	ip := LimitKey(s.cfg.ClientIP(r))
	email := id.User.Email
	u, hash, err := s.store.UserByEmail(ctx, email)
	if err != nil {
		return chat.User{}, nil, fmt.Errorf("change password: look up user: %w", err)
	}
	ok, err := s.checkPassword(ctx, email, ip, hash, in.CurrentPassword)
	if err != nil {
		return chat.User{}, nil, fmt.Errorf("change password: %w", err)
	}
	if !ok {
		s.log.Info("auth: change-password with a wrong current password", "user_id", u.ID, "ip", ip)
		return chat.User{}, nil, ErrInvalidPassword
	}
	newHash, err := s.hashBounded(ctx, in.NewPassword)
	if err != nil {
		return chat.User{}, nil, fmt.Errorf("change password: %w", err)
	}
	if err := s.store.SetPassword(ctx, u.ID, newHash, s.now()); err != nil {
		return chat.User{}, nil, fmt.Errorf("change password: %w", err)
	}
	s.log.Info("auth: password changed", "user_id", u.ID)
	if !in.RevokeOtherSessions {
		return u, nil, nil
	}
	// The new session exists before the others go, so a failure between
	// the two steps never leaves the user signed out everywhere.
	iss, err := s.issue(r, u, !id.DontRemember)
	if err != nil {
		return chat.User{}, nil, fmt.Errorf("change password: %w", err)
	}
	if err := s.store.DeleteOtherSessions(ctx, u.ID, iss.Session.TokenHash); err != nil {
		return chat.User{}, nil, fmt.Errorf("change password: revoke sessions: %w", err)
	}
	return u, &iss, nil
}

// UpdateUser changes the profile of id's user (Better Auth's update-user:
// name and image; the email cannot change here). An empty change is
// ErrNothingToUpdate.
func (s *Service) UpdateUser(ctx context.Context, id Identity, ch chat.UserChange) (chat.User, error) {
	if ch.Empty() {
		return chat.User{}, ErrNothingToUpdate
	}
	u, err := s.store.UpdateUser(ctx, id.User.ID, ch, s.now())
	if err != nil {
		return chat.User{}, fmt.Errorf("update user: %w", err)
	}
	return u, nil
}
