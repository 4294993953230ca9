package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
)

// testAccount covers the store side of Better Auth's session and
// account routes: listing and revoking sessions, changing a password and
// a profile.
func testAccount(t *testing.T, h Harness) {
	d, clk := h.open(t)
	ctx := context.Background()
	img := "https://img.example/a.png"
	for _, id := range []string{"u1", "u2"} {
		if err := d.CreateUser(ctx, chat.User{ID: id, Name: id, Email: id + "@example.com", Image: &img}, "old-hash"); err != nil {
			t.Fatal(err)
		}
	}
	now := clk.Now()
	for i, s := range []struct {
		id, user string
		ttl      time.Duration
	}{{"s1", "u1", time.Hour}, {"s2", "u1", 2 * time.Hour}, {"s3", "u1", time.Minute}, {"s4", "u2", time.Hour}} {
		err := d.CreateSession(ctx, chat.Session{ID: s.id, TokenHash: chat.HashToken(s.id), UserID: s.user,
			ExpiresAt: now.Add(s.ttl), CreatedAt: now.Add(time.Duration(i) * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
	}
	ids := func(user string) []string {
		t.Helper()
		ss, err := d.SessionsByUser(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, s := range ss {
			out = append(out, s.ID)
		}
		return out
	}
	clk.Advance(2 * time.Minute) // s3 expires
	if got := ids("u1"); len(got) != 2 || got[0] != "s1" || got[1] != "s2" {
		t.Fatalf("sessions of u1 = %v, want [s1 s2] (oldest first, expired left out)", got)
	}
	if got := ids("nobody"); got == nil || len(got) != 0 {
		t.Fatalf("sessions of an unknown user = %#v, want empty", got)
	}
	if err := d.DeleteOtherSessions(ctx, "u1", chat.HashToken("s2")); err != nil {
		t.Fatal(err)
	}
	if got := ids("u1"); len(got) != 1 || got[0] != "s2" {
		t.Fatalf("after DeleteOtherSessions: %v, want [s2]", got)
	}
	if got := ids("u2"); len(got) != 1 {
		t.Fatalf("another user's sessions were touched: %v", got)
	}

	t.Run("update user", func(t *testing.T) {
		name := "New Name"
		later := clk.Now().Add(time.Second).Truncate(time.Millisecond)
		u, err := d.UpdateUser(ctx, "u1", chat.UserChange{Name: &name}, later)
		if err != nil || u.Name != name || u.Image == nil || *u.Image != img || !u.UpdatedAt.Equal(later) {
			t.Fatalf("name only: %+v, %v", u, err)
		}
		u, err = d.UpdateUser(ctx, "u1", chat.UserChange{SetImage: true}, later)
		if err != nil || u.Name != name || u.Image != nil {
			t.Fatalf("clear image: %+v, %v", u, err)
		}
		if stored, err := d.UserByID(ctx, "u1"); err != nil || stored.Image != nil || stored.Name != name {
			t.Fatalf("stored: %+v, %v", stored, err)
		}
		if _, err := d.UpdateUser(ctx, "nobody", chat.UserChange{Name: &name}, later); !errors.Is(err, chat.ErrNotFound) {
			t.Fatalf("unknown user: %v", err)
		}
	})
	t.Run("set password", func(t *testing.T) {
		if err := d.SetPassword(ctx, "u1", "new-hash", clk.Now()); err != nil {
			t.Fatal(err)
		}
		if _, h, err := d.UserByEmail(ctx, "u1@example.com"); err != nil || h != "new-hash" {
			t.Fatalf("hash %q, %v", h, err)
		}
		if _, h, _ := d.UserByEmail(ctx, "u2@example.com"); h != "old-hash" {
			t.Fatalf("other user's hash changed: %q", h)
		}
		if err := d.SetPassword(ctx, "nobody", "x", clk.Now()); !errors.Is(err, chat.ErrNotFound) {
			t.Fatalf("unknown user: %v", err)
		}
	})
}
