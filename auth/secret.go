package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// SecretSetting is the settings key under which a generated secret is kept.
const SecretSetting = "auth_secret"

// SettingStore is the part of chat.SettingStore that SecretFromStore needs.
type SettingStore interface {
	SettingOrInit(ctx context.Context, key string, gen func() (string, error)) (string, error)
}

// SecretFromStore returns the cookie-signing secret. A configured one
// (--secret) wins and must be at least MinSecretLen bytes (ErrWeakSecret).
// Otherwise 32 random bytes are generated once and kept in the settings
// table, so sessions survive restarts without any setup. A leaked database
// still cannot sign anyone in: the secret only signs tokens, and the
// database holds none, only their hashes.
func SecretFromStore(ctx context.Context, store SettingStore, configured string) ([]byte, error) {
	if configured != "" {
		if len(configured) < MinSecretLen {
			return nil, fmt.Errorf("%w: --secret needs at least %d bytes, got %d", ErrWeakSecret, MinSecretLen, len(configured))
		}
		return []byte(configured), nil
	}
	v, err := store.SettingOrInit(ctx, SecretSetting, func() (string, error) {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		return hex.EncodeToString(b), nil
	})
	if err != nil {
		return nil, fmt.Errorf("load auth secret: %w", err)
	}
	b, err := hex.DecodeString(v)
	if err != nil || len(b) < 32 {
		return nil, fmt.Errorf("load auth secret: stored %q setting is not 32+ hex-encoded bytes", SecretSetting)
	}
	return b, nil
}
