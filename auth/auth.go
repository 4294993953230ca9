// Package auth is the Better Auth–compatible account core: password hashing,
// signed session cookies, bearer tokens, the Origin (CSRF) check and the
// brute-force limiter. The HTTP shapes live in handlers/auth.go; this package
// owns the rules and talks to storage only through Store.
//
// Session tokens are stored only as SHA-256 hashes, so a leaked copy of the
// sessions table cannot be used to sign in. Tokens, cookies, passwords and
// the secret are never logged.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
)

// Sentinel errors; check them with errors.Is.
var (
	ErrUnauthenticated = errors.New("auth: not signed in")
	// ErrSessionGone is a correctly signed token whose session has expired
	// or been revoked; errors.Is(err, ErrUnauthenticated) holds too.
	ErrSessionGone         = fmt.Errorf("%w: session expired or revoked", ErrUnauthenticated)
	ErrUserExists          = errors.New("auth: user already exists")
	ErrInvalidCredentials  = errors.New("auth: invalid email or password")
	ErrInvalidEmail        = errors.New("auth: invalid email")
	ErrPasswordTooShort    = errors.New("auth: password too short")
	ErrPasswordTooLong     = errors.New("auth: password too long")
	ErrMissingOrigin       = errors.New("auth: missing or null origin")
	ErrInvalidOrigin       = errors.New("auth: invalid origin")
	ErrCrossSiteNavigation = errors.New("auth: cross-site navigation login blocked")
	ErrInvalidCallbackURL  = errors.New("auth: invalid callback url")
	ErrTooManyRequests     = errors.New("auth: too many requests")
	ErrWeakSecret          = errors.New("auth: secret too short")
	// ErrInvalidPassword is a wrong current password on change-password
	// (Better Auth's 400 INVALID_PASSWORD, not a sign-in failure).
	ErrInvalidPassword = errors.New("auth: invalid password")
	// ErrNothingToUpdate is an update-user request that names no field.
	ErrNothingToUpdate = errors.New("auth: no fields to update")
)

// RateLimitError is returned when a limit refuses a request: the
// brute-force limiter on sign-in, sign-ups per address, or new sessions per
// account. errors.Is(err, ErrTooManyRequests) holds; answer 429 with
// Retry-After.
type RateLimitError struct {
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("auth: too many requests, retry after %s", e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrTooManyRequests) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrTooManyRequests }

// Store is the part of chat.Store the auth core needs, so that what it
// depends on is visible in one place.
type Store interface {
	CreateUser(ctx context.Context, u chat.User, passwordHash string) error
	UserByEmail(ctx context.Context, email string) (chat.User, string, error)
	UpdateUser(ctx context.Context, id string, ch chat.UserChange, updatedAt time.Time) (chat.User, error)
	SetPassword(ctx context.Context, userID, passwordHash string, updatedAt time.Time) error
	CreateSession(ctx context.Context, s chat.Session) error
	SessionByTokenHash(ctx context.Context, tokenHash string) (chat.Session, chat.User, error)
	SessionsByUser(ctx context.Context, userID string) ([]chat.Session, error)
	ExtendSession(ctx context.Context, id string, expiresAt, updatedAt time.Time) error
	DeleteSession(ctx context.Context, tokenHash string) error
	DeleteUserSessions(ctx context.Context, userID string) error
	DeleteOtherSessions(ctx context.Context, userID, keepTokenHash string) error
}

// Fixed by Better Auth's behaviour rather than by configuration.
const (
	// dontRememberTTL is the lifetime of a rememberMe:false session; Better
	// Auth fixes it at one day and never extends it.
	dontRememberTTL = 24 * time.Hour
	// MinSecretLen is the shortest --secret accepted (Better Auth asks for 32).
	MinSecretLen = 32
)

// Defaults of Config, from http-api.md § Auth and Better Auth's own
// defaults; DefaultConfig is the one place they are gathered.
const (
	DefaultSessionTTL = 7 * 24 * time.Hour
	DefaultUpdateAge  = 24 * time.Hour
	// DefaultHashMemory is two scrypt runs at DefaultScrypt's 32 MiB: a
	// budget fixed in bytes, so a bigger machine does not hash more at once.
	DefaultHashMemory = 64 << 20
	// DefaultHashQueue is how many hashes may wait for the budget; one more
	// gets ErrBusy at once rather than queueing without bound.
	DefaultHashQueue = 32
	// DefaultHashWait bounds the wait in the queue (ErrBusy after it).
	DefaultHashWait = 5 * time.Second
	// DefaultBusyRetryAfter is the Retry-After sent with ErrBusy.
	DefaultBusyRetryAfter = 2 * time.Second
	// DefaultSameSite is the SameSite attribute of auth cookies, as Better
	// Auth sets it.
	DefaultSameSite = "lax"
)

// Config tunes the Service. Start from DefaultConfig; New also fills zero
// fields from it.
type Config struct {
	// Secret keys the HMAC of session cookies; at least MinSecretLen bytes.
	Secret []byte
	// TrustedOrigins are accepted by the Origin check besides the server's
	// own origin, e.g. "https://chat.example.com". A "*" matches any run of
	// characters, as in "https://*.example.com".
	TrustedOrigins []string
	// SessionTTL is how long a session lives (7 days).
	SessionTTL time.Duration
	// UpdateAge is how old a session's last extension must be before use
	// extends it again (1 day).
	UpdateAge time.Duration
	// Secure marks cookies Secure and gives them Better Auth's "__Secure-"
	// name prefix; set it when the server is reached over HTTPS.
	Secure bool
	// CookieDomain, when set, is the Domain attribute of every auth cookie,
	// so one sign-in serves sibling subdomains (Better Auth's
	// crossSubDomainCookies), e.g. "example.com".
	CookieDomain string
	// SameSite is "lax" (default), "strict" or "none". "none" lets a front
	// end on another site send the cookie, and browsers accept it only
	// with Secure, so Validate refuses it without Secure.
	SameSite string
	// Now is the clock (time.Now); tests inject their own.
	Now func() time.Time
	// ClientIP names the client of a request for the limiter and the
	// session's ipAddress. The default is the TCP peer address, which cannot
	// be spoofed; behind a proxy pass one that reads its header.
	ClientIP func(*http.Request) string
	// Scrypt is the cost of new password hashes (DefaultScrypt). Tests use
	// a cheap one; existing hashes keep the cost they were made with.
	Scrypt ScryptParams
	// HashMemory is the memory budget in bytes shared by all running
	// scrypt hashes, each of which takes 128·N·r bytes (DefaultHashMemory).
	HashMemory int64
	// HashQueue is how many hashes may wait for that budget
	// (DefaultHashQueue); HashWait bounds each wait (DefaultHashWait).
	HashQueue int
	HashWait  time.Duration
	// BusyRetryAfter is what ErrBusy tells clients to wait.
	BusyRetryAfter time.Duration
	// Limits configures the sign-in, sign-up and new-session limits.
	Limits Limits
}

// DefaultConfig is the production configuration without a secret.
func DefaultConfig() Config {
	return Config{
		SessionTTL:     DefaultSessionTTL,
		UpdateAge:      DefaultUpdateAge,
		SameSite:       DefaultSameSite,
		Scrypt:         DefaultScrypt,
		HashMemory:     DefaultHashMemory,
		HashQueue:      DefaultHashQueue,
		HashWait:       DefaultHashWait,
		BusyRetryAfter: DefaultBusyRetryAfter,
		Limits:         DefaultLimits(),
	}
}

// ErrConfig wraps every problem Validate finds.
var ErrConfig = errors.New("auth: invalid configuration")

// Validate reports a configuration New would refuse, with a message meant
// for the operator who set it. Call it at start-up, before New.
func (c Config) Validate() error {
	if len(c.Secret) == 0 {
		return fmt.Errorf("%w: empty secret", ErrConfig)
	}
	ss, err := parseSameSite(c.SameSite)
	if err != nil {
		return err
	}
	if ss == http.SameSiteNoneMode && !c.Secure {
		return fmt.Errorf("%w: SameSite=None cookies need Secure cookies (HTTPS; --secure-cookies): browsers drop a SameSite=None cookie that is not Secure", ErrConfig)
	}
	if c.CookieDomain != "" && !validCookieDomain(c.CookieDomain) {
		return fmt.Errorf("%w: cookie domain %q is not a host name such as \"example.com\"", ErrConfig, c.CookieDomain)
	}
	if c.HashMemory < 0 || c.HashQueue < 0 || c.HashWait < 0 {
		return fmt.Errorf("%w: negative password-hash budget", ErrConfig)
	}
	return nil
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.SessionTTL <= 0 {
		c.SessionTTL = d.SessionTTL
	}
	if c.UpdateAge <= 0 {
		c.UpdateAge = d.UpdateAge
	}
	if c.SameSite == "" {
		c.SameSite = d.SameSite
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ClientIP == nil {
		c.ClientIP = PeerIP
	}
	c.Scrypt = c.Scrypt.withDefaults()
	if c.HashMemory <= 0 {
		c.HashMemory = d.HashMemory
	}
	if c.HashQueue <= 0 {
		c.HashQueue = d.HashQueue
	}
	if c.HashWait <= 0 {
		c.HashWait = d.HashWait
	}
	if c.BusyRetryAfter <= 0 {
		c.BusyRetryAfter = d.BusyRetryAfter
	}
	c.Limits = c.Limits.withDefaults()
	return c
}

// Identity is who a request belongs to.
type Identity struct {
	User    chat.User
	Session chat.Session
	// Token is the raw session token the client holds, as Better Auth
	// returns it in session.token. Never log it.
	Token string
	// Refreshed is set when this request extended the session, so a route
	// that can set cookies should send a fresh one.
	Refreshed bool
	// DontRemember is set when the client signed in with rememberMe:false.
	DontRemember bool
}

// Service is the auth core. It is safe for concurrent use.
type Service struct {
	store    Store
	cfg      Config
	log      *slog.Logger
	secret   []byte
	trusted  []originPattern
	limiter  *limiter
	hashes   *hashBudget
	sameSite http.SameSite
	dummyMu  sync.Mutex
	dummy    string // hash spent on unknown emails, made on first use
	scrypt   ScryptParams
	sessName string
	dontName string
	dataName string
}

// New builds a Service. It panics on a configuration Validate refuses
// (an empty secret would make every cookie forgeable); call Validate first
// to report it properly.
func New(store Store, cfg Config, log *slog.Logger) *Service {
	if err := cfg.Validate(); err != nil {
		panic("auth.New: " + err.Error())
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sameSite, _ := parseSameSite(cfg.SameSite)
	s := &Service{
		store:    store,
		cfg:      cfg,
		log:      log,
		secret:   append([]byte(nil), cfg.Secret...),
		trusted:  parseOrigins(cfg.TrustedOrigins),
		limiter:  newLimiter(cfg.Limits),
		hashes:   newHashBudget(cfg.HashMemory, cfg.HashQueue, cfg.HashWait, cfg.BusyRetryAfter),
		sameSite: sameSite,
		scrypt:   cfg.Scrypt,
	}
	prefix := ""
	if cfg.Secure {
		prefix = securePrefix
	}
	s.sessName = prefix + SessionCookieName
	s.dontName = prefix + dontRememberCookieName
	s.dataName = prefix + sessionDataCookieName
	// Made now rather than on the first unknown email, so that first
	// sign-in is not slower than the others. On failure dummyHash retries.
	_, _ = s.dummyHash()
	return s
}

// Logger is the logger the Service was built with, so the auth routes log
// failures through the same handler.
func (s *Service) Logger() *slog.Logger { return s.log }

// now is the injected clock in UTC, cut to milliseconds so what is stored
// equals what JSON shows (JavaScript dates carry milliseconds).
func (s *Service) now() time.Time {
	return s.cfg.Now().UTC().Truncate(time.Millisecond)
}

// PeerIP is the default Config.ClientIP: the host part of r.RemoteAddr.
func PeerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
