package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wasmchannel/wasmchannel/chat"
)

// CreateUser inserts u and its credential account holding passwordHash in
// one transaction. A taken email (compared without case) or id wraps
// chat.ErrConflict.
func (d *DB) CreateUser(ctx context.Context, u chat.User, passwordHash string) error {
	if u.ID == "" || u.Email == "" {
		return fmt.Errorf("create user: %w: id and email are required", chat.ErrInvalid)
	}
	now := d.nowMS()
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.CreatedAt
	}
	err := d.tx(ctx, func(tx pgx.Tx) error { return insertUser(ctx, tx, u, passwordHash) })
	if sqlState(err) == codeUnique {
		return fmt.Errorf("create user: %w: %v", chat.ErrConflict, err)
	}
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

// insertUser writes a user row and, for a non-empty hash, its credential
// account.
func insertUser(ctx context.Context, tx pgx.Tx, u chat.User, passwordHash string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO users
		(id, email, name, avatar_url, email_verified, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		enc(u.ID), enc(u.Email), enc(u.Name), encPtr(u.Image), u.EmailVerified, ms(u.CreatedAt), ms(u.UpdatedAt)); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO accounts
		(id, user_id, provider_id, password_hash, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		chat.NewID(), enc(u.ID), chat.CredentialProvider, enc(passwordHash), ms(u.CreatedAt), ms(u.UpdatedAt))
	return err
}

const userCols = `u.id, u.name, u.email, u.email_verified, u.avatar_url, u.created_at, u.updated_at`

// scanUser reads userCols, then any extra columns.
func scanUser(row pgx.Row, extra ...any) (chat.User, error) {
	var u chat.User
	var created, updated int64
	dst := append([]any{&u.ID, &u.Name, &u.Email, &u.EmailVerified, &u.Image, &created, &updated}, extra...)
	if err := row.Scan(dst...); err != nil {
		return chat.User{}, err
	}
	decAll(&u.ID, &u.Name, &u.Email)
	if u.Image != nil {
		decAll(u.Image)
	}
	u.CreatedAt, u.UpdatedAt = fromMS(created), fromMS(updated)
	return u, nil
}

// UserByEmail returns the user with this email (compared without case) and
// the password hash of its credential account ("" if it has none).
func (d *DB) UserByEmail(ctx context.Context, email string) (chat.User, string, error) {
	var hash *string
	row := d.pool.QueryRow(ctx, `SELECT `+userCols+`, a.password_hash
		FROM users u
		LEFT JOIN accounts a ON a.user_id = u.id AND a.provider_id = $1
		WHERE lower(u.email) = lower($2)`, chat.CredentialProvider, enc(email))
	u, err := scanUser(row, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return chat.User{}, "", fmt.Errorf("user by email: %w", chat.ErrNotFound)
	}
	if err != nil {
		return chat.User{}, "", fmt.Errorf("user by email: %w", err)
	}
	if hash == nil {
		return u, "", nil
	}
	return u, dec(*hash), nil
}

// UserByID returns the user with this id.
func (d *DB) UserByID(ctx context.Context, id string) (chat.User, error) {
	u, err := scanUser(d.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users u WHERE u.id = $1`, enc(id)))
	if errors.Is(err, pgx.ErrNoRows) {
		return chat.User{}, fmt.Errorf("user by id: %w", chat.ErrNotFound)
	}
	if err != nil {
		return chat.User{}, fmt.Errorf("user by id: %w", err)
	}
	return u, nil
}

// CreateSession stores s. A taken id or token hash wraps chat.ErrConflict;
// an unknown user is chat.ErrNotFound.
func (d *DB) CreateSession(ctx context.Context, s chat.Session) error {
	if s.ID == "" || s.TokenHash == "" || s.UserID == "" {
		return fmt.Errorf("create session: %w: id, token hash and user id are required", chat.ErrInvalid)
	}
	now := d.nowMS()
	if s.CreatedAt.IsZero() {
		s.CreatedAt = now
	}
	if s.UpdatedAt.IsZero() {
		s.UpdatedAt = s.CreatedAt
	}
	_, err := d.pool.Exec(ctx, insertSessionSQL, sessionArgs(s)...)
	switch sqlState(err) {
	case "":
	case codeUnique:
		return fmt.Errorf("create session: %w: %v", chat.ErrConflict, err)
	case codeForeignKey:
		return fmt.Errorf("create session: user %q: %w", s.UserID, chat.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

const insertSessionSQL = `INSERT INTO sessions
	(id, token_hash, user_id, expires_at, ip_address, user_agent, created_at, updated_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`

// sessionArgs are insertSessionSQL's arguments for s.
func sessionArgs(s chat.Session) []any {
	return []any{enc(s.ID), enc(s.TokenHash), enc(s.UserID), ms(s.ExpiresAt), enc(s.IPAddress), enc(s.UserAgent),
		ms(s.CreatedAt), ms(s.UpdatedAt)}
}

const sessionCols = `s.id, s.token_hash, s.user_id, s.expires_at, s.ip_address, s.user_agent, s.created_at, s.updated_at`

// scanSession reads sessionCols, then any extra columns.
func scanSession(row pgx.Row, extra ...any) (chat.Session, error) {
	var s chat.Session
	var expires, created, updated int64
	dst := append([]any{&s.ID, &s.TokenHash, &s.UserID, &expires, &s.IPAddress, &s.UserAgent, &created, &updated}, extra...)
	if err := row.Scan(dst...); err != nil {
		return chat.Session{}, err
	}
	decAll(&s.ID, &s.TokenHash, &s.UserID, &s.IPAddress, &s.UserAgent)
	s.ExpiresAt, s.CreatedAt, s.UpdatedAt = fromMS(expires), fromMS(created), fromMS(updated)
	return s, nil
}

// SessionByTokenHash returns the session with this token hash and its user.
// A session expired by the store's clock is chat.ErrNotFound.
func (d *DB) SessionByTokenHash(ctx context.Context, tokenHash string) (chat.Session, chat.User, error) {
	var u chat.User
	var image *string
	var ucreated, uupdated int64
	row := d.pool.QueryRow(ctx, `SELECT `+sessionCols+`, `+userCols+`
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = $1 AND s.expires_at > $2`, enc(tokenHash), ms(d.now()))
	s, err := scanSession(row, &u.ID, &u.Name, &u.Email, &u.EmailVerified, &image, &ucreated, &uupdated)
	if errors.Is(err, pgx.ErrNoRows) {
		return chat.Session{}, chat.User{}, fmt.Errorf("session by token: %w", chat.ErrNotFound)
	}
	if err != nil {
		return chat.Session{}, chat.User{}, fmt.Errorf("session by token: %w", err)
	}
	decAll(&u.ID, &u.Name, &u.Email)
	if image != nil {
		v := dec(*image)
		u.Image = &v
	}
	u.CreatedAt, u.UpdatedAt = fromMS(ucreated), fromMS(uupdated)
	return s, u, nil
}

// ExtendSession moves a session's expiry.
func (d *DB) ExtendSession(ctx context.Context, id string, expiresAt, updatedAt time.Time) error {
	tag, err := d.pool.Exec(ctx, `UPDATE sessions SET expires_at = $1, updated_at = $2 WHERE id = $3`,
		ms(expiresAt), ms(updatedAt), enc(id))
	if err != nil {
		return fmt.Errorf("extend session: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("extend session: %w", chat.ErrNotFound)
	}
	return nil
}

// DeleteSession removes the session with this token hash; a missing one is
// not an error.
func (d *DB) DeleteSession(ctx context.Context, tokenHash string) error {
	if _, err := d.pool.Exec(ctx, `DELETE FROM sessions WHERE token_hash = $1`, enc(tokenHash)); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions removes every session of a user.
func (d *DB) DeleteUserSessions(ctx context.Context, userID string) error {
	if _, err := d.pool.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, enc(userID)); err != nil {
		return fmt.Errorf("delete user sessions: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes sessions expired at or before now.
func (d *DB) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	tag, err := d.pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= $1`, ms(now))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Setting returns the value stored under key, or chat.ErrNotFound.
func (d *DB) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := d.pool.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, enc(key)).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("setting %q: %w", key, chat.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("setting %q: %w", key, err)
	}
	return dec(v), nil
}

// PutSetting stores value under key, replacing any previous value.
func (d *DB) PutSetting(ctx context.Context, key, value string) error {
	if _, err := d.pool.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, enc(key), enc(value)); err != nil {
		return fmt.Errorf("put setting %q: %w", key, err)
	}
	return nil
}

// SettingOrInit returns the value under key, first storing gen's result if
// there is none. An advisory lock on the key serializes callers on every
// node, so gen runs at most once per stored value and all get the same one.
func (d *DB) SettingOrInit(ctx context.Context, key string, gen func() (string, error)) (string, error) {
	var v string
	err := d.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, enc(key)); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, enc(key)).Scan(&v)
		if err == nil {
			v = dec(v)
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if v, err = gen(); err != nil {
			return fmt.Errorf("generate: %w", err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2)`, enc(key), enc(v))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("setting %q: %w", key, err)
	}
	return v, nil
}

// UpdateUser applies ch in one UPDATE and returns the stored user.
func (d *DB) UpdateUser(ctx context.Context, id string, ch chat.UserChange, updatedAt time.Time) (chat.User, error) {
	var name *string
	if ch.Name != nil {
		v := enc(*ch.Name)
		name = &v
	}
	u, err := scanUser(d.pool.QueryRow(ctx, `UPDATE users u SET
			name = COALESCE($1, u.name),
			avatar_url = CASE WHEN $2 THEN $3 ELSE u.avatar_url END,
			updated_at = $4
		WHERE u.id = $5
		RETURNING `+userCols, name, ch.SetImage, encPtr(ch.Image), ms(updatedAt), enc(id)))
	if errors.Is(err, pgx.ErrNoRows) {
		return chat.User{}, fmt.Errorf("update user: %w", chat.ErrNotFound)
	}
	if err != nil {
		return chat.User{}, fmt.Errorf("update user: %w", err)
	}
	return u, nil
}

// SetPassword replaces the credential account's password hash.
func (d *DB) SetPassword(ctx context.Context, userID, passwordHash string, updatedAt time.Time) error {
	tag, err := d.pool.Exec(ctx, `UPDATE accounts SET password_hash = $1, updated_at = $2
		WHERE user_id = $3 AND provider_id = $4`, enc(passwordHash), ms(updatedAt), enc(userID), chat.CredentialProvider)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("set password: %w", chat.ErrNotFound)
	}
	return nil
}

// SessionsByUser returns the user's unexpired sessions, oldest first.
func (d *DB) SessionsByUser(ctx context.Context, userID string) ([]chat.Session, error) {
	rows, err := d.pool.Query(ctx, `SELECT `+sessionCols+` FROM sessions s
		WHERE s.user_id = $1 AND s.expires_at > $2
		ORDER BY s.created_at, s.id`, enc(userID), ms(d.now()))
	if err != nil {
		return nil, fmt.Errorf("sessions by user: %w", err)
	}
	defer rows.Close()
	out := []chat.Session{}
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("sessions by user: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sessions by user: %w", err)
	}
	return out, nil
}

// DeleteOtherSessions removes the user's sessions but the one kept.
func (d *DB) DeleteOtherSessions(ctx context.Context, userID, keepTokenHash string) error {
	if _, err := d.pool.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2`,
		enc(userID), enc(keepTokenHash)); err != nil {
		return fmt.Errorf("delete other sessions: %w", err)
	}
	return nil
}
