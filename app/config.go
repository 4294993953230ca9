package app

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wasmchannel/wasmchannel/auth"
	"github.com/wasmchannel/wasmchannel/db"
	"github.com/wasmchannel/wasmchannel/host"
)

// Config is everything `serve` can set. Start from DefaultConfig: the zero
// value has no rate limit and no socket caps.
type Config struct {
	Addr string
	// DBPath is the store: a SQLite file path or a postgres:// URL (db.Open).
	DBPath         string
	Codec          string // go | wasm | PATH.wasm
	Secret         string // generated and kept in the database when empty
	TrustedOrigins []string
	RateLimit      int // packets/s per user per room; 0 turns it off
	MaxPayload     int // largest decompressed payload, bytes
	HistoryCache   int // newest messages per room in memory; negative turns it off
	// MaxConnsPerUser and MaxConnsPerIP cap sockets (0 = unlimited).
	MaxConnsPerUser int
	MaxConnsPerIP   int
	// UpgradesPerUser and UpgradesPerIP are WebSocket upgrades a minute,
	// as many at once (0 = unlimited): every join and leave reaches the
	// whole room, so reconnecting in a loop must not be free.
	UpgradesPerUser int
	UpgradesPerIP   int
	// SendQueueBytes bounds each socket's unsent bytes.
	SendQueueBytes int
	// MaxBodyBytes caps every HTTP request body; MaxFrameBytes one
	// WebSocket frame (larger frames close the socket with 1009).
	MaxBodyBytes  int64
	MaxFrameBytes int
	// IdleGrace is how long an empty room keeps its codec instance.
	IdleGrace time.Duration
	// CodecWait bounds how long a waking room waits for a codec instance
	// before it runs on the Go codec until it sleeps (hub.Config).
	CodecWait time.Duration
	// MaxRoomsPerUser caps the rooms one user holds awake (0 = off).
	MaxRoomsPerUser int
	// UserPacketRate and UserByteRate are one user's budget across all
	// rooms, per second, besides RateLimit per room (0 = off).
	UserPacketRate int
	UserByteRate   int
	// MaxViolations refused frames within ViolationWindow close a socket
	// with 1008 (0 = off).
	MaxViolations   int
	ViolationWindow time.Duration

	// SQLiteSync is "full" (a commit is on disk before its echo) or
	// "normal" (db.Options.SQLiteSyncNormal: a power loss may lose the
	// last echoed commits; a process crash loses nothing).
	SQLiteSync string
	// SecureCookies marks cookies Secure, for a server behind HTTPS.
	SecureCookies bool
	// CookieDomain is the auth cookies' Domain (cross-subdomain); empty
	// leaves it out. CookieSameSite is lax, strict or none (none needs
	// SecureCookies).
	CookieDomain   string
	CookieSameSite string
	// PublicURL is the external base URL (https://chat.example.com), the
	// server's own origin for the Origin checks; empty takes it from Host.
	PublicURL string
	// TrustedProxies are CIDRs whose X-Forwarded-For, -Proto and -Host are
	// believed; empty believes nobody's (the TCP peer is the client).
	TrustedProxies []string
	// SessionSweep is how often sockets are checked against their sessions
	// and closed when the session has ended.
	SessionSweep time.Duration
	Pool         host.Config
	Version      string
	Log          *slog.Logger
	// AuthScrypt is the password-hash cost (tests use a cheap one).
	AuthScrypt *auth.ScryptParams
	// SignUpsPerIP and SessionsPerUser are auth's quotas per
	// auth.Limits.QuotaWindow (an hour): sign-ups per address and new
	// sessions per account, successful sign-ins included (0 = off).
	SignUpsPerIP    int
	SessionsPerUser int
	// SignInFailures locks out an (email, address) pair, with back-off;
	// SignInFailuresPerIP bounds one address's failures across emails;
	// both per auth.Limits.Window, 15 minutes (0 = off).
	SignInFailures      int
	SignInFailuresPerIP int
	// HashMemory is the bytes all running password hashes may take
	// together; HashQueue how many hashes may wait for it before the
	// answer is 503 with Retry-After.
	HashMemory int64
	HashQueue  int
	// ReadHeaderTimeout, ReadTimeout and IdleTimeout are the HTTP server's
	// timeouts, which drop slowloris clients and idle keep-alives.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	IdleTimeout       time.Duration
	// NATS joins a cluster (comma-separated nats:// URLs; needs a
	// PostgreSQL store); empty is one node. NodeID names this node (default
	// unique per process). app/cluster.go.
	NATS   string
	NodeID string
}

// DefaultConfig is the one source of the server's defaults: serve's flags
// (BindFlags), the test harness (internal/testenv) and bench load all start
// from it, so a test runs the server users run. README § Configuration
// lists the same values.
func DefaultConfig() Config {
	scrypt := auth.DefaultScrypt
	lim := auth.DefaultLimits()
	return Config{
		Addr:   "127.0.0.1:8080",
		DBPath: db.DefaultTarget,
		Codec:  "wasm",
		// 5 packets/s per user per room, as upstream's limiter.
		RateLimit: 5,
		// Upstream refused payloads of 1000 bytes and more.
		MaxPayload:      999,
		HistoryCache:    100, // as upstream's KV
		MaxConnsPerUser: 32,
		// Eight users' worth from one address; raise it (or 0) where many
		// users share an address (CGNAT, an office behind one NAT).
		MaxConnsPerIP: 256,
		// One reconnect a second per user after a burst that covers all
		// its sockets reconnecting at once; twice the address cap.
		UpgradesPerUser: 60,
		UpgradesPerIP:   512,
		SendQueueBytes:  1 << 20,
		MaxBodyBytes:    64 << 10,
		MaxFrameBytes:   64 << 10,
		IdleGrace:       30 * time.Second,
		// Issue 15: no room hangs on an exhausted pool, one account cannot
		// hold the pool or multiply the per-room limit across rooms, and a
		// socket that only sends refused frames is closed.
		CodecWait:       time.Second,
		MaxRoomsPerUser: 32, // as many as its sockets may be in
		UserPacketRate:  20, // four rooms at the per-room limit
		UserByteRate:    64 << 10,
		MaxViolations:   100,
		ViolationWindow: 10 * time.Second,
		// Issue 15: password hashing has a budget and a quota.
		SignUpsPerIP:        lim.SignUpsPerIP,
		SessionsPerUser:     lim.NewSessionsPerUser,
		SignInFailures:      lim.EmailFailures,
		SignInFailuresPerIP: lim.IPFailures,
		HashMemory:          auth.DefaultHashMemory,
		HashQueue:           auth.DefaultHashQueue,
		Pool:                host.DefaultConfig(),
		SessionSweep:        5 * time.Second,
		AuthScrypt:          &scrypt,
		CookieSameSite:      auth.DefaultSameSite,
		ReadHeaderTimeout:   5 * time.Second,
		ReadTimeout:         30 * time.Second,
		IdleTimeout:         90 * time.Second,
		// Issue 17: NORMAL is measured and offered, not the default.
		SQLiteSync: "full",
	}
}

// withDefaults fills, from DefaultConfig, the fields whose zero value means
// nothing (no address, a payload cap of 0, a 0s sweep), so that a Config
// literal still runs. Fields where zero is a choice (RateLimit, the socket
// caps, the upgrade rates and the auth quotas and lock-outs: off) are left
// as given.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setZero(&c.Addr, d.Addr)
	setZero(&c.DBPath, d.DBPath)
	setZero(&c.SQLiteSync, d.SQLiteSync)
	setZero(&c.Codec, d.Codec)
	setZero(&c.MaxPayload, d.MaxPayload)
	setZero(&c.HistoryCache, d.HistoryCache)
	setZero(&c.SendQueueBytes, d.SendQueueBytes)
	setZero(&c.MaxBodyBytes, d.MaxBodyBytes)
	setZero(&c.MaxFrameBytes, d.MaxFrameBytes)
	setZero(&c.IdleGrace, d.IdleGrace)
	setZero(&c.CodecWait, d.CodecWait)
	setZero(&c.ViolationWindow, d.ViolationWindow)
	setZero(&c.SessionSweep, d.SessionSweep)
	setZero(&c.HashMemory, d.HashMemory)
	setZero(&c.HashQueue, d.HashQueue)
	setZero(&c.CookieSameSite, d.CookieSameSite)
	setZero(&c.ReadHeaderTimeout, d.ReadHeaderTimeout)
	setZero(&c.ReadTimeout, d.ReadTimeout)
	setZero(&c.IdleTimeout, d.IdleTimeout)
	if c.AuthScrypt == nil {
		c.AuthScrypt = d.AuthScrypt
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return c
}

func setZero[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Validate refuses settings no server can run with, with the flag's name.
func (c Config) Validate() error {
	var errs []error
	if c.MaxPayload < 1 {
		errs = append(errs, errors.New("--max-payload must be at least 1"))
	}
	for _, v := range []struct {
		flag string
		n    int
	}{
		{"--rate-limit", c.RateLimit}, {"--max-conns-per-user", c.MaxConnsPerUser}, {"--max-conns-per-ip", c.MaxConnsPerIP},
		{"--max-rooms-per-user", c.MaxRoomsPerUser}, {"--user-packet-rate", c.UserPacketRate}, {"--user-byte-rate", c.UserByteRate},
		{"--max-violations", c.MaxViolations}, {"--upgrades-per-user", c.UpgradesPerUser}, {"--upgrades-per-ip", c.UpgradesPerIP},
		{"--signups-per-ip", c.SignUpsPerIP}, {"--sessions-per-user", c.SessionsPerUser},
		{"--signin-failures", c.SignInFailures}, {"--signin-failures-per-ip", c.SignInFailuresPerIP},
		{"--hash-queue", c.HashQueue},
	} {
		if v.n < 0 {
			errs = append(errs, fmt.Errorf("%s must be 0 (off) or more", v.flag))
		}
	}
	if c.HashMemory < 0 {
		errs = append(errs, errors.New("--hash-memory must not be negative"))
	}
	switch {
	case c.SQLiteSync != "full" && c.SQLiteSync != "normal":
		errs = append(errs, fmt.Errorf("--sqlite-sync must be full or normal, not %q", c.SQLiteSync))
	case c.SQLiteSync == "normal" && db.IsPostgres(c.DBPath):
		errs = append(errs, errors.New("--sqlite-sync normal needs a SQLite --db"))
	}
	if c.Pool.MaxInstances < 0 {
		errs = append(errs, errors.New("--codec-instances must not be negative"))
	}
	if s := c.AuthScrypt; s != nil && (s.LogN < 1 || s.LogN > 20) {
		errs = append(errs, errors.New("--scrypt-log-n must be 1 to 20"))
	}
	if _, err := c.publicURL(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.trustedProxies(); err != nil {
		errs = append(errs, err)
	}
	if err := c.validateCluster(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// publicURL parses PublicURL: nil when unset.
func (c Config) publicURL() (*url.URL, error) {
	if c.PublicURL == "" {
		return nil, nil
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("--public-url %q: want http(s)://host[:port], the address users open", c.PublicURL)
	}
	return &url.URL{Scheme: u.Scheme, Host: strings.ToLower(u.Host)}, nil
}

// trustedProxies parses TrustedProxies; a bare address is a /32 or /128.
func (c Config) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.TrustedProxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("--trusted-proxies %q: want CIDRs such as 10.0.0.0/8 or addresses", s)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// BindFlags defines serve's flags on fs. Each flag's default is cfg's
// current value (start from DefaultConfig) and parsing writes into cfg.
// ParseFlags adds the WASMCHANNEL_* environment variables.
func BindFlags(fs *flag.FlagSet, cfg *Config) {
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address")
	fs.StringVar(&cfg.DBPath, "db", cfg.DBPath, "store: a SQLite file (created and migrated on start) or a postgres:// URL")
	fs.StringVar(&cfg.SQLiteSync, "sqlite-sync", cfg.SQLiteSync, "SQLite durability: full (a message is on disk before its echo) or normal (no fsync per commit; a power loss or OS crash may lose the last echoed messages, a process crash loses none)")
	fs.StringVar(&cfg.Codec, "codec", cfg.Codec, "codec: "+CodecSpecHelp)
	fs.StringVar(&cfg.Secret, "secret", cfg.Secret, "session-signing secret, at least 32 bytes (default: generated once and kept in the database)")
	fs.Var((*listValue)(&cfg.TrustedOrigins), "trusted-origins", "comma-separated extra trusted origins for the CSRF and WebSocket Origin checks")
	fs.IntVar(&cfg.RateLimit, "rate-limit", cfg.RateLimit, "packets per second per user per room (0 = off)")
	fs.IntVar(&cfg.MaxPayload, "max-payload", cfg.MaxPayload, "largest decompressed payload accepted, in bytes")
	fs.IntVar(&cfg.HistoryCache, "history-cache", cfg.HistoryCache, "newest messages per room kept in memory")
	fs.IntVar(&cfg.MaxConnsPerUser, "max-conns-per-user", cfg.MaxConnsPerUser, "open WebSockets per user (0 = unlimited)")
	fs.IntVar(&cfg.MaxConnsPerIP, "max-conns-per-ip", cfg.MaxConnsPerIP, "open WebSockets per client IP (0 = unlimited; raise it where many users share an address)")
	fs.IntVar(&cfg.UpgradesPerUser, "upgrades-per-user", cfg.UpgradesPerUser, "WebSocket upgrades per user per minute, as many at once (0 = unlimited)")
	fs.IntVar(&cfg.UpgradesPerIP, "upgrades-per-ip", cfg.UpgradesPerIP, "WebSocket upgrades per client IP (IPv6 /64) per minute, as many at once (0 = unlimited)")
	fs.DurationVar(&cfg.IdleGrace, "idle-grace", cfg.IdleGrace, "how long an empty room keeps its codec instance")
	fs.IntVar(&cfg.Pool.MaxInstances, "codec-instances", cfg.Pool.MaxInstances, "WASM codec instances alive at most (one per awake room); a room that finds none within a second runs on the Go codec")
	fs.IntVar(&cfg.MaxRoomsPerUser, "max-rooms-per-user", cfg.MaxRoomsPerUser, "rooms one user may hold awake (0 = unlimited)")
	fs.IntVar(&cfg.UserPacketRate, "user-packet-rate", cfg.UserPacketRate, "packets per second per user across all rooms (0 = off)")
	fs.IntVar(&cfg.UserByteRate, "user-byte-rate", cfg.UserByteRate, "bytes per second per user across all rooms (0 = off)")
	fs.IntVar(&cfg.MaxViolations, "max-violations", cfg.MaxViolations, "refused frames within 10s that close a socket with 1008 (0 = off)")
	fs.BoolVar(&cfg.SecureCookies, "secure-cookies", cfg.SecureCookies, "mark cookies Secure (set when served over HTTPS)")
	fs.StringVar(&cfg.CookieDomain, "cookie-domain", cfg.CookieDomain, "Domain of the auth cookies, to share a sign-in with sibling subdomains (e.g. example.com)")
	fs.StringVar(&cfg.CookieSameSite, "cookie-samesite", cfg.CookieSameSite, "SameSite of the auth cookies: lax, strict or none (none needs --secure-cookies)")
	fs.StringVar(&cfg.PublicURL, "public-url", cfg.PublicURL, "external base URL users open (https://chat.example.com): the server's own origin for the Origin checks, whatever Host a proxy sends")
	fs.Var((*listValue)(&cfg.TrustedProxies), "trusted-proxies", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For, -Proto and -Host are believed")
	fs.IntVar(&cfg.SignUpsPerIP, "signups-per-ip", cfg.SignUpsPerIP, "sign-ups per client IP (IPv6 /64) per hour (0 = off)")
	fs.IntVar(&cfg.SessionsPerUser, "sessions-per-user", cfg.SessionsPerUser, "new sessions per account per hour, successful sign-ins included (0 = off)")
	fs.IntVar(&cfg.SignInFailures, "signin-failures", cfg.SignInFailures, "failed sign-ins per email and client IP within 15 minutes before that pair is locked out, with back-off (0 = off)")
	fs.IntVar(&cfg.SignInFailuresPerIP, "signin-failures-per-ip", cfg.SignInFailuresPerIP, "failed sign-ins per client IP within 15 minutes, whatever the emails (0 = off)")
	fs.Var(mebibytes{&cfg.HashMemory}, "hash-memory", "MiB all running password hashes may take together (one takes 32 MiB at --scrypt-log-n 14)")
	fs.IntVar(&cfg.HashQueue, "hash-queue", cfg.HashQueue, "password hashes that may wait for --hash-memory; one more is answered 503 with Retry-After")
	if cfg.AuthScrypt == nil {
		s := auth.DefaultScrypt
		cfg.AuthScrypt = &s
	}
	bindClusterFlags(fs, cfg)
	fs.Var(scryptLogN{cfg.AuthScrypt}, "scrypt-log-n", "password hash cost, scrypt N=2^n (14 as Better Auth; lower it only for load tests that sign up thousands of users)")
}

// ParseFlags parses args after giving every flag an environment variable
// WASMCHANNEL_<NAME> (dashes become underscores): the command line wins
// over the environment, which wins over the default.
func ParseFlags(fs *flag.FlagSet, args []string) error {
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		key := EnvName(f.Name)
		if v, ok := os.LookupEnv(key); ok {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", key, v, err))
			}
			f.DefValue = v
		}
	})
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return fs.Parse(args)
}

// EnvName is the environment variable that sets flag name.
func EnvName(name string) string {
	return "WASMCHANNEL_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// listValue is a comma-separated flag (SplitList).
type listValue []string

func (l *listValue) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

func (l *listValue) Set(s string) error {
	*l = SplitList(s)
	return nil
}

// mebibytes is a byte count set and shown in MiB.
type mebibytes struct{ p *int64 }

func (v mebibytes) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.FormatInt(*v.p>>20, 10)
}

func (v mebibytes) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 || n > 1<<20 {
		return errors.New("want a whole number of MiB, at least 1")
	}
	*v.p = n << 20
	return nil
}

// authLimits is auth's Limits for c: a count of 0 (off) becomes auth.Off,
// since a zero there takes auth's default.
func (c Config) authLimits() auth.Limits {
	off := func(n int) int {
		if n == 0 {
			return auth.Off
		}
		return n
	}
	return auth.Limits{
		EmailFailures:      off(c.SignInFailures),
		IPFailures:         off(c.SignInFailuresPerIP),
		SignUpsPerIP:       off(c.SignUpsPerIP),
		NewSessionsPerUser: off(c.SessionsPerUser),
	}
}

// scryptLogN sets the scrypt cost exponent in place.
type scryptLogN struct{ p *auth.ScryptParams }

func (v scryptLogN) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.Itoa(int(v.p.LogN))
}

func (v scryptLogN) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil || n < 1 || n > 20 {
		return errors.New("want an integer from 1 to 20")
	}
	v.p.LogN = uint8(n)
	return nil
}

// SplitList splits a comma-separated flag value, dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
