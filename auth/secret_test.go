package auth

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/db/sqlite"
)

func TestSecretConfiguredWins(t *testing.T) {
	store := openStore(t, time.Now)
	const configured = "a-configured-secret-of-enough-length!"
	got, err := SecretFromStore(context.Background(), store, configured)
	if err != nil || string(got) != configured {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := store.Setting(context.Background(), SecretSetting); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("a configured secret must not be written to the database: %v", err)
	}
}

func TestSecretTooShort(t *testing.T) {
	if _, err := SecretFromStore(context.Background(), openStore(t, time.Now), "short"); !errors.Is(err, ErrWeakSecret) {
		t.Fatalf("err = %v, want ErrWeakSecret", err)
	}
}

func TestSecretCorruptSetting(t *testing.T) {
	store := openStore(t, time.Now)
	if err := store.PutSetting(context.Background(), SecretSetting, "not hex"); err != nil {
		t.Fatal(err)
	}
	if _, err := SecretFromStore(context.Background(), store, ""); err == nil {
		t.Fatal("corrupt stored secret accepted")
	}
}

// TestSecretSurvivesRestart uses a real database file: the generated secret
// is the same after closing and reopening it, so a session cookie issued
// before a restart still verifies after it.
func TestSecretSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "secret.db")
	open := func() *sqlite.DB {
		d, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d1 := open()
	s1, err := SecretFromStore(ctx, d1, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(s1) != 32 {
		t.Fatalf("generated secret is %d bytes, want 32", len(s1))
	}
	again, err := SecretFromStore(ctx, d1, "")
	if err != nil || !bytes.Equal(again, s1) {
		t.Fatalf("second call gave a different secret: %v", err)
	}
	signed := Sign(s1, "tok")
	if err := d1.Close(); err != nil {
		t.Fatal(err)
	}
	d2 := open()
	defer d2.Close()
	s2, err := SecretFromStore(ctx, d2, "")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s1, s2) {
		t.Fatal("secret changed across a restart")
	}
	if tok, ok := Verify(s2, signed); !ok || tok != "tok" {
		t.Fatal("a cookie signed before the restart no longer verifies")
	}
	other, err := SecretFromStore(ctx, openStore(t, time.Now), "")
	if err != nil || bytes.Equal(other, s1) {
		t.Fatalf("two databases share a secret: %v", err)
	}
}
