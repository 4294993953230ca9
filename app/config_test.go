package app

import (
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
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
