package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/scrypt"
	"golang.org/x/text/unicode/norm"
)

// ScryptParams is the cost of a password hash. Memory per hash is 128·2^LogN·R bytes.
type ScryptParams struct {
	LogN uint8 // CPU/memory cost as a power of two
	R    int   // block size
	P    int   // parallelism
}

// DefaultScrypt matches Better Auth's cost (N=16384, r=16, p=1: 32 MiB,
// tens of milliseconds per hash), so a login costs the same on both servers.
var DefaultScrypt = ScryptParams{LogN: 14, R: 16, P: 1}

// TestScrypt is a deliberately weak cost (2 KiB, microseconds) for tests
// and load generators, so that they exercise the real hashing path without
// spending 32 MiB and tens of milliseconds per sign-in. Never serve users
// with it. It is the one such cost; tests elsewhere use it too.
var TestScrypt = ScryptParams{LogN: 4, R: 1, P: 1}

// Bounds on parameters read back from stored hashes, so a corrupted row
// cannot make one sign-in allocate gigabytes.
const (
	maxLogN      = 20
	maxR         = 32
	maxP         = 16
	scryptKeyLen = 64
	scryptSalt   = 16
)

var errBadHash = errors.New("auth: malformed password hash")

// deriveKey is scrypt.Key; a test swaps it to count how much hashing a
// sign-in does.
var deriveKey = scrypt.Key

func (p ScryptParams) withDefaults() ScryptParams {
	if p.LogN == 0 || p.R <= 0 || p.P <= 0 {
		return DefaultScrypt
	}
	return p
}

// Memory is the bytes one hash at this cost allocates (128·N·r, the V
// array that dominates scrypt's memory), what the hashing budget counts.
func (p ScryptParams) Memory() int64 {
	return 128 * int64(p.R) << p.LogN
}

func (p ScryptParams) valid() bool {
	return p.LogN >= 1 && p.LogN <= maxLogN && p.R >= 1 && p.R <= maxR && p.P >= 1 && p.P <= maxP
}

// b64 is the PHC string encoding: standard alphabet, no padding.
var b64 = base64.RawStdEncoding

// HashPassword returns a self-describing scrypt hash of password:
// "$scrypt$ln=14,r=16,p=1$<salt>$<key>" with a fresh 16-byte salt. The
// password is NFKC-normalised first, as Better Auth does, so the same
// characters typed on different keyboards give the same hash.
func HashPassword(password string, p ScryptParams) (string, error) {
	p = p.withDefaults()
	if !p.valid() {
		return "", fmt.Errorf("hash password: scrypt parameters out of range: %+v", p)
	}
	salt := make([]byte, scryptSalt)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: salt: %w", err)
	}
	key, err := deriveKey([]byte(norm.NFKC.String(password)), salt, 1<<p.LogN, p.R, p.P, scryptKeyLen)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return fmt.Sprintf("$scrypt$ln=%d,r=%d,p=%d$%s$%s", p.LogN, p.R, p.P, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches hash, comparing in
// constant time. It also accepts Better Auth's own "hexsalt:hexkey" format
// (N=16384, r=16, p=1, the hex salt string used as the salt bytes), so
// accounts exported from a Better Auth database keep working.
func VerifyPassword(hash, password string) (bool, error) {
	ph, err := parseHash(hash)
	if err != nil {
		return false, err
	}
	return ph.verify(password)
}

// parsedHash is a stored hash split into its parts.
type parsedHash struct {
	p          ScryptParams
	salt, want []byte
}

func parseHash(hash string) (parsedHash, error) {
	var ph parsedHash
	var err error
	if strings.HasPrefix(hash, "$scrypt$") {
		ph.p, ph.salt, ph.want, err = parsePHC(hash)
	} else {
		ph.p, ph.salt, ph.want, err = parseBetterAuth(hash)
	}
	return ph, err
}

func (ph parsedHash) verify(password string) (bool, error) {
	got, err := deriveKey([]byte(norm.NFKC.String(password)), ph.salt, 1<<ph.p.LogN, ph.p.R, ph.p.P, len(ph.want))
	if err != nil {
		return false, fmt.Errorf("verify password: %w", err)
	}
	return subtle.ConstantTimeCompare(got, ph.want) == 1, nil
}

// parsePHC reads "$scrypt$ln=..,r=..,p=..$salt$key".
func parsePHC(hash string) (ScryptParams, []byte, []byte, error) {
	parts := strings.Split(hash, "$")
	// "", "scrypt", params, salt, key
	if len(parts) != 5 {
		return ScryptParams{}, nil, nil, errBadHash
	}
	var p ScryptParams
	for _, kv := range strings.Split(parts[2], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return p, nil, nil, errBadHash
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return p, nil, nil, errBadHash
		}
		switch k {
		case "ln":
			if n < 0 || n > 255 {
				return p, nil, nil, errBadHash
			}
			p.LogN = uint8(n)
		case "r":
			p.R = n
		case "p":
			p.P = n
		default:
			return p, nil, nil, errBadHash
		}
	}
	if !p.valid() {
		return p, nil, nil, errBadHash
	}
	salt, err := b64.DecodeString(parts[3])
	if err != nil || len(salt) == 0 {
		return p, nil, nil, errBadHash
	}
	key, err := b64.DecodeString(parts[4])
	if err != nil || len(key) < 16 {
		return p, nil, nil, errBadHash
	}
	return p, salt, key, nil
}

// parseBetterAuth reads Better Auth's "hexsalt:hexkey".
func parseBetterAuth(hash string) (ScryptParams, []byte, []byte, error) {
	salt, keyHex, ok := strings.Cut(hash, ":")
	if !ok || salt == "" {
		return ScryptParams{}, nil, nil, errBadHash
	}
	key, err := hex.DecodeString(keyHex)
	if err != nil || len(key) < 16 {
		return ScryptParams{}, nil, nil, errBadHash
	}
	return ScryptParams{LogN: 14, R: 16, P: 1}, []byte(salt), key, nil
}

// hashBounded runs HashPassword within the memory budget; ErrBusy when the
// budget's queue is full.
func (s *Service) hashBounded(ctx context.Context, password string) (string, error) {
	n, err := s.hashes.acquire(ctx, s.scrypt.Memory())
	if err != nil {
		return "", err
	}
	defer s.hashes.release(n)
	return HashPassword(password, s.scrypt)
}

// checkPassword verifies password against hash as one guess at email from
// ip. A locked pair or address is refused (*RateLimitError) before
// queueing for the hasher; the guess is counted only once the hasher's
// budget is held, so ErrBusy costs the client no attempt, and the count is
// taken under the limiter's lock, so parallel guesses cannot pass the
// limit together. A match forgets the pair's failures. A malformed stored
// hash is logged and never matches.
func (s *Service) checkPassword(ctx context.Context, email, ip, hash, password string) (bool, error) {
	if wait, ok := s.limiter.peek(email, ip, s.cfg.Now()); !ok {
		return false, s.refuseGuess(email, ip, wait)
	}
	ph, perr := parseHash(hash)
	mem := ph.p.Memory()
	if perr != nil {
		mem = 0
	}
	n, err := s.hashes.acquire(ctx, mem)
	if err != nil {
		return false, err
	}
	defer s.hashes.release(n)
	if wait, ok := s.limiter.begin(email, ip, s.cfg.Now()); !ok {
		return false, s.refuseGuess(email, ip, wait)
	}
	if perr != nil {
		s.log.Error("auth: stored password hash is malformed", "email", email)
		return false, nil
	}
	ok, err := ph.verify(password)
	if err != nil {
		return false, err
	}
	if ok {
		s.limiter.succeeded(email, ip)
	}
	return ok, nil
}

func (s *Service) refuseGuess(email, ip string, wait time.Duration) error {
	s.log.Warn("auth: password check refused by brute-force limiter", "email", email, "ip", ip, "retry_after", wait.Round(time.Second))
	return &RateLimitError{RetryAfter: wait}
}

// dummyHash is a hash of a random password at the current cost. Sign-ins
// for unknown emails verify against it, so they take as long as real ones
// and response time does not reveal which emails have accounts.
func (s *Service) dummyHash() (string, error) {
	s.dummyMu.Lock()
	defer s.dummyMu.Unlock()
	if s.dummy != "" {
		return s.dummy, nil
	}
	pw := make([]byte, 24)
	if _, err := rand.Read(pw); err != nil {
		return "", fmt.Errorf("dummy hash: %w", err)
	}
	h, err := HashPassword(string(pw), s.scrypt)
	if err != nil {
		return "", err
	}
	s.dummy = h
	return h, nil
}
