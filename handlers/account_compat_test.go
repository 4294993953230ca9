package handlers_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// The session and account routes of Better Auth 1.x (issue 12 § 5), run by
// TestAuthCompat against both our server and the reference server: every
// assertion holds for both.

const (
	pathListSessions        = "/api/auth/list-sessions"
	pathRevokeSession       = "/api/auth/revoke-session"
	pathRevokeSessions      = "/api/auth/revoke-sessions"
	pathRevokeOtherSessions = "/api/auth/revoke-other-sessions"
	pathChangePassword      = "/api/auth/change-password"
	pathUpdateUser          = "/api/auth/update-user"
)

// wantStatusTrue checks Better Auth's {"status":true}.
func wantStatusTrue(t *testing.T, r acResp) {
	t.Helper()
	if r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != `{"status":true}` {
		t.Fatalf("status %d body %s, want 200 {\"status\":true}", r.status, r.body)
	}
}

// wantLive checks that s's cookie still opens a session.
func wantLive(t *testing.T, c *acClient, s session) map[string]any {
	t.Helper()
	r := c.do(t, "GET", pathGetSession, "", "", s.cookie)
	if r.status != 200 || strings.TrimSpace(string(r.body)) == "null" {
		t.Fatalf("session ended: %d %s", r.status, r.body)
	}
	return r.object(t)
}

func runAccountCompat(t *testing.T, c *acClient) {
	origin := "Origin: " + acTrusted
	signIn := func(t *testing.T, password string) session {
		t.Helper()
		r := c.postJSON(t, pathSignIn, `{"email":"dee@example.com","password":"`+password+`"}`)
		if r.status != 200 {
			t.Fatalf("sign-in: %d %s", r.status, r.body)
		}
		tok, _ := r.object(t)["token"].(string)
		return wantSessionCookie(t, r, tok, true)
	}
	r := c.postJSON(t, pathSignUp, `{"name":"Dee","email":"dee@example.com","password":"password123"}`)
	if r.status != 200 {
		t.Fatalf("sign-up dee: %d %s", r.status, r.body)
	}
	tok, _ := r.object(t)["token"].(string)
	first := wantSessionCookie(t, r, tok, true)
	second, third := signIn(t, "password123"), signIn(t, "password123")

	t.Run("list-sessions", func(t *testing.T) {
		r := c.do(t, "GET", pathListSessions, "", "", first.cookie)
		var list []map[string]any
		if err := json.Unmarshal(r.body, &list); err != nil || r.status != 200 || len(list) != 3 {
			t.Fatalf("status %d body %s, want 3 sessions", r.status, r.body)
		}
		own := 0
		for _, s := range list {
			wantKeys(t, "listed session", s, "id", "token", "userId", "expiresAt", "createdAt", "updatedAt", "ipAddress", "userAgent")
			if s["token"] == first.token {
				own++
			}
		}
		if own != 1 {
			t.Fatalf("the caller's session appears %d times with its token: %s", own, r.body)
		}
	})

	t.Run("account routes without a session", func(t *testing.T) {
		wantError(t, c.do(t, "GET", pathListSessions, "", ""), 401, "UNAUTHORIZED", "")
		wantError(t, c.postJSON(t, pathRevokeOtherSessions, `{}`), 401, "UNAUTHORIZED", "")
	})

	t.Run("revoke-session", func(t *testing.T) {
		wantStatusTrue(t, c.postJSON(t, pathRevokeSession, `{"token":"`+third.token+`"}`, first.cookie, origin))
		wantNull(t, c.do(t, "GET", pathGetSession, "", "", third.cookie))
		wantLive(t, c, first)
		r := c.postJSON(t, pathRevokeSession, `{}`, first.cookie, origin)
		wantError(t, r, 400, "VALIDATION_ERROR", "")
	})

	t.Run("revoke-other-sessions", func(t *testing.T) {
		wantStatusTrue(t, c.postJSON(t, pathRevokeOtherSessions, `{}`, first.cookie, origin))
		wantNull(t, c.do(t, "GET", pathGetSession, "", "", second.cookie))
		wantLive(t, c, first)
	})

	t.Run("update-user", func(t *testing.T) {
		wantStatusTrue(t, c.postJSON(t, pathUpdateUser, `{"name":"Dee Two","image":"https://example.com/dee.png"}`, first.cookie, origin))
		u := acUser(t, wantLive(t, c, first)["user"])
		if u["name"] != "Dee Two" || u["image"] != "https://example.com/dee.png" || u["email"] != "dee@example.com" {
			t.Fatalf("after update-user: %v", u)
		}
		wantStatusTrue(t, c.postJSON(t, pathUpdateUser, `{"image":null}`, first.cookie, origin))
		if u := acUser(t, wantLive(t, c, first)["user"]); u["image"] != nil || u["name"] != "Dee Two" {
			t.Fatalf("image:null: %v", u)
		}
		r := c.postJSON(t, pathUpdateUser, `{}`, first.cookie, origin)
		if m := r.object(t); r.status != 400 || m["message"] != "No fields to update" {
			t.Fatalf("update-user {}: %d %s", r.status, r.body)
		}
		r = c.postJSON(t, pathUpdateUser, `{"email":"other@example.com"}`, first.cookie, origin)
		if m := r.object(t); r.status != 400 || m["code"] != "EMAIL_CAN_NOT_BE_UPDATED" {
			t.Fatalf("update-user email: %d %s", r.status, r.body)
		}
	})

	var fresh session
	t.Run("change-password", func(t *testing.T) {
		wantError(t, c.postJSON(t, pathChangePassword, `{"currentPassword":"wrong-password","newPassword":"password456"}`, first.cookie, origin), 400, "INVALID_PASSWORD", "")
		wantError(t, c.postJSON(t, pathChangePassword, `{"currentPassword":"password123","newPassword":"short"}`, first.cookie, origin), 400, "PASSWORD_TOO_SHORT", "")
		r := c.postJSON(t, pathChangePassword, `{"currentPassword":"password123","newPassword":"password456"}`, first.cookie, origin)
		m := r.object(t)
		if r.status != 200 || m["token"] != nil {
			t.Fatalf("change-password: %d %s, want 200 with token null", r.status, r.body)
		}
		wantKeys(t, "change-password reply", m, "token", "user")
		if _, set := setCookie(r, "better-auth.session_token"); set {
			t.Fatalf("change-password without revoking set a cookie: %q", r.header.Values("Set-Cookie"))
		}
		if r := c.postJSON(t, pathSignIn, `{"email":"dee@example.com","password":"password123"}`); r.status != 401 {
			t.Fatalf("the old password still signs in: %d", r.status)
		}
		r = c.postJSON(t, pathChangePassword, `{"currentPassword":"password456","newPassword":"password789","revokeOtherSessions":true}`, first.cookie, origin)
		m = r.object(t)
		tok, _ := m["token"].(string)
		if r.status != 200 || tok == "" {
			t.Fatalf("change-password revoking others: %d %s", r.status, r.body)
		}
		fresh = wantSessionCookie(t, r, tok, true)
		wantNull(t, c.do(t, "GET", pathGetSession, "", "", first.cookie))
		wantLive(t, c, fresh)
	})

	t.Run("revoke-sessions", func(t *testing.T) {
		if fresh.cookie == "" {
			t.Skip("change-password failed")
		}
		r := c.postJSON(t, pathRevokeSessions, `{}`, fresh.cookie, origin)
		wantStatusTrue(t, r)
		wantCleared(t, r)
		wantNull(t, c.do(t, "GET", pathGetSession, "", "", fresh.cookie))
	})
}
