package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/wasmchannel/wasmchannel/chat"
)

// defaultBulkBatch is the page size of the Each walks when the caller
// passes none.
const defaultBulkBatch = 1000

// LoadUsers inserts users with their ids, times and credential hashes as
// given, in one transaction, skipping any whose id or email is stored.
func (d *DB) LoadUsers(ctx context.Context, users []chat.BulkUser) (int, error) {
	added := 0
	err := d.tx(ctx, func(tx pgx.Tx) error {
		for i, u := range users {
			if u.ID == "" || u.Email == "" {
				return fmt.Errorf("user %d: %w: id and email are required", i, chat.ErrInvalid)
			}
			tag, err := tx.Exec(ctx, `INSERT INTO users
				(id, email, name, avatar_url, email_verified, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
				enc(u.ID), enc(u.Email), enc(u.Name), encPtr(u.Image), u.EmailVerified, ms(u.CreatedAt), ms(u.UpdatedAt))
			if err != nil {
				return fmt.Errorf("user %q: %w", u.ID, err)
			}
			if tag.RowsAffected() == 0 {
				continue
			}
			added++
			if u.PasswordHash == "" {
				continue
			}
			if _, err := tx.Exec(ctx, `INSERT INTO accounts
				(id, user_id, provider_id, password_hash, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6)`,
				chat.NewID(), enc(u.ID), chat.CredentialProvider, enc(u.PasswordHash), ms(u.CreatedAt), ms(u.UpdatedAt)); err != nil {
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
// chat.ErrNotFound and loads nothing.
func (d *DB) LoadSessions(ctx context.Context, sessions []chat.Session) (int, error) {
	added := 0
	err := d.tx(ctx, func(tx pgx.Tx) error {
		for i, s := range sessions {
			if s.ID == "" || s.TokenHash == "" || s.UserID == "" {
				return fmt.Errorf("session %d: %w: id, token hash and user id are required", i, chat.ErrInvalid)
			}
			tag, err := tx.Exec(ctx, insertSessionSQL+` ON CONFLICT DO NOTHING`, sessionArgs(s)...)
			if sqlState(err) == codeForeignKey {
				return fmt.Errorf("session %q: user %q: %w", s.ID, s.UserID, chat.ErrNotFound)
			}
			if err != nil {
				return fmt.Errorf("session %q: %w", s.ID, err)
			}
			added += int(tag.RowsAffected())
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("load sessions: %w", err)
	}
	return added, nil
}

// LoadMessages inserts msgs as given, oldest first, in one transaction,
// skipping any whose id or (room, reference id) is stored. It stamps
// nothing: a message needs its id and CreatedAt. Each loaded message gets
// its room's next sequence number, in the given order, under the rooms'
// head locks; a deleted one is stored erased.
func (d *DB) LoadMessages(ctx context.Context, msgs []chat.Message) (int, error) {
	ops := make([]chat.Op, len(msgs))
	var rooms []string
	for i, m := range msgs {
		if m.CreatedAt.IsZero() || m.ID == "" {
			return 0, fmt.Errorf("load messages: message %d: %w: id and created time are required", i, chat.ErrInvalid)
		}
		if err := m.Normalize(m.CreatedAt); err != nil {
			return 0, fmt.Errorf("load messages: message %d: %w", i, err)
		}
		ops[i].Message = &m
		rooms = append(rooms, m.Room)
	}
	if len(ops) == 0 {
		return 0, nil
	}
	res := make([]chat.OpResult, len(ops))
	err := d.tx(ctx, func(tx pgx.Tx) error {
		h, err := lockHeads(ctx, tx, rooms, rooms)
		if err != nil {
			return err
		}
		return insertRun(ctx, tx, h, ops, res, true)
	})
	if err != nil {
		return 0, fmt.Errorf("load messages: %w", err)
	}
	added := 0
	for _, r := range res {
		if r.Fresh {
			added++
		}
	}
	return added, nil
}

// LoadSettings inserts settings, in one transaction, skipping stored keys.
func (d *DB) LoadSettings(ctx context.Context, settings map[string]string) (int, error) {
	added := 0
	err := d.tx(ctx, func(tx pgx.Tx) error {
		for k, v := range settings {
			tag, err := tx.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING`, enc(k), enc(v))
			if err != nil {
				return fmt.Errorf("setting %q: %w", k, err)
			}
			added += int(tag.RowsAffected())
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
	err := pgx.BeginTxFunc(ctx, d.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT
				(SELECT count(*) FROM users),
				(SELECT count(*) FROM sessions),
				(SELECT count(*) FROM messages),
				(SELECT count(*) FROM messages WHERE deleted_at IS NOT NULL),
				(SELECT coalesce(sum(json_array_length(r -> 'users')), 0)
					FROM messages, json_array_elements(messages.reactions) AS r),
				(SELECT count(*) FROM settings)`).Scan(&c.Users, &c.Sessions, &c.Messages, &c.Deleted, &c.Reactions, &c.Settings)
		})
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
		rows, err := d.pool.Query(ctx, `SELECT `+userCols+`, coalesce(a.password_hash, '')
			FROM users u
			LEFT JOIN accounts a ON a.user_id = u.id AND a.provider_id = $1
			WHERE u.id > $2 ORDER BY u.id LIMIT $3`, chat.CredentialProvider, after, batch)
		if err != nil {
			return fmt.Errorf("each user: %w", err)
		}
		var page []chat.BulkUser
		var last string
		for rows.Next() {
			var b chat.BulkUser
			if b.User, err = scanUser(rows, &b.PasswordHash); err != nil {
				rows.Close()
				return fmt.Errorf("each user: %w", err)
			}
			last = enc(b.ID)
			b.PasswordHash = dec(b.PasswordHash)
			page = append(page, b)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("each user: %w", err)
		}
		if len(page) == 0 {
			return nil
		}
		if err := fn(page); err != nil {
			return err
		}
		after = last
	}
}

// EachSession walks sessions by id, expired ones included.
func (d *DB) EachSession(ctx context.Context, batch int, fn func([]chat.Session) error) error {
	if batch <= 0 {
		batch = defaultBulkBatch
	}
	after := ""
	for {
		rows, err := d.pool.Query(ctx, `SELECT `+sessionCols+` FROM sessions s WHERE s.id > $1 ORDER BY s.id LIMIT $2`,
			after, batch)
		if err != nil {
			return fmt.Errorf("each session: %w", err)
		}
		var page []chat.Session
		for rows.Next() {
			s, err := scanSession(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("each session: %w", err)
			}
			page = append(page, s)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("each session: %w", err)
		}
		if len(page) == 0 {
			return nil
		}
		if err := fn(page); err != nil {
			return err
		}
		after = enc(page[len(page)-1].ID)
	}
}

// EachMessage walks every message in insertion (seq) order.
func (d *DB) EachMessage(ctx context.Context, batch int, fn func([]chat.Message) error) error {
	if batch <= 0 {
		batch = defaultBulkBatch
	}
	var after int64
	for {
		rows, err := d.pool.Query(ctx, `SELECT seq, `+messageCols+` FROM messages WHERE seq > $1 ORDER BY seq LIMIT $2`,
			after, batch)
		if err != nil {
			return fmt.Errorf("each message: %w", err)
		}
		var page []chat.Message
		for rows.Next() {
			m, err := scanMessage(rows, &after)
			if err != nil {
				rows.Close()
				return fmt.Errorf("each message: %w", err)
			}
			page = append(page, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
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

// Settings returns every setting.
func (d *DB) Settings(ctx context.Context) (map[string]string, error) {
	rows, err := d.pool.Query(ctx, `SELECT key, value FROM settings`)
	if err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("settings: %w", err)
		}
		out[dec(k)] = dec(v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	return out, nil
}
