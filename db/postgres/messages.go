package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wasmchannel/wasmchannel/chat"
)

// storedReaction is one element of the reactions column's JSON array, in
// the protocol's spelling, as SQLite stores it. User ids are escaped like
// text columns: PostgreSQL's JSON functions refuse \u0000.
type storedReaction struct {
	Kind  int      `json:"kind"`
	Count int      `json:"count"`
	Users []string `json:"users"`
}

// encodeReactions writes rs as the reactions column holds them; never null.
func encodeReactions(rs []chat.Reaction) (string, error) {
	out := make([]storedReaction, len(rs))
	for i, r := range chat.NormReactions(rs) {
		users := make([]string, len(r.Users))
		for j, u := range r.Users {
			users[j] = enc(u)
		}
		out[i] = storedReaction{Kind: r.Kind, Count: r.Count, Users: users}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("encode reactions: %w", err)
	}
	return string(b), nil
}

// decodeReactions reads the reactions column.
func decodeReactions(s string) ([]chat.Reaction, error) {
	var in []storedReaction
	if err := json.Unmarshal([]byte(s), &in); err != nil {
		return nil, fmt.Errorf("decode reactions: %w", err)
	}
	out := make([]chat.Reaction, len(in))
	for i, r := range in {
		for j := range r.Users {
			r.Users[j] = dec(r.Users[j])
		}
		out[i] = chat.Reaction(r)
	}
	return chat.NormReactions(out), nil
}

// insertArgs are the column values of m, in insertRunSQL's order.
func insertArgs(m *chat.Message) ([]any, error) {
	reactions, err := encodeReactions(m.Reactions)
	if err != nil {
		return nil, err
	}
	return []any{enc(m.ID), enc(m.Room), enc(m.RefID), enc(m.UserID), m.Kind, m.ReactionKind,
		m.Payload, reactions, ms(m.CreatedAt), ms(m.UpdatedAt), msPtr(m.DeletedAt)}, nil
}

// insertRunHead is the start of the statement that inserts a run of new
// messages, one array per column, inside a transaction that holds the lock
// on each room's head (lockHeadsSQL, an earlier statement). Under that
// lock no other writer can store a row of these rooms, so the rows to
// insert are decided by reading: not stored yet (repeats within the run
// were dropped before, by runArgs). Each gets the room's head plus its
// rank in the room, in run order, and the heads advance in the same
// statement. The unique keys are the backstop: a taken id fails the
// statement. It returns (ord, seq, fresh) for every row inserted or
// already stored. Every lookup is a scalar subquery on a key, so the plan
// never turns into a scan of the room, whatever the statistics say.
const insertRunHead = `WITH t AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::integer[], $6::integer[], $7::bytea[],
		$8::text[], $9::bigint[], $10::bigint[], $11::bigint[])
		WITH ORDINALITY AS t(id, room_id, ref_id, user_id, kind, reaction_kind, payload, reactions,
			created_at, updated_at, deleted_at, ord)
), o AS (
	SELECT t.*, (SELECT m.room_seq FROM messages m WHERE m.room_id = t.room_id AND m.ref_id = t.ref_id) AS old_seq
	FROM t
), f AS (
	SELECT o.*, (SELECT hd.seq FROM room_heads hd WHERE hd.room_id = o.room_id)
		+ row_number() OVER (PARTITION BY o.room_id ORDER BY o.ord) AS room_seq
	FROM o WHERE o.old_seq IS NULL`

// insertRunTail ends the statement insertRunHead starts.
const insertRunTail = `
), ins AS (
	INSERT INTO messages
		(id, room_id, ref_id, room_seq, user_id, kind, reaction_kind, payload, reactions, created_at, updated_at, deleted_at)
	SELECT id, room_id, ref_id, room_seq, user_id, kind, reaction_kind, payload, reactions::json,
		created_at, updated_at, deleted_at
	FROM f ORDER BY ord
), up AS (
	UPDATE room_heads h SET seq = coalesce((SELECT max(f.room_seq) FROM f WHERE f.room_id = h.room_id), h.seq)
	WHERE h.room_id = ANY($12::text[])
)
SELECT ord, room_seq, true FROM f
UNION ALL
SELECT ord, old_seq, false FROM o WHERE old_seq IS NOT NULL`

// insertRunSQL inserts a run of new messages (InsertMessages, WriteOps).
const insertRunSQL = insertRunHead + insertRunTail

// loadRunSQL is insertRunSQL skipping a taken id too (LoadMessages).
const loadRunSQL = insertRunHead + `
		AND (SELECT 1 FROM messages m WHERE m.id = o.id) IS NULL` + insertRunTail

// runArgs turns msgs into insertRunSQL's eleven column arrays and its
// sorted rooms, leaving out each message whose (room, reference id), or
// with load whose id, an earlier one of the run has: such a repeat is
// what its first occurrence becomes. sent maps the statement's ord
// (1-based) back to msgs.
func runArgs(msgs []*chat.Message, load bool) (args []any, sent []int, err error) {
	cols := make([][]any, 11)
	refs := make(map[[2]string]bool, len(msgs))
	ids := make(map[string]bool, len(msgs))
	rooms := make([]string, 0, len(msgs))
	for i, m := range msgs {
		k := [2]string{m.Room, m.RefID}
		if refs[k] || load && ids[m.ID] {
			continue
		}
		refs[k], ids[m.ID] = true, true
		row, err := insertArgs(m)
		if err != nil {
			return nil, nil, fmt.Errorf("message %d: %w", i, err)
		}
		for c, v := range row {
			cols[c] = append(cols[c], v)
		}
		sent = append(sent, i)
		rooms = append(rooms, m.Room)
	}
	args = make([]any, len(cols), len(cols)+1)
	for c := range cols {
		args[c] = cols[c]
	}
	return append(args, encRooms(rooms)), sent, nil
}

// InsertMessages stores msgs in ONE transaction: all of them or, on error,
// none, as chat.Batcher documents. Fresh messages get the room's next
// sequence numbers in batch order; a resend gets its original's. A server
// ID already used by another message, or any other constraint a row
// breaks, wraps chat.ErrConflict.
func (d *DB) InsertMessages(ctx context.Context, msgs []chat.Message) (fresh []bool, err error) {
	ops := make([]chat.Op, len(msgs))
	for i := range msgs {
		ops[i].Message = &msgs[i]
	}
	res, err := d.writeOps(ctx, ops)
	if err != nil {
		return nil, fmt.Errorf("insert messages: %w", err)
	}
	fresh = make([]bool, len(msgs))
	for i := range res {
		fresh[i] = res[i].Fresh
	}
	return fresh, nil
}

// WriteOps applies a batch of new messages and reaction toggles in ONE
// transaction, in order, as chat.Batcher documents.
func (d *DB) WriteOps(ctx context.Context, ops []chat.Op) ([]chat.OpResult, error) {
	res, err := d.writeOps(ctx, ops)
	if err != nil {
		return nil, fmt.Errorf("write ops: %w", err)
	}
	return res, nil
}

// writeOps is WriteOps without the wrapping. Consecutive messages go in as
// one statement, consecutive toggles as two (a locking read, then one
// write of the new reactions and the events), whatever their number.
func (d *DB) writeOps(ctx context.Context, ops []chat.Op) ([]chat.OpResult, error) {
	now := d.nowMS()
	var rooms, msgRooms []string
	for i, op := range ops {
		switch {
		case op.Message != nil && op.Toggle == nil:
			if err := op.Message.Normalize(now); err != nil {
				return nil, fmt.Errorf("message %d: %w", i, err)
			}
			rooms, msgRooms = append(rooms, op.Message.Room), append(msgRooms, op.Message.Room)
		case op.Toggle != nil && op.Message == nil:
			rooms = append(rooms, op.Toggle.Room)
		default:
			return nil, fmt.Errorf("op %d: %w: need exactly one of message and toggle", i, chat.ErrInvalid)
		}
	}
	res := make([]chat.OpResult, len(ops))
	if len(ops) == 0 {
		return res, nil
	}
	if len(msgRooms) == len(ops) {
		return res, d.insertPipelined(ctx, ops, res)
	}
	err := d.tx(ctx, func(tx pgx.Tx) error {
		h, err := lockHeads(ctx, tx, rooms, msgRooms)
		if err != nil {
			return err
		}
		for i := 0; i < len(ops); {
			j := i
			for j < len(ops) && (ops[j].Toggle != nil) == (ops[i].Toggle != nil) {
				j++
			}
			if ops[i].Toggle != nil {
				err = toggleRun(ctx, tx, h, ops[i:j], res[i:j], now)
			} else {
				err = insertRun(ctx, tx, h, ops[i:j], res[i:j], false)
			}
			if err != nil {
				return err
			}
			i = j
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// insertPipelined writes a batch of messages only, the common case, in
// one round trip: the head lock and the insert go as one pipeline, which
// PostgreSQL runs as one implicit transaction (all or nothing, one
// commit). Resends are read back after the commit.
func (d *DB) insertPipelined(ctx context.Context, ops []chat.Op, res []chat.OpResult) error {
	msgs := make([]*chat.Message, len(ops))
	var rooms []string
	for i := range ops {
		msgs[i] = ops[i].Message
		rooms = append(rooms, msgs[i].Room)
	}
	args, sent, err := runArgs(msgs, false)
	if err != nil {
		return err
	}
	er := encRooms(rooms)
	var b pgx.Batch
	b.Queue(lockHeadsSQL, er, er)
	b.Queue(insertRunSQL, args...)
	br := d.pool.SendBatch(ctx, &b)
	_, lerr := br.Exec()
	var out []runRow
	var rerr error
	if lerr == nil {
		out, rerr = collectRun(br)
	}
	if err := errors.Join(lerr, rerr, br.Close()); err != nil {
		if isConstraint(err) {
			return fmt.Errorf("%w: %v", chat.ErrConflict, err)
		}
		return err
	}
	h := &heads{seq: map[string]int64{}}
	return finishRun(ctx, d.pool, h, msgs, sent, res, out, false)
}

// runRow is one row insertRunSQL returns.
type runRow struct {
	ord, seq int64
	fresh    bool
}

// collectRun reads insertRunSQL's rows.
func collectRun(rows interface{ Query() (pgx.Rows, error) }) ([]runRow, error) {
	r, err := rows.Query()
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(r, func(r pgx.CollectableRow) (runRow, error) {
		var g runRow
		err := r.Scan(&g.ord, &g.seq, &g.fresh)
		return g, err
	})
}

// txRows adapts one query in a transaction to collectRun.
type txRows struct {
	ctx  context.Context
	tx   pgx.Tx
	load bool
	args []any
}

func (q txRows) Query() (pgx.Rows, error) {
	if q.load {
		return q.tx.Query(q.ctx, loadRunSQL, q.args...)
	}
	return q.tx.Query(q.ctx, insertRunSQL, q.args...)
}

// insertRun inserts the messages of ops (all message ops) in one
// statement inside tx, whose rooms' heads are locked, and fills res. With
// load, a taken id is skipped rather than a conflict, and resends are not
// read back.
func insertRun(ctx context.Context, tx pgx.Tx, h *heads, ops []chat.Op, res []chat.OpResult, load bool) error {
	msgs := make([]*chat.Message, len(ops))
	for i := range ops {
		msgs[i] = ops[i].Message
	}
	args, sent, err := runArgs(msgs, load)
	if err != nil {
		return err
	}
	out, err := collectRun(txRows{ctx, tx, load, args})
	if isConstraint(err) {
		return fmt.Errorf("%w: %v", chat.ErrConflict, err)
	}
	if err != nil {
		return err
	}
	return finishRun(ctx, tx, h, msgs, sent, res, out, load)
}

// finishRun fills msgs and res from insertRunSQL's rows, advances h, and
// (unless load) reads back the stored original of each resend through q.
func finishRun(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, h *heads, msgs []*chat.Message, sent []int, res []chat.OpResult, out []runRow, load bool) error {
	seen := make([]bool, len(msgs))
	for _, g := range out {
		i := sent[g.ord-1]
		m := msgs[i]
		seen[i] = true
		m.Seq = g.seq
		res[i].Fresh = g.fresh
		if g.fresh {
			m.EventSeq = g.seq
			h.seq[m.Room] = max(h.seq[m.Room], g.seq)
			res[i].Message = *m
		}
	}
	if load {
		return nil
	}
	first := map[[2]string]int{}
	for i, m := range msgs {
		k := [2]string{m.Room, m.RefID}
		if _, ok := first[k]; !ok {
			first[k] = i
		}
		if res[i].Fresh {
			continue
		}
		m.EventSeq = 0
		if !seen[i] {
			// A repeat within the run: it is what its first occurrence
			// became.
			f := first[k]
			m.Seq = msgs[f].Seq
			res[i].Message = res[f].Message
			continue
		}
		// A resend: answer with what is stored, deleted or not.
		stored, err := scanMessage(q.QueryRow(ctx, `SELECT `+messageCols+` FROM messages WHERE room_id = $1 AND ref_id = $2`,
			enc(m.Room), enc(m.RefID)))
		if err != nil {
			return fmt.Errorf("read the stored original of %q: %w", m.RefID, err)
		}
		res[i].Message = stored
	}
	return nil
}

// heads holds the locked rooms' sequence numbers during one transaction;
// every statement that takes numbers advances room_heads itself.
type heads struct {
	seq map[string]int64
}

// lockHeadsSQL locks the head row of each room in $1 (sorted, so two
// transactions crossing rooms cannot deadlock), creating it for a room in
// $2 (rooms that get messages). A room with neither a row nor a message
// to store has no events, so nothing in it can be toggled or deleted: it
// is left unlocked and absent from the result.
const lockHeadsSQL = `INSERT INTO room_heads (room_id, seq)
	SELECT r, 0 FROM unnest($1::text[]) AS r
	WHERE r = ANY($2::text[]) OR r IN (SELECT room_id FROM room_heads WHERE room_id = ANY($1::text[]))
	ORDER BY r
	ON CONFLICT (room_id) DO UPDATE SET seq = room_heads.seq
	RETURNING room_id, seq`

// lockHeads locks rooms' heads until tx ends and returns them.
func lockHeads(ctx context.Context, tx pgx.Tx, rooms, create []string) (*heads, error) {
	rows, err := tx.Query(ctx, lockHeadsSQL, encRooms(rooms), encRooms(create))
	if err != nil {
		return nil, fmt.Errorf("lock room heads: %w", err)
	}
	h := &heads{seq: map[string]int64{}}
	var room string
	var seq int64
	_, err = pgx.ForEachRow(rows, []any{&room, &seq}, func() error {
		h.seq[dec(room)] = seq
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lock room heads: %w", err)
	}
	return h, nil
}

// encRooms escapes rooms, sorted and without repeats: the order heads are
// locked in.
func encRooms(rooms []string) []string {
	out := make([]string, 0, len(rooms))
	for _, r := range rooms {
		out = append(out, enc(r))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// next takes room's next number; the room must be locked.
func (h *heads) next(room string) (int64, bool) {
	s, ok := h.seq[room]
	if !ok {
		return 0, false
	}
	h.seq[room] = s + 1
	return s + 1, true
}

// toggleRun applies a run of reaction toggles (all toggle ops) in order
// and numbers each, under the rooms' head locks: one read locks every
// live target message, the toggles are applied in Go one after another
// (two on one message see each other), and one statement writes the final
// reactions and every event.
func toggleRun(ctx context.Context, tx pgx.Tx, h *heads, ops []chat.Op, res []chat.OpResult, now time.Time) error {
	type key struct{ room, ref string }
	var rooms, refs []string
	want := map[key]bool{}
	for i, op := range ops {
		t := op.Toggle
		switch _, ok := h.seq[t.Room]; {
		case t.UserID == "" || t.Kind < 0:
			res[i].Err = fmt.Errorf("toggle reaction: %w: user %q, kind %d", chat.ErrInvalid, t.UserID, t.Kind)
		case !ok: // a room without events has no message
			res[i].Err = fmt.Errorf("toggle reaction on %q in room %q: %w", t.RefID, t.Room, chat.ErrNotFound)
		case !want[key{t.Room, t.RefID}]:
			want[key{t.Room, t.RefID}] = true
			rooms, refs = append(rooms, enc(t.Room)), append(refs, enc(t.RefID))
		}
	}
	if len(rooms) == 0 {
		return nil
	}
	// room_id = ANY and ref_id = ANY keep it on the (room_id, ref_id) key
	// whatever the statistics say; pairs not asked for are dropped below
	// (their rooms are locked by this transaction already).
	rows, err := tx.Query(ctx, `SELECT `+messageCols+` FROM messages
		WHERE room_id = ANY($1::text[]) AND ref_id = ANY($2::text[]) AND deleted_at IS NULL
		ORDER BY room_id, ref_id FOR UPDATE`, rooms, refs)
	if err != nil {
		return fmt.Errorf("toggle reactions: %w", err)
	}
	live := map[key]*chat.Message{}
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			rows.Close()
			return fmt.Errorf("toggle reactions: %w", err)
		}
		if want[key{m.Room, m.RefID}] {
			live[key{m.Room, m.RefID}] = &m
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("toggle reactions: %w", err)
	}
	var ev struct {
		seqs        []int64
		rooms, refs []string
		users       []string
		kinds       []int32
	}
	var touched []key
	for i, op := range ops {
		t := op.Toggle
		if res[i].Err != nil {
			continue
		}
		m := live[key{t.Room, t.RefID}]
		if m == nil {
			res[i].Err = fmt.Errorf("toggle reaction on %q in room %q: %w", t.RefID, t.Room, chat.ErrNotFound)
			continue
		}
		touched = append(touched, key{t.Room, t.RefID})
		m.Reactions = chat.ToggleReaction(m.Reactions, t.UserID, t.Kind)
		m.UpdatedAt = now
		seq, _ := h.next(t.Room)
		res[i].Message = *m
		res[i].Message.EventSeq = seq
		ev.seqs, ev.rooms, ev.refs = append(ev.seqs, seq), append(ev.rooms, enc(t.Room)), append(ev.refs, enc(t.RefID))
		ev.users, ev.kinds = append(ev.users, enc(t.UserID)), append(ev.kinds, int32(t.Kind))
	}
	if len(ev.seqs) == 0 {
		return nil
	}
	var urooms, urefs, ureactions []string
	seen := map[key]bool{}
	for _, k := range touched {
		if seen[k] {
			continue
		}
		seen[k] = true
		b, err := encodeReactions(live[k].Reactions)
		if err != nil {
			return err
		}
		urooms, urefs, ureactions = append(urooms, enc(k.room)), append(urefs, enc(k.ref)), append(ureactions, b)
	}
	if _, err := tx.Exec(ctx, `WITH u AS (
			UPDATE messages m SET reactions = n.reactions::json, updated_at = $1
			FROM unnest($2::text[], $3::text[], $4::text[]) AS n(room_id, ref_id, reactions)
			WHERE m.room_id = n.room_id AND m.ref_id = n.ref_id AND m.room_id = ANY($2::text[]) AND m.ref_id = ANY($3::text[])
		), e AS (
			SELECT * FROM unnest($6::text[], $7::bigint[], $8::text[], $9::text[], $10::integer[])
				AS e(room_id, seq, ref_id, user_id, kind)
		), up AS (
			UPDATE room_heads h SET seq = (SELECT max(e.seq) FROM e WHERE e.room_id = h.room_id)
			WHERE h.room_id = ANY($6::text[])
		)
		INSERT INTO room_events (room_id, seq, kind, ref_id, user_id, reaction_kind, created_at)
		SELECT room_id, seq, $5, ref_id, user_id, kind, $1 FROM e`,
		ms(now), urooms, urefs, ureactions, int(chat.EventReaction), ev.rooms, ev.seqs, ev.refs, ev.users, ev.kinds); err != nil {
		return fmt.Errorf("toggle reactions: %w", err)
	}
	return nil
}

// messageCols are the columns scanMessage reads, in order.
const messageCols = `id, room_id, ref_id, room_seq, user_id, kind, reaction_kind, payload, reactions::text,
	created_at, updated_at, deleted_at`

// scanMessage reads messageCols, after any leading extra columns.
func scanMessage(row pgx.Row, extra ...any) (chat.Message, error) {
	var m chat.Message
	var reactionKind *int32
	var deleted *int64
	var reactions string
	var created, updated int64
	dst := append(extra, &m.ID, &m.Room, &m.RefID, &m.Seq, &m.UserID, &m.Kind, &reactionKind, &m.Payload,
		&reactions, &created, &updated, &deleted)
	if err := row.Scan(dst...); err != nil {
		return chat.Message{}, err
	}
	decAll(&m.ID, &m.Room, &m.RefID, &m.UserID)
	if reactionKind != nil {
		k := int(*reactionKind)
		m.ReactionKind = &k
	}
	if m.Payload == nil {
		m.Payload = []byte{}
	}
	var err error
	if m.Reactions, err = decodeReactions(reactions); err != nil {
		return chat.Message{}, fmt.Errorf("message %s: %w", m.ID, err)
	}
	m.CreatedAt, m.UpdatedAt = fromMS(created), fromMS(updated)
	if deleted != nil {
		t := fromMS(*deleted)
		m.DeletedAt = &t
	}
	return m, nil
}

// MessageByRef returns the message with this reference id in room,
// including a deleted one (erased), or chat.ErrNotFound.
func (d *DB) MessageByRef(ctx context.Context, room, ref string) (chat.Message, error) {
	m, err := scanMessage(d.pool.QueryRow(ctx,
		`SELECT `+messageCols+` FROM messages WHERE room_id = $1 AND ref_id = $2`, enc(room), enc(ref)))
	if errors.Is(err, pgx.ErrNoRows) {
		return chat.Message{}, fmt.Errorf("message %q in room %q: %w", ref, room, chat.ErrNotFound)
	}
	if err != nil {
		return chat.Message{}, fmt.Errorf("message %q in room %q: %w", ref, room, err)
	}
	return m, nil
}

// MessageByID returns the message with this server id, including a
// deleted one (erased), or chat.ErrNotFound.
func (d *DB) MessageByID(ctx context.Context, id string) (chat.Message, error) {
	m, err := scanMessage(d.pool.QueryRow(ctx, `SELECT `+messageCols+` FROM messages WHERE id = $1`, enc(id)))
	if errors.Is(err, pgx.ErrNoRows) {
		return chat.Message{}, fmt.Errorf("message id %q: %w", id, chat.ErrNotFound)
	}
	if err != nil {
		return chat.Message{}, fmt.Errorf("message id %q: %w", id, err)
	}
	return m, nil
}

// History returns up to limit live messages of room, newest first, as
// chat.MessageStore documents.
func (d *DB) History(ctx context.Context, room string, c chat.Cursor, limit int) ([]chat.Message, error) {
	if limit < 1 || limit > chat.MaxHistoryLimit {
		return nil, fmt.Errorf("history: %w: limit %d outside 1..%d", chat.ErrInvalid, limit, chat.MaxHistoryLimit)
	}
	// Unused bounds are the widest values, so one fixed statement serves
	// every cursor.
	before := int64(1<<63 - 1)
	if !c.Before.IsZero() {
		// Round up so that "before 10.5 ms" keeps messages stamped 10 ms.
		before = ms(c.Before)
		if c.Before.After(time.UnixMilli(before)) {
			before++
		}
	}
	refCreated, refSeq := int64(1<<63-1), int64(1<<63-1)
	if c.BeforeRef != "" {
		err := d.pool.QueryRow(ctx, `SELECT created_at, seq FROM messages WHERE room_id = $1 AND ref_id = $2`,
			enc(room), enc(c.BeforeRef)).Scan(&refCreated, &refSeq)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("history: cursor %q in room %q: %w", c.BeforeRef, room, chat.ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("history: cursor: %w", err)
		}
	}
	rows, err := d.pool.Query(ctx, `SELECT `+messageCols+` FROM messages
		WHERE room_id = $1 AND deleted_at IS NULL AND created_at < $2 AND (created_at, seq) < ($3, $4)
		ORDER BY created_at DESC, seq DESC LIMIT $5`, enc(room), before, refCreated, refSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer rows.Close()
	out := make([]chat.Message, 0, min(limit, 64))
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	return out, nil
}

// liveForUpdate reads a message that is not deleted and locks its row
// until tx ends, so a concurrent toggle or delete waits for this one.
func liveForUpdate(ctx context.Context, tx pgx.Tx, room, ref string) (chat.Message, error) {
	m, err := scanMessage(tx.QueryRow(ctx, `SELECT `+messageCols+` FROM messages
		WHERE room_id = $1 AND ref_id = $2 AND deleted_at IS NULL FOR UPDATE`, enc(room), enc(ref)))
	if errors.Is(err, pgx.ErrNoRows) {
		return chat.Message{}, chat.ErrNotFound
	}
	return m, err
}

// ToggleReaction applies chat.ToggleReaction to a live message under its
// room's head lock and its row lock, numbers the reaction event, and
// returns the updated message, or chat.ErrNotFound.
func (d *DB) ToggleReaction(ctx context.Context, room, ref, userID string, kind int) (chat.Message, error) {
	if userID == "" || kind < 0 {
		return chat.Message{}, fmt.Errorf("toggle reaction: %w: user %q, kind %d", chat.ErrInvalid, userID, kind)
	}
	res, err := d.writeOps(ctx, []chat.Op{{Toggle: &chat.Toggle{Room: room, RefID: ref, UserID: userID, Kind: kind}}})
	if err != nil {
		return chat.Message{}, fmt.Errorf("toggle reaction on %q in room %q: %w", ref, room, err)
	}
	if res[0].Err != nil {
		return chat.Message{}, res[0].Err
	}
	return res[0].Message, nil
}

// DeleteMessage deletes a live message; only its author may. The text and
// reactions are erased in the transaction that numbers the delete event.
// It returns the deleted message, chat.ErrNotFound or chat.ErrForbidden.
func (d *DB) DeleteMessage(ctx context.Context, room, ref, userID string) (chat.Message, error) {
	var m chat.Message
	err := d.tx(ctx, func(tx pgx.Tx) error {
		h, err := lockHeads(ctx, tx, []string{room}, nil)
		if err != nil {
			return err
		}
		if _, ok := h.seq[room]; !ok {
			return chat.ErrNotFound
		}
		if m, err = liveForUpdate(ctx, tx, room, ref); err != nil {
			return err
		}
		if m.UserID != userID {
			return chat.ErrForbidden
		}
		now := d.nowMS()
		m.DeletedAt, m.UpdatedAt = &now, now
		m.Erase()
		seq, _ := h.next(room)
		if _, err = tx.Exec(ctx, `WITH u AS (
				UPDATE messages SET deleted_at = $1, updated_at = $1, payload = '\x', reactions = '[]'
				WHERE room_id = $2 AND ref_id = $3
			), up AS (
				UPDATE room_heads SET seq = $4 WHERE room_id = $2
			)
			INSERT INTO room_events (room_id, seq, kind, ref_id, user_id, created_at) VALUES ($2, $4, $5, $3, $6, $1)`,
			ms(now), enc(room), enc(ref), seq, int(chat.EventDelete), enc(m.UserID)); err != nil {
			return err
		}
		m.EventSeq = seq
		return nil
	})
	if err != nil {
		return chat.Message{}, fmt.Errorf("delete message %q in room %q: %w", ref, room, err)
	}
	return m, nil
}

// LastSeq returns room's newest event number, 0 for a room without events.
func (d *DB) LastSeq(ctx context.Context, room string) (int64, error) {
	var s int64
	err := d.pool.QueryRow(ctx, `SELECT seq FROM room_heads WHERE room_id = $1`, enc(room)).Scan(&s)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("last seq of room %q: %w", room, err)
	}
	return s, nil
}

// eventsAfterSQL merges the two halves of a room's number line, messages
// and the other events, each read on its own (room, seq) key and cut to
// the limit before the merge. One statement reads one snapshot; with the
// head lock held until commit, a reader that sees event n sees all below.
const eventsAfterSQL = `SELECT seq, kind, ref_id, user_id, reaction_kind, payload, deleted, created_at FROM (
	(SELECT room_seq AS seq, 0::smallint AS kind, ref_id, user_id, 0 AS reaction_kind, payload,
			deleted_at IS NOT NULL AS deleted, created_at
		FROM messages WHERE room_id = $1 AND room_seq > $2 ORDER BY room_seq LIMIT $3)
	UNION ALL
	(SELECT seq, kind, ref_id, user_id, reaction_kind, '\x'::bytea, false, created_at
		FROM room_events WHERE room_id = $1 AND seq > $2 ORDER BY seq LIMIT $3)
) e ORDER BY seq LIMIT $3`

// EventsAfter returns up to limit events of room after seq, ascending, as
// chat.EventLog documents.
func (d *DB) EventsAfter(ctx context.Context, room string, after int64, limit int) ([]chat.Event, error) {
	if limit < 1 || limit > chat.MaxEventsLimit {
		return nil, fmt.Errorf("events after: %w: limit %d outside 1..%d", chat.ErrInvalid, limit, chat.MaxEventsLimit)
	}
	rows, err := d.pool.Query(ctx, eventsAfterSQL, enc(room), after, limit)
	if err != nil {
		return nil, fmt.Errorf("events after %d in room %q: %w", after, room, err)
	}
	out := make([]chat.Event, 0, min(limit, 64))
	var e chat.Event
	var kind int16
	var reaction int32
	var at int64
	_, err = pgx.ForEachRow(rows, []any{&e.Seq, &kind, &e.RefID, &e.UserID, &reaction, &e.Payload, &e.Deleted, &at}, func() error {
		ev := e
		ev.Room, ev.Kind, ev.Reaction, ev.At = room, chat.EventKind(kind), int(reaction), fromMS(at)
		decAll(&ev.RefID, &ev.UserID)
		ev.Payload = append([]byte{}, e.Payload...)
		out = append(out, ev)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("events after %d in room %q: %w", after, room, err)
	}
	return out, nil
}

// MessagesAfter returns up to limit messages of room with Seq > after,
// ascending, deleted ones included, as chat.EventLog documents.
func (d *DB) MessagesAfter(ctx context.Context, room string, after int64, limit int) ([]chat.Message, error) {
	if limit < 1 || limit > chat.MaxEventsLimit {
		return nil, fmt.Errorf("messages after: %w: limit %d outside 1..%d", chat.ErrInvalid, limit, chat.MaxEventsLimit)
	}
	rows, err := d.pool.Query(ctx, `SELECT `+messageCols+` FROM messages
		WHERE room_id = $1 AND room_seq > $2 ORDER BY room_seq LIMIT $3`, enc(room), after, limit)
	if err != nil {
		return nil, fmt.Errorf("messages after %d in room %q: %w", after, room, err)
	}
	defer rows.Close()
	out := make([]chat.Message, 0, min(limit, 64))
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("messages after %d in room %q: %w", after, room, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("messages after %d in room %q: %w", after, room, err)
	}
	return out, nil
}
