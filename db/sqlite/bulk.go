package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/wasmchannel/wasmchannel/chat"
)

// defaultBulkBatch is the page size of the Each walks when the caller
// passes none.
const defaultBulkBatch = 1000

var _ chat.Store = (*DB)(nil)

// LoadUsers inserts users with their ids, times and credential hashes as
// given, in one transaction, skipping any whose id or email is stored.
func (d *DB) LoadUsers(ctx context.Context, users []chat.BulkUser) (int, error) {
	added := 0
	err := d.writeTx(ctx, func(tx *sql.Tx) error {
		for i, u := range users {
			if u.ID == "" || u.Email == "" {
				return fmt.Errorf("user %d: %w: id and email are required", i, chat.ErrInvalid)
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO users
				(id, email, name, avatar_url, email_verified, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
				u.ID, u.Email, u.Name, nullString(u.Image), u.EmailVerified, ms(u.CreatedAt), ms(u.UpdatedAt))
			if err != nil {
				return fmt.Errorf("user %q: %w", u.ID, err)
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				if err != nil {
					return fmt.Errorf("user %q: %w", u.ID, err)
				}
				continue
			}
			added++
			if u.PasswordHash == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO accounts
				(id, user_id, provider_id, password_hash, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?)`,
				chat.NewID(), u.ID, chat.CredentialProvider, u.PasswordHash, ms(u.CreatedAt), ms(u.UpdatedAt)); err != nil {
				return fmt.Errorf("user %q: account: %w", u.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("load users: %w", err)
	}
	return added, nil
}

// LoadSessions inserts sessions as given, in one transaction, skipping any
// whose id or token hash is stored. A session of an unknown user is
// ErrNotFound and loads nothing.
func (d *DB) LoadSessions(ctx context.Context, sessions []chat.Session) (int, error) {
	added := 0
	err := d.writeTx(ctx, func(tx *sql.Tx) error {
		for i, s := range sessions {
			if s.ID == "" || s.TokenHash == "" || s.UserID == "" {
				return fmt.Errorf("session %d: %w: id, token hash and user id are required", i, chat.ErrInvalid)
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO sessions
				(id, token_hash, user_id, expires_at, ip_address, user_agent, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
				s.ID, s.TokenHash, s.UserID, ms(s.ExpiresAt), s.IPAddress, s.UserAgent, ms(s.CreatedAt), ms(s.UpdatedAt))
			if isForeignKey(err) {
				return fmt.Errorf("session %q: user %q: %w", s.ID, s.UserID, chat.ErrNotFound)
			}
			if err != nil {
				return fmt.Errorf("session %q: %w", s.ID, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("session %q: %w", s.ID, err)
			}
			added += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("load sessions: %w", err)
	}
	return added, nil
}

// loadMessageSQL is insertMessageSQL skipping a taken id too.
const loadMessageSQL = `INSERT INTO messages
	(id, room_id, ref_id, room_seq, user_id, kind, reaction_kind, payload, reactions, created_at, updated_at, deleted_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT DO NOTHING`

// LoadMessages inserts msgs as given, oldest first, in one transaction,
// skipping any whose id or (room, reference id) is stored. Unlike
// InsertMessages it stamps nothing: a message needs its CreatedAt. Each
// loaded message gets its room's next sequence number, in the given order;
// a deleted one is stored erased.
func (d *DB) LoadMessages(ctx context.Context, msgs []chat.Message) (int, error) {
	added := 0
	err := d.numberedTx(ctx, func(tx *sql.Tx, h *heads) error {
		for i := range msgs {
			m := msgs[i]
			if m.CreatedAt.IsZero() || m.ID == "" {
				return fmt.Errorf("message %d: %w: id and created time are required", i, chat.ErrInvalid)
			}
			if err := m.Normalize(m.CreatedAt); err != nil {
				return fmt.Errorf("message %d: %w", i, err)
			}
			fresh, err := insertIn(ctx, tx, h, &m, true)
			if err != nil {
				return fmt.Errorf("message %q: %w", m.ID, err)
			}
			if fresh {
				added++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("load messages: %w", err)
	}
	return added, nil
}

// LoadSettings inserts settings, in one transaction, skipping stored keys.
func (d *DB) LoadSettings(ctx context.Context, settings map[string]string) (int, error) {
	added := 0
	err := d.writeTx(ctx, func(tx *sql.Tx) error {
		for k, v := range settings {
			res, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING`, k, v)
			if err != nil {
				return fmt.Errorf("setting %q: %w", k, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("setting %q: %w", k, err)
			}
			added += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("load settings: %w", err)
	}
	return added, nil
}

// Counts returns the row counts, read in one snapshot.
func (d *DB) Counts(ctx context.Context) (chat.Counts, error) {
	var c chat.Counts
	tx, err := d.rd.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return c, fmt.Errorf("counts: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // read-only: nothing to keep
	err = tx.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM users),
		(SELECT count(*) FROM sessions),
		(SELECT count(*) FROM messages),
		(SELECT count(*) FROM messages WHERE deleted_at IS NOT NULL),
		(SELECT count(*) FROM messages, json_each(messages.reactions) AS r, json_each(r.value, '$.users')),
		(SELECT count(*) FROM settings)`).Scan(&c.Users, &c.Sessions, &c.Messages, &c.Deleted, &c.Reactions, &c.Settings)
	if err != nil {
		return chat.Counts{}, fmt.Errorf("counts: %w", err)
	}
	return c, nil
}

// EachUser walks users by id, with their credential hashes.
func (d *DB) EachUser(ctx context.Context, batch int, fn func([]chat.BulkUser) error) error {
	if batch <= 0 {
		batch = defaultBulkBatch
	}
	after := ""
	for {
		rows, err := d.rd.QueryContext(ctx, `SELECT `+userCols+`, coalesce(a.password_hash, '')
			FROM users u
			LEFT JOIN accounts a ON a.user_id = u.id AND a.provider_id = ?
			WHERE u.id > ? ORDER BY u.id LIMIT ?`, chat.CredentialProvider, after, batch)
		if err != nil {
			return fmt.Errorf("each user: %w", err)
		}
		var page []chat.BulkUser
		for rows.Next() {
			var b chat.BulkUser
			if b.User, err = scanUser(rows, &b.PasswordHash); err != nil {
				rows.Close()
				return fmt.Errorf("each user: %w", err)
			}
			page = append(page, b)
		}
		if err := closeRows(rows); err != nil {
			return fmt.Errorf("each user: %w", err)
		}
		if len(page) == 0 {
			return nil
		}
		if err := fn(page); err != nil {
			return err
		}
		after = page[len(page)-1].ID
	}
}

// EachSession walks sessions by id, expired ones included.
func (d *DB) EachSession(ctx context.Context, batch int, fn func([]chat.Session) error) error {
	if batch <= 0 {
		batch = defaultBulkBatch
	}
	after := ""
	for {
		rows, err := d.rd.QueryContext(ctx, `SELECT id, token_hash, user_id, expires_at, ip_address, user_agent,
			created_at, updated_at FROM sessions WHERE id > ? ORDER BY id LIMIT ?`, after, batch)
		if err != nil {
			return fmt.Errorf("each session: %w", err)
		}
		var page []chat.Session
		for rows.Next() {
			var s chat.Session
			var expires, created, updated int64
			if err := rows.Scan(&s.ID, &s.TokenHash, &s.UserID, &expires, &s.IPAddress, &s.UserAgent,
				&created, &updated); err != nil {
				rows.Close()
				return fmt.Errorf("each session: %w", err)
			}
			s.ExpiresAt, s.CreatedAt, s.UpdatedAt = fromMS(expires), fromMS(created), fromMS(updated)
			page = append(page, s)
		}
		if err := closeRows(rows); err != nil {
			return fmt.Errorf("each session: %w", err)
		}
		if len(page) == 0 {
			return nil
		}
		if err := fn(page); err != nil {
			return err
		}
		after = page[len(page)-1].ID
	}
}

// EachMessage walks every message in insertion (seq) order.
func (d *DB) EachMessage(ctx context.Context, batch int, fn func([]chat.Message) error) error {
	if batch <= 0 {
		batch = defaultBulkBatch
	}
	var after int64
	for {
		rows, err := d.rd.QueryContext(ctx, `SELECT seq, `+messageCols+` FROM messages
			WHERE seq > ? ORDER BY seq LIMIT ?`, after, batch)
		if err != nil {
			return fmt.Errorf("each message: %w", err)
		}
		var page []chat.Message
		for rows.Next() {
			m, err := scanMessage(seqScanner{rows, &after})
			if err != nil {
				rows.Close()
				return fmt.Errorf("each message: %w", err)
			}
			page = append(page, m)
		}
		if err := closeRows(rows); err != nil {
			return fmt.Errorf("each message: %w", err)
		}
		if len(page) == 0 {
			return nil
		}
		if err := fn(page); err != nil {
			return err
		}
	}
}

// seqScanner reads a leading seq column into *seq, then the rest as
// scanMessage asks.
type seqScanner struct {
	rows *sql.Rows
	seq  *int64
}

func (s seqScanner) Scan(dst ...any) error {
	return s.rows.Scan(append([]any{s.seq}, dst...)...)
}

// Settings returns every setting.
func (d *DB) Settings(ctx context.Context) (map[string]string, error) {
	rows, err := d.rd.QueryContext(ctx, `SELECT key, value FROM settings`)
	if err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			return nil, fmt.Errorf("settings: %w", err)
		}
		out[k] = v
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	return out, nil
}

// closeRows closes rows and returns the iteration's error, if any.
func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}
