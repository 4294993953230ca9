package chat

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// User is an account holder, shaped like Better Auth's user object.
type User struct {
	ID            string
	Name          string
	Email         string
	EmailVerified bool
	Image         *string // avatar URL; nil when unset
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// UserChange is a partial profile update; fields left nil keep their value.
type UserChange struct {
	Name *string
	// Image replaces the avatar when SetImage is true; nil clears it.
	Image    *string
	SetImage bool
}

// Empty reports whether ch changes nothing.
func (ch UserChange) Empty() bool { return ch.Name == nil && !ch.SetImage }

// Session is a login. TokenHash is what identifies it; the token itself is
// never given to a store.
type Session struct {
	ID        string
	TokenHash string
	UserID    string
	ExpiresAt time.Time
	IPAddress string
	UserAgent string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// CredentialProvider is the provider id of email/password logins, Better
// Auth's name for them.
const CredentialProvider = "credential"

// HashToken is what a store keeps for a session token: hex SHA-256. A token
// has 256 random bits, so no salt or slow hash is needed, and a stolen
// database cannot be replayed as logins.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// NewID returns a random URL-safe id (26 base32 characters, 130 bits), for
// users, sessions and accounts.
func NewID() string { return rand.Text() }
