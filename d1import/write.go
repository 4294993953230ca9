package d1import

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/wasmchannel/wasmchannel/auth"
	"github.com/wasmchannel/wasmchannel/chat"
)

// DefaultRoom is the room upstream's single chat becomes: the one `GET /`
// joins (http-api.md § WebSocket).
const DefaultRoom = "room"

// DefaultBatch is how many rows each transaction writes.
const DefaultBatch = 1000

// Target is what an import needs of a store: its bulk loader, and the
// lookups that tell which rows a merge must leave alone.
type Target interface {
	chat.BulkLoader
	UserByEmail(ctx context.Context, email string) (chat.User, string, error)
	UserByID(ctx context.Context, id string) (chat.User, error)
	MessageByRef(ctx context.Context, room, ref string) (chat.Message, error)
	MessageByID(ctx context.Context, id string) (chat.Message, error)
	SessionByTokenHash(ctx context.Context, tokenHash string) (chat.Session, chat.User, error)
	Setting(ctx context.Context, key string) (string, error)
}

// Options steer Write.
type Options struct {
	Room string // DefaultRoom when empty
	// Merge allows a target that already has users; an upstream user whose
	// email is taken keeps the existing account.
	Merge bool
	// DryRun checks everything and fills the report but writes nothing.
	DryRun bool
	// Secret is upstream's BETTER_AUTH_SECRET. With sessions in the plan it
	// is stored as the target's cookie-signing secret, so upstream's signed
	// cookies verify.
	Secret string
	Batch  int       // DefaultBatch when <= 0
	Log    io.Writer // progress lines; nil for none
}

// Write stores plan into t through its bulk loader, one transaction per
// batch of one table: users, sessions, then messages oldest first. It
// checks first (refusing a target with users unless Merge, and finding
// which rows a merge must skip), so a refusal changes nothing. Afterwards
// it counts the target again: rows that are neither there nor in the
// report make it return ErrIncomplete.
func Write(ctx context.Context, plan *Plan, t Target, o Options) error {
	if o.Room == "" {
		o.Room = DefaultRoom
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	rep := plan.Report
	rep.DryRun = o.DryRun
	before, err := t.Counts(ctx)
	if err != nil {
		return fmt.Errorf("import: count target: %w", err)
	}
	if before.Users > 0 && !o.Merge {
		return fmt.Errorf("%w (%d); give --merge to add to them", ErrTargetHasUsers, before.Users)
	}

	users, ids, merged, err := resolveUsers(ctx, plan.Users, t, rep.Table(tableUser))
	if err != nil {
		return err
	}
	sessions, stored, err := resolveSessions(ctx, plan.Sessions, ids, merged, t, before.Sessions > 0, rep.Table(tableSession))
	if err != nil {
		return err
	}
	// Upstream's sessions, new or left by an interrupted run, verify only
	// under upstream's secret.
	withSecret := len(sessions)+stored > 0
	if withSecret {
		if err := checkSecret(ctx, t, o.Secret); err != nil {
			return err
		}
	}
	msgs, reactions, err := resolveMessages(ctx, plan.Messages, ids, t, before.Messages > 0, o.Room, rep)
	if err != nil {
		return err
	}
	if o.DryRun {
		return nil
	}

	// The secret goes first, so no session is ever stored without it.
	settings := 0
	if withSecret {
		n, err := t.LoadSettings(ctx, map[string]string{auth.SecretSetting: hex.EncodeToString([]byte(o.Secret))})
		if err != nil {
			return fmt.Errorf("import: store the session secret: %w", err)
		}
		settings = n
	}
	if err := loadBatches(ctx, o, "users", users, t.LoadUsers); err != nil {
		return err
	}
	if err := loadBatches(ctx, o, "sessions", sessions, t.LoadSessions); err != nil {
		return err
	}
	if err := loadBatches(ctx, o, "messages", msgs, t.LoadMessages); err != nil {
		return err
	}

	after, err := t.Counts(ctx)
	if err != nil {
		return fmt.Errorf("import: count target: %w", err)
	}
	deleted := 0
	for _, m := range msgs {
		if m.DeletedAt != nil {
			deleted++
		}
	}
	var missing []string
	check := func(what string, got int64, want int) {
		if got != int64(want) {
			missing = append(missing, fmt.Sprintf("%s: target gained %d, want %d", what, got, want))
		}
	}
	check("users", after.Users-before.Users, len(users))
	check("sessions", after.Sessions-before.Sessions, len(sessions))
	check("messages", after.Messages-before.Messages, len(msgs))
	check("deleted messages", after.Deleted-before.Deleted, deleted)
	check("reactions", after.Reactions-before.Reactions, reactions)
	check("settings", after.Settings-before.Settings, settings)
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", ErrIncomplete, strings.Join(missing, "; "))
	}
	return nil
}

// loadBatches writes rows in batches through fn, each batch its own transaction,
// and fails if the store skipped any: the checks before already took out
// every row a merge must keep.
func loadBatches[T any](ctx context.Context, o Options, what string, rows []T, fn func(context.Context, []T) (int, error)) error {
	for i := 0; i < len(rows); i += o.Batch {
		end := min(i+o.Batch, len(rows))
		n, err := fn(ctx, rows[i:end])
		if err != nil {
			return fmt.Errorf("import %s %d-%d of %d: %w (rows before %d are stored; rerun with --merge to finish)",
				what, i+1, end, len(rows), err, i+1)
		}
		if n != end-i {
			return fmt.Errorf("%w: %s %d-%d: the store added %d of %d", ErrIncomplete, what, i+1, end, n, end-i)
		}
		if o.Log != nil && len(rows) > o.Batch {
			fmt.Fprintf(o.Log, "import: %s %d/%d\n", what, end, len(rows))
		}
	}
	return nil
}

// resolveUsers decides what happens to each upstream user in this target
// and returns the users to load and, for every upstream user id, the id
// its rows are stored under: itself; the existing account's for a taken
// email (merge, also returned in merged); a fresh one when only the id is
// taken.
func resolveUsers(ctx context.Context, in []chat.BulkUser, t Target, rep *TableReport) ([]chat.BulkUser, map[string]string, map[string]bool, error) {
	ids := make(map[string]string, len(in))
	merged := map[string]bool{}
	var out []chat.BulkUser
	for _, u := range in {
		existing, _, err := t.UserByEmail(ctx, u.Email)
		switch {
		case err == nil && existing.ID == u.ID:
			ids[u.ID] = u.ID
			rep.Imported--
			rep.skip(ReasonAlready)
			continue
		case err == nil:
			ids[u.ID] = existing.ID
			merged[u.ID] = true
			rep.Imported--
			rep.skip(ReasonMergedAccount)
			continue
		case !errors.Is(err, chat.ErrNotFound):
			return nil, nil, nil, fmt.Errorf("import: look up %s: %w", u.Email, err)
		}
		id := u.ID
		if _, err := t.UserByID(ctx, id); err == nil {
			id = chat.NewID()
			rep.note(ReasonIDTaken)
		} else if !errors.Is(err, chat.ErrNotFound) {
			return nil, nil, nil, fmt.Errorf("import: look up user %s: %w", u.ID, err)
		}
		ids[u.ID] = id
		u.ID = id
		out = append(out, u)
	}
	return out, ids, merged, nil
}

// resolveSessions keeps the sessions of users imported as themselves; a
// session of a user merged into an existing account is not carried over,
// since the two accounts only share an email.
//
// stored counts the sessions an earlier, interrupted run already wrote.
func resolveSessions(ctx context.Context, in []chat.Session, ids map[string]string, merged map[string]bool, t Target, check bool, rep *TableReport) (out []chat.Session, stored int, err error) {
	for _, s := range in {
		if merged[s.UserID] {
			rep.Imported--
			rep.skip(ReasonMergedSession)
			continue
		}
		if check {
			_, _, err := t.SessionByTokenHash(ctx, s.TokenHash)
			if err == nil {
				rep.Imported--
				rep.skip(ReasonAlready)
				stored++
				continue
			}
			if !errors.Is(err, chat.ErrNotFound) {
				return nil, 0, fmt.Errorf("import: look up session %s: %w", s.ID, err)
			}
		}
		s.UserID = ids[s.UserID]
		out = append(out, s)
	}
	return out, stored, nil
}

func resolveMessages(ctx context.Context, in []chat.Message, ids map[string]string, t Target, check bool, room string, rep *Report) ([]chat.Message, int, error) {
	mrep, rrep := rep.Table(tableMessages), rep.Table(tableReactions)
	out := make([]chat.Message, 0, len(in))
	reactions := 0
	for _, m := range in {
		if check {
			if _, err := t.MessageByRef(ctx, room, m.RefID); err == nil {
				mrep.Imported--
				mrep.skip(ReasonRefTaken)
				rrep.Imported -= users(m.Reactions)
				continue
			} else if !errors.Is(err, chat.ErrNotFound) {
				return nil, 0, fmt.Errorf("import: look up message %s: %w", m.RefID, err)
			}
			// The same dump imported into a second room: the server id is
			// taken, the message is not; it gets a fresh id.
			if _, err := t.MessageByID(ctx, m.ID); err == nil {
				m.ID = chat.NewMessageID()
				mrep.note(ReasonMessageIDTaken)
			} else if !errors.Is(err, chat.ErrNotFound) {
				return nil, 0, fmt.Errorf("import: look up message %s: %w", m.ID, err)
			}
		}
		m.Room, m.UserID = room, author(ids, m.UserID)
		rs := make([]chat.Reaction, len(m.Reactions))
		for i, r := range m.Reactions {
			us := make([]string, len(r.Users))
			for j, u := range r.Users {
				us[j] = author(ids, u)
			}
			rs[i] = chat.Reaction{Kind: r.Kind, Count: len(us), Users: us}
			reactions += len(us)
		}
		m.Reactions = rs
		out = append(out, m)
	}
	return out, reactions, nil
}

// author maps an upstream user id to the id it is stored under; an id
// the dump did not hold stays as it was.
func author(ids map[string]string, id string) string {
	if v, ok := ids[id]; ok {
		return v
	}
	return id
}

func users(rs []chat.Reaction) int {
	n := 0
	for _, r := range rs {
		n += len(r.Users)
	}
	return n
}

// checkSecret refuses sessions without upstream's secret, or when the
// target already signs its own cookies with a different one: one of the
// two sets of cookies would stop working.
func checkSecret(ctx context.Context, t Target, secret string) error {
	if len(secret) < auth.MinSecretLen {
		return fmt.Errorf("%w: importing sessions needs --secret set to upstream's BETTER_AUTH_SECRET (at least %d bytes)",
			ErrNeedSecret, auth.MinSecretLen)
	}
	v, err := t.Setting(ctx, auth.SecretSetting)
	switch {
	case errors.Is(err, chat.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("import: read the target's secret: %w", err)
	case v != hex.EncodeToString([]byte(secret)):
		return fmt.Errorf("%w: the target already signs its cookies with another secret; import without --sessions (users sign in again)",
			ErrNeedSecret)
	}
	return nil
}
