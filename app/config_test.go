package app

import (
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/wasmchannel/wasmchannel/auth"
)

func parse(t *testing.T, args ...string) (Config, error) {
	t.Helper()
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	BindFlags(fs, &cfg)
	return cfg, ParseFlags(fs, args)
}

// TestFlagsDefaultToDefaultConfig: serve with no flags runs DefaultConfig.
func TestFlagsDefaultToDefaultConfig(t *testing.T) {
	got, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	if *got.AuthScrypt != *want.AuthScrypt {
		t.Fatalf("scrypt %+v, want %+v", *got.AuthScrypt, *want.AuthScrypt)
	}
	got.AuthScrypt, want.AuthScrypt = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("flags without values:\n%+v\nwant DefaultConfig:\n%+v", got, want)
	}
}

// TestFlagsEnvironment: a flag beats its environment variable, which beats
// the default; a bad value names the variable.
func TestFlagsEnvironment(t *testing.T) {
	t.Setenv("WASMCHANNEL_RATE_LIMIT", "7")
	t.Setenv("WASMCHANNEL_TRUSTED_ORIGINS", "https://a.example, ,https://*.b.example")
	cfg, err := parse(t)
	if err != nil || cfg.RateLimit != 7 || !reflect.DeepEqual(cfg.TrustedOrigins, []string{"https://a.example", "https://*.b.example"}) {
		t.Fatalf("from the environment: %v %d %q", err, cfg.RateLimit, cfg.TrustedOrigins)
	}
	if cfg, err = parse(t, "--rate-limit", "9"); err != nil || cfg.RateLimit != 9 {
		t.Fatalf("flag over environment: %v %d", err, cfg.RateLimit)
	}
	t.Setenv("WASMCHANNEL_SCRYPT_LOG_N", "40")
	if _, err := parse(t); err == nil || !strings.Contains(err.Error(), "WASMCHANNEL_SCRYPT_LOG_N") {
		t.Fatalf("bad environment value: %v", err)
	}
}

// TestZeroConfigFills: a Config literal gets the values that have no
// meaning at zero, and keeps the limits that zero turns off.
func TestZeroConfigFills(t *testing.T) {
	c := Config{}.withDefaults()
	d := DefaultConfig()
	if c.Addr != d.Addr || c.MaxPayload != d.MaxPayload || c.SessionSweep != d.SessionSweep || c.AuthScrypt == nil || c.MaxFrameBytes != d.MaxFrameBytes {
		t.Fatalf("zero Config filled to %+v", c)
	}
	if c.RateLimit != 0 || c.MaxConnsPerUser != 0 || c.UserPacketRate != 0 || c.MaxViolations != 0 {
		t.Fatalf("zero limits changed: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.MaxRoomsPerUser = -1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--max-rooms-per-user") {
		t.Fatalf("negative cap: %v", err)
	}
}

// TestAuthLimitFlags: every auth limit is a serve flag whose default is
// auth's, and 0 turns that one limit off (auth.Off) rather than falling
// back to auth's default.
func TestAuthLimitFlags(t *testing.T) {
	def, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	lim := auth.DefaultLimits()
	if got := def.authLimits(); got.EmailFailures != lim.EmailFailures || got.IPFailures != lim.IPFailures ||
		got.SignUpsPerIP != lim.SignUpsPerIP || got.NewSessionsPerUser != lim.NewSessionsPerUser {
		t.Fatalf("default auth limits %+v, want auth's %+v", got, lim)
	}
	if def.HashMemory != auth.DefaultHashMemory || def.HashQueue != auth.DefaultHashQueue {
		t.Fatalf("hash budget %d/%d, want auth's", def.HashMemory, def.HashQueue)
	}
	c, err := parse(t, "--signups-per-ip", "0", "--sessions-per-user", "7", "--signin-failures", "0",
		"--signin-failures-per-ip", "9", "--hash-memory", "128", "--hash-queue", "4", "--upgrades-per-user", "0", "--upgrades-per-ip", "5")
	if err != nil {
		t.Fatal(err)
	}
	got := c.authLimits()
	if got.SignUpsPerIP != auth.Off || got.NewSessionsPerUser != 7 || got.EmailFailures != auth.Off || got.IPFailures != 9 {
		t.Fatalf("auth limits from flags: %+v", got)
	}
	if c.HashMemory != 128<<20 || c.HashQueue != 4 || c.UpgradesPerUser != 0 || c.UpgradesPerIP != 5 {
		t.Fatalf("from flags: memory %d queue %d upgrades %d/%d", c.HashMemory, c.HashQueue, c.UpgradesPerUser, c.UpgradesPerIP)
	}
	if _, err := parse(t, "--hash-memory", "0"); err == nil {
		t.Fatal("--hash-memory 0 accepted")
	}
	if _, err := parse(t, "--upgrades-per-ip", "-1"); err != nil {
		t.Fatal(err)
	}
	c.UpgradesPerIP = -1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--upgrades-per-ip") {
		t.Fatalf("negative upgrade rate: %v", err)
	}
}

// TestSQLiteSyncFlag: --sqlite-sync is full unless asked, takes only full
// or normal, and normal needs a SQLite store.
func TestSQLiteSyncFlag(t *testing.T) {
	if cfg, err := parse(t); err != nil || cfg.SQLiteSync != "full" {
		t.Fatalf("default: %q, %v", cfg.SQLiteSync, err)
	}
	if cfg, err := parse(t, "--sqlite-sync", "normal"); err != nil || cfg.SQLiteSync != "normal" || cfg.Validate() != nil {
		t.Fatalf("normal: %q, %v, %v", cfg.SQLiteSync, err, cfg.Validate())
	}
	cfg, _ := parse(t, "--sqlite-sync", "off")
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--sqlite-sync") {
		t.Fatalf("off: %v", err)
	}
	cfg, _ = parse(t, "--sqlite-sync", "normal", "--db", "postgres://u@127.0.0.1/x")
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--sqlite-sync normal") {
		t.Fatalf("normal on PostgreSQL: %v", err)
	}
}
