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
	"runtime"
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
)

// RateLimitError is returned by SignIn when the brute-force limiter refuses
// an attempt. errors.Is(err, ErrTooManyRequests) holds.
type RateLimitError struct {
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("auth: too many requests, retry after %s", e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrTooManyRequests) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrTooManyRequests }

// Store is the part of chat.Store the auth core needs. Keeping it small lets the
// unit tests use an in-memory fake.
type Store interface {
	CreateUser(ctx context.Context, u chat.User, passwordHash string) error
	UserByEmail(ctx context.Context, email string) (chat.User, string, error)
	CreateSession(ctx context.Context, s chat.Session) error
	SessionByTokenHash(ctx context.Context, tokenHash string) (chat.Session, chat.User, error)
	ExtendSession(ctx context.Context, id string, expiresAt, updatedAt time.Time) error
	DeleteSession(ctx context.Context, tokenHash string) error
}

// Defaults from http-api.md § Auth and Better Auth's own defaults.
const (
	DefaultSessionTTL = 7 * 24 * time.Hour
	DefaultUpdateAge  = 24 * time.Hour
	// dontRememberTTL is the lifetime of a rememberMe:false session; Better
	// Auth fixes it at one day and never extends it.
	dontRememberTTL = 24 * time.Hour
	// MinSecretLen is the shortest --secret accepted (Better Auth asks for 32).
	MinSecretLen = 32
)

// Config tunes the Service. Zero values take the documented defaults.
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
	// Now is the clock (time.Now); tests inject their own.
	Now func() time.Time
	// ClientIP names the client of a request for the limiter and the
	// session's ipAddress. The default is the TCP peer address, which cannot
	// be spoofed; behind a proxy pass one that reads its header.
	ClientIP func(*http.Request) string
	// Scrypt is the cost of new password hashes (DefaultScrypt). Tests use
	// a cheap one; existing hashes keep the cost they were made with.
	Scrypt ScryptParams
	// MaxConcurrentHashes bounds simultaneous scrypt runs, each of which
	// takes 128·N·r bytes (32 MiB by default) (2×GOMAXPROCS).
	MaxConcurrentHashes int
	// Limits configures the brute-force limiter on sign-in.
	Limits Limits
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
	hashSem  chan struct{}
	dummyMu  sync.Mutex
	dummy    string // hash spent on unknown emails, made on first use
	scrypt   ScryptParams
	sessName string
	dontName string
	dataName string
}

// New builds a Service. It panics on an empty secret, which would make
// every cookie forgeable; SecretFromStore always yields one.
func New(store Store, cfg Config, log *slog.Logger) *Service {
	if len(cfg.Secret) == 0 {
		panic("auth.New: empty secret")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.UpdateAge <= 0 {
		cfg.UpdateAge = DefaultUpdateAge
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = PeerIP
	}
	if cfg.MaxConcurrentHashes <= 0 {
		cfg.MaxConcurrentHashes = 2 * runtime.GOMAXPROCS(0)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		store:   store,
		cfg:     cfg,
		log:     log,
		secret:  append([]byte(nil), cfg.Secret...),
		trusted: parseOrigins(cfg.TrustedOrigins),
		limiter: newLimiter(cfg.Limits.withDefaults()),
		hashSem: make(chan struct{}, cfg.MaxConcurrentHashes),
		scrypt:  cfg.Scrypt.withDefaults(),
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
