package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wasmchannel/wasmchannel/app"
)

// TestAccountRoutes: Better Auth's session and account routes against a
// real server, in the shapes auth/account.go writes down; revoked sessions
// lose their sockets with 1008 as sign-out does.
func TestAccountRoutes(t *testing.T) {
	const sweep = 100 * time.Millisecond
	s := start(t, func(c *app.Config) {
		c.Codec = "go"
		c.SessionSweep = sweep
	})
	alice, bob := s.signUp("alice"), s.signUp("bob")
	email := func(u user) string {
		var gs struct{ User struct{ Email string } }
		s.do("GET", "/api/auth/get-session", u.Token, nil, &gs)
		return gs.User.Email
	}
	aliceEmail := email(alice)
	signIn := func(password string) (int, string) {
		var out struct{ Token string }
		st := s.do("POST", "/api/auth/sign-in/email", "", map[string]any{"email": aliceEmail, "password": password}, &out)
		return st, out.Token
	}
	_, phone := signIn("correct horse battery")
	_, tablet := signIn("correct horse battery")

	var sessions []struct{ Token, UserID string }
	if st := s.do("GET", "/api/auth/list-sessions", alice.Token, nil, &sessions); st != 200 || len(sessions) != 3 {
		t.Fatalf("list-sessions: %d %d sessions", st, len(sessions))
	}
	own := 0
	for _, ss := range sessions {
		if ss.Token == alice.Token {
			own++
		}
		if ss.UserID != alice.ID {
			t.Fatalf("list-sessions shows another user's session: %+v", ss)
		}
	}
	if own != 1 {
		t.Fatalf("list-sessions: the caller's own session appears %d times with its token", own)
	}

	var st struct{ Status bool }
	if code := s.do("POST", "/api/auth/revoke-session", alice.Token, map[string]any{"token": tablet}, &st); code != 200 || !st.Status {
		t.Fatalf("revoke-session: %d %+v", code, st)
	}
	if code := s.do("GET", "/api/auth/list-sessions", tablet, nil, nil); code != 401 {
		t.Fatalf("the revoked session still lists: %d", code)
	}
	var e struct{ Code, Message string }
	if code := s.do("POST", "/api/auth/revoke-session", alice.Token, map[string]any{}, &e); code != 400 || e.Code != "VALIDATION_ERROR" {
		t.Fatalf("revoke-session without a token: %d %+v", code, e)
	}
	// Another user's token: answered as Better Auth does, and nothing changes.
	if code := s.do("POST", "/api/auth/revoke-session", alice.Token, map[string]any{"token": bob.Token}, &st); code != 200 {
		t.Fatalf("revoke-session of bob's token: %d", code)
	}
	if code := s.do("GET", "/api/auth/list-sessions", bob.Token, nil, nil); code != 200 {
		t.Fatalf("bob's session ended by alice: %d", code)
	}

	// A revoked session's socket is closed with 1008 within a sweep.
	ws := s.dial(user{ID: alice.ID, Name: "alice", Token: phone}, "acct")
	if code := s.do("POST", "/api/auth/revoke-other-sessions", alice.Token, nil, &st); code != 200 || !st.Status {
		t.Fatalf("revoke-other-sessions: %d", code)
	}
	for range ws.in {
	}
	if err := <-ws.err; !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
		t.Fatalf("the revoked session's socket ended with %v, want 1008", err)
	}
	if code := s.do("GET", "/api/auth/list-sessions", phone, nil, nil); code != 401 {
		t.Fatalf("revoke-other-sessions left the phone's session: %d", code)
	}

	// update-user.
	if code := s.do("POST", "/api/auth/update-user", alice.Token, map[string]any{"name": "Alice Two", "image": "https://img.example/a.png"}, &st); code != 200 || !st.Status {
		t.Fatalf("update-user: %d", code)
	}
	var profile struct {
		Name  string
		Image *string
	}
	s.do("GET", "/api/users/"+alice.ID, bob.Token, nil, &profile)
	if profile.Name != "Alice Two" || profile.Image == nil || *profile.Image != "https://img.example/a.png" {
		t.Fatalf("after update-user: %+v", profile)
	}
	if code := s.do("POST", "/api/auth/update-user", alice.Token, map[string]any{"image": nil}, &st); code != 200 {
		t.Fatalf("update-user image:null: %d", code)
	}
	profile.Image = nil
	s.do("GET", "/api/users/"+alice.ID, bob.Token, nil, &profile)
	if profile.Image != nil || profile.Name != "Alice Two" {
		t.Fatalf("image:null did not clear only the image: %+v", profile)
	}
	resp, raw := s.req("POST", "/api/auth/update-user", map[string]any{}, http.Header{"Authorization": {"Bearer " + alice.Token}})
	if resp.StatusCode != 400 || strings.TrimSpace(string(raw)) != `{"message":"No fields to update"}` {
		t.Fatalf("update-user {}: %d %s", resp.StatusCode, raw)
	}
	if code := s.do("POST", "/api/auth/update-user", alice.Token, map[string]any{"email": "new@example.com"}, &e); code != 400 || e.Code != "EMAIL_CAN_NOT_BE_UPDATED" {
		t.Fatalf("update-user email: %d %+v", code, e)
	}
	if got := email(alice); got != aliceEmail {
		t.Fatalf("the email changed to %q", got)
	}

	// change-password.
	change := func(body map[string]any, out any) int {
		return s.do("POST", "/api/auth/change-password", alice.Token, body, out)
	}
	if code := change(map[string]any{"currentPassword": "wrong password!", "newPassword": "new password 123"}, &e); code != 400 || e.Code != "INVALID_PASSWORD" {
		t.Fatalf("wrong current password: %d %+v", code, e)
	}
	if code := change(map[string]any{"currentPassword": "correct horse battery", "newPassword": "short"}, &e); code != 400 || e.Code != "PASSWORD_TOO_SHORT" {
		t.Fatalf("short new password: %d %+v", code, e)
	}
	var changed struct {
		Token *string
		User  struct{ ID string }
	}
	if code := change(map[string]any{"currentPassword": "correct horse battery", "newPassword": "new password 123"}, &changed); code != 200 || changed.Token != nil || changed.User.ID != alice.ID {
		t.Fatalf("change-password: %d %+v", code, changed)
	}
	if code, _ := signIn("correct horse battery"); code != 401 {
		t.Fatalf("the old password still signs in: %d", code)
	}
	if code, _ := signIn("new password 123"); code != 200 {
		t.Fatalf("the new password does not sign in: %d", code)
	}
	changed.Token = nil
	if code := change(map[string]any{"currentPassword": "new password 123", "newPassword": "newer password 456", "revokeOtherSessions": true}, &changed); code != 200 || changed.Token == nil {
		t.Fatalf("change-password revoking others: %d %+v", code, changed)
	}
	if code := s.do("GET", "/api/auth/list-sessions", alice.Token, nil, nil); code != 401 {
		t.Fatalf("the old session survived revokeOtherSessions: %d", code)
	}
	fresh := *changed.Token

	// revoke-sessions ends them all and clears the cookie.
	resp, raw = s.req("POST", "/api/auth/revoke-sessions", nil, http.Header{"Authorization": {"Bearer " + fresh}})
	if resp.StatusCode != 200 || !strings.Contains(strings.Join(resp.Header.Values("Set-Cookie"), "\n"), "Max-Age=0") {
		t.Fatalf("revoke-sessions: %d %s %q", resp.StatusCode, raw, resp.Header.Values("Set-Cookie"))
	}
	resp, raw = s.req("GET", "/api/auth/list-sessions", nil, http.Header{"Authorization": {"Bearer " + fresh}})
	if err := json.Unmarshal(raw, &e); err != nil || resp.StatusCode != 401 || e.Code != "UNAUTHORIZED" || e.Message != "Unauthorized" {
		t.Fatalf("list-sessions after revoke-sessions: %d %s", resp.StatusCode, raw)
	}
	// bob was never touched.
	if code := s.do("GET", "/api/auth/list-sessions", bob.Token, nil, nil); code != 200 {
		t.Fatalf("bob: %d", code)
	}
}

// TestCookieAttributes: --cookie-domain and --cookie-samesite reach the
// cookies; SameSite=None without Secure is refused at start.
func TestCookieAttributes(t *testing.T) {
	s := start(t, func(c *app.Config) {
		c.Codec = "go"
		c.CookieDomain = "example.test"
		c.CookieSameSite = "strict"
	})
	resp, raw := s.req("POST", "/api/auth/sign-up/email", map[string]any{"name": "c", "email": "cookie@example.com", "password": "correct horse battery"}, nil)
	cookies := strings.Join(resp.Header.Values("Set-Cookie"), "\n")
	if resp.StatusCode != 200 || !strings.Contains(cookies, "Domain=example.test") || !strings.Contains(cookies, "SameSite=Strict") || !strings.Contains(cookies, "HttpOnly") {
		t.Fatalf("sign-up cookies: %d %s %q", resp.StatusCode, raw, cookies)
	}
	cfg := s.env.Config
	cfg.CookieSameSite, cfg.SecureCookies = "none", false
	if _, err := app.New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "Secure") {
		t.Fatalf("SameSite=None without Secure: %v", err)
	}
}
