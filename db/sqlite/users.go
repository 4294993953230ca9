package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
)

// CreateUser inserts u and its credential account holding passwordHash in one
// transaction. Zero CreatedAt/UpdatedAt are stamped with the clock. It
// returns an error wrapping chat.ErrConflict when the email (compared without case)
// or the id is taken.
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
	err := d.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO users
			(id, email, name, avatar_url, email_verified, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.Email, u.Name, nullString(u.Image), u.EmailVerified, ms(u.CreatedAt), ms(u.UpdatedAt)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO accounts
			(id, user_id, provider_id, password_hash, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)`,
			chat.NewID(), u.ID, chat.CredentialProvider, passwordHash, ms(u.CreatedAt), ms(u.UpdatedAt))
		return err
	})
	if isUnique(err) {
		return fmt.Errorf("create user: %w: %v", chat.ErrConflict, err)
	}
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

const userCols = `u.id, u.name, u.email, u.email_verified, u.avatar_url, u.created_at, u.updated_at`

// scanUser reads userCols.
func scanUser(sc interface{ Scan(...any) error }, extra ...any) (chat.User, error) {
	var u chat.User
	var image sql.NullString
	var created, updated int64
	dst := append([]any{&u.ID, &u.Name, &u.Email, &u.EmailVerified, &image, &created, &updated}, extra...)
	if err := sc.Scan(dst...); err != nil {
		return chat.User{}, err
	}
	if image.Valid {
		u.Image = &image.String
	}
	u.CreatedAt, u.UpdatedAt = fromMS(created), fromMS(updated)
	return u, nil
}

// UserByEmail returns the user with this email (compared without ASCII case)
// and the password hash of its credential account ("" if it has none).
func (d *DB) UserByEmail(ctx context.Context, email string) (chat.User, string, error) {
	var hash sql.NullString
	row := d.rd.QueryRowContext(ctx, `SELECT `+userCols+`, a.password_hash
		FROM users u
		LEFT JOIN accounts a ON a.user_id = u.id AND a.provider_id = ?
		WHERE u.email = ?`, chat.CredentialProvider, email)
	u, err := scanUser(row, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return chat.User{}, "", fmt.Errorf("user by email: %w", chat.ErrNotFound)
	}
	if err != nil {
		return chat.User{}, "", fmt.Errorf("user by email: %w", err)
	}
	return u, hash.String, nil
}

// UserByID returns the user with this id.
func (d *DB) UserByID(ctx context.Context, id string) (chat.User, error) {
	u, err := scanUser(d.rd.QueryRowContext(ctx, `SELECT `+userCols+` FROM users u WHERE u.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return chat.User{}, fmt.Errorf("user by id: %w", chat.ErrNotFound)
	}
	if err != nil {
		return chat.User{}, fmt.Errorf("user by id: %w", err)
	}
	return u, nil
}

// CreateSession stores s. Only s.TokenHash is kept, so hash the token first
// (HashToken). Zero CreatedAt/UpdatedAt are stamped with the clock. It
// returns an error wrapping chat.ErrConflict for a taken id or token hash and
// chat.ErrNotFound when the user does not exist.
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
	_, err := d.exec(ctx, `INSERT INTO sessions
		(id, token_hash, user_id, expires_at, ip_address, user_agent, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.TokenHash, s.UserID, ms(s.ExpiresAt), s.IPAddress, s.UserAgent, ms(s.CreatedAt), ms(s.UpdatedAt))
	switch {
	case isUnique(err):
		return fmt.Errorf("create session: %w: %v", chat.ErrConflict, err)
	case isForeignKey(err):
		return fmt.Errorf("create session: user %q: %w", s.UserID, chat.ErrNotFound)
	case err != nil:
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// SessionByTokenHash returns the session with this token hash and its user.
// A session that has expired by the DB's clock is reported as chat.ErrNotFound,
// so a caller cannot forget the check; DeleteExpiredSessions removes it.
func (d *DB) SessionByTokenHash(ctx context.Context, tokenHash string) (chat.Session, chat.User, error) {
	var s chat.Session
	var expires, created, updated int64
	row := d.rd.QueryRowContext(ctx, `SELECT s.id, s.token_hash, s.user_id, s.expires_at, s.ip_address,
			s.user_agent, s.created_at, s.updated_at, `+userCols+`
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = ? AND s.expires_at > ?`, tokenHash, ms(d.now()))
	var u chat.User
	var image sql.NullString
	var ucreated, uupdated int64
	err := row.Scan(&s.ID, &s.TokenHash, &s.UserID, &expires, &s.IPAddress, &s.UserAgent, &created, &updated,
		&u.ID, &u.Name, &u.Email, &u.EmailVerified, &image, &ucreated, &uupdated)
	if errors.Is(err, sql.ErrNoRows) {
		return chat.Session{}, chat.User{}, fmt.Errorf("session by token: %w", chat.ErrNotFound)
	}
	if err != nil {
		return chat.Session{}, chat.User{}, fmt.Errorf("session by token: %w", err)
	}
	s.ExpiresAt, s.CreatedAt, s.UpdatedAt = fromMS(expires), fromMS(created), fromMS(updated)
	if image.Valid {
		u.Image = &image.String
	}
	u.CreatedAt, u.UpdatedAt = fromMS(ucreated), fromMS(uupdated)
	return s, u, nil
}

// ExtendSession moves a session's expiry (Better Auth's sliding renewal).
func (d *DB) ExtendSession(ctx context.Context, id string, expiresAt, updatedAt time.Time) error {
	n, err := d.exec(ctx, `UPDATE sessions SET expires_at = ?, updated_at = ? WHERE id = ?`,
		ms(expiresAt), ms(updatedAt), id)
	if err != nil {
		return fmt.Errorf("extend session: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("extend session: %w", chat.ErrNotFound)
	}
	return nil
}

// DeleteSession removes the session with this token hash. Deleting a missing
// session is not an error, so signing out twice succeeds.
func (d *DB) DeleteSession(ctx context.Context, tokenHash string) error {
	if _, err := d.exec(ctx, `DELETE FROM sessions WHERE token_hash = ?`, tokenHash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions removes every session of a user (sign out everywhere).
func (d *DB) DeleteUserSessions(ctx context.Context, userID string) error {
	if _, err := d.exec(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("delete user sessions: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes sessions whose expiry is at or before now and
// returns how many it removed.
func (d *DB) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	n, err := d.exec(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, ms(now))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return n, nil
}

// Setting returns the value stored under key, or chat.ErrNotFound.
func (d *DB) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := d.rd.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("setting %q: %w", key, chat.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("setting %q: %w", key, err)
	}
	return v, nil
}

// PutSetting stores value under key, replacing any previous value.
func (d *DB) PutSetting(ctx context.Context, key, value string) error {
	if _, err := d.exec(ctx, `INSERT INTO settings (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value); err != nil {
		return fmt.Errorf("put setting %q: %w", key, err)
	}
	return nil
}

// SettingOrInit returns the value under key, first storing gen's result if
// there is none. The read and the insert share one IMMEDIATE transaction, so
// concurrent callers (or processes) all get the same value and gen runs at
// most once per stored value. gen runs while the write lock is held: keep it
// quick.
func (d *DB) SettingOrInit(ctx context.Context, key string, gen func() (string, error)) (string, error) {
	var v string
	err := d.writeTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
		if err == nil || !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if v, err = gen(); err != nil {
			return fmt.Errorf("generate: %w", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?)`, key, v)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("setting %q: %w", key, err)
	}
	return v, nil
}

// exec runs one statement on the writer connection (autocommit) and
// returns the number of rows it changed.
func (d *DB) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := d.wr.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// nullString maps a nil pointer to SQL NULL.
func nullString(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

// UpdateUser applies ch in one UPDATE and returns the stored user.
func (d *DB) UpdateUser(ctx context.Context, id string, ch chat.UserChange, updatedAt time.Time) (chat.User, error) {
	var u chat.User
	err := d.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET
			name = COALESCE(?, name),
			avatar_url = CASE WHEN ? THEN ? ELSE avatar_url END,
			updated_at = ?
			WHERE id = ?`, nullString(ch.Name), ch.SetImage, nullString(ch.Image), ms(updatedAt), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return chat.ErrNotFound
		}
		u, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userCols+` FROM users u WHERE u.id = ?`, id))
		return err
	})
	if err != nil {
		return chat.User{}, fmt.Errorf("update user: %w", err)
	}
	return u, nil
}

// SetPassword replaces the credential account's password hash.
func (d *DB) SetPassword(ctx context.Context, userID, passwordHash string, updatedAt time.Time) error {
	n, err := d.exec(ctx, `UPDATE accounts SET password_hash = ?, updated_at = ?
		WHERE user_id = ? AND provider_id = ?`, passwordHash, ms(updatedAt), userID, chat.CredentialProvider)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("set password: %w", chat.ErrNotFound)
	}
	return nil
}

// SessionsByUser returns the user's unexpired sessions, oldest first.
func (d *DB) SessionsByUser(ctx context.Context, userID string) ([]chat.Session, error) {
	rows, err := d.rd.QueryContext(ctx, `SELECT id, token_hash, user_id, expires_at, ip_address,
			user_agent, created_at, updated_at
		FROM sessions WHERE user_id = ? AND expires_at > ?
		ORDER BY created_at, id`, userID, ms(d.now()))
	if err != nil {
		return nil, fmt.Errorf("sessions by user: %w", err)
	}
	defer rows.Close()
	out := []chat.Session{}
	for rows.Next() {
		var s chat.Session
		var expires, created, updated int64
		if err := rows.Scan(&s.ID, &s.TokenHash, &s.UserID, &expires, &s.IPAddress, &s.UserAgent, &created, &updated); err != nil {
			return nil, fmt.Errorf("sessions by user: %w", err)
		}
		s.ExpiresAt, s.CreatedAt, s.UpdatedAt = fromMS(expires), fromMS(created), fromMS(updated)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sessions by user: %w", err)
	}
	return out, nil
}

// DeleteOtherSessions removes the user's sessions but the one kept.
func (d *DB) DeleteOtherSessions(ctx context.Context, userID, keepTokenHash string) error {
	if _, err := d.exec(ctx, `DELETE FROM sessions WHERE user_id = ? AND token_hash <> ?`, userID, keepTokenHash); err != nil {
		return fmt.Errorf("delete other sessions: %w", err)
	}
	return nil
}
