package d1import

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wasmchannel/wasmchannel/auth"
	"github.com/wasmchannel/wasmchannel/chat"
)

// Upstream's table names (upstream-d1.md § Tables after the last migration).
const (
	tableUser     = "user"
	tableAccount  = "account"
	tableSession  = "session"
	tableMessages = "messages"
	// tableReactions is not a table upstream: it reports the reaction rows
	// rebuilt from messages.reactions.
	tableReactions = "reactions"
)

// Skip and note reasons shared with the tests.
const (
	ReasonDuplicateEmail    = "email already used by an earlier user of the dump"
	ReasonNoEmail           = "no email"
	ReasonNoID              = "no id"
	ReasonEmailInvalid      = "email fails sign-in's address check (kept; that user cannot sign in)"
	ReasonNoPassword        = "user has no email-and-password account (kept; that user cannot sign in)"
	ReasonProvider          = "not an email-and-password account"
	ReasonAccountNoUser     = "account of a user not in the dump"
	ReasonAccountDup        = "account of a user skipped as a duplicate email (the earlier user's password is kept)"
	ReasonReattributed      = "author was a duplicate email: attributed to the earlier user with that email"
	ReasonBadHash           = "password is not a Better Auth scrypt hash"
	ReasonExtraAccount      = "second password account of the same user"
	ReasonNotRequested      = "not requested (--sessions)"
	ReasonExpired           = "expired"
	ReasonSessionNoUser     = "session of a user not imported"
	ReasonNoToken           = "no token"
	ReasonDuplicateRef      = "reference id already used by an earlier message"
	ReasonBadTime           = "created time unreadable"
	ReasonAuthorUnknown     = "author not among the dump's users (kept with its author id)"
	ReasonBadJSON           = "reactions JSON unreadable (message kept without reactions)"
	ReasonReactorUnknown    = "reacting user not among the dump's users"
	ReasonDuplicateReact    = "same user twice in one reaction"
	ReasonBadReaction       = "reaction entry malformed"
	ReasonCountMismatch     = "reaction count differed from its users list (users kept)"
	ReasonDeleted           = "deleted upstream (kept deleted)"
	ReasonReactionOnDeleted = "reaction on a deleted message (a delete erases reactions)"
	ReasonMilliseconds      = "times stored in milliseconds, not seconds"
	ReasonMergedAccount     = "email already has an account in the target (existing account kept)"
	ReasonIDTaken           = "user id already used by another account in the target: given a new id"
	ReasonRefTaken          = "reference id already in the target room (the stored message is kept)"
	ReasonAlready           = "already in the target (an earlier run of this import)"
	ReasonMessageIDTaken    = "message id already used in the target: given a new id"
	ReasonMergedSession     = "session of a user merged into an existing account"
)

// Plan is everything read from a dump, mapped to wasmchannel's values and
// accounted for in Report, before anything is written. The values carry
// upstream's ids; Write maps them to the target's and sets the room.
type Plan struct {
	Users    []chat.BulkUser
	Sessions []chat.Session
	Messages []chat.Message // oldest first, ties in the dump's order; Room unset
	Report   *Report
}

// MapOptions steer the mapping.
type MapOptions struct {
	// Sessions imports unexpired sessions.
	Sessions bool
	// Now decides which sessions have expired.
	Now time.Time
}

// required columns per table; a dump without them is not upstream's.
var required = map[string][]string{
	tableUser:     {"id", "email"},
	tableAccount:  {"userid", "providerid", "password"},
	tableMessages: {"id", "message", "sentby", "createdat"},
	tableSession:  {"token", "userid", "expiresat"},
}

// Map reads the upstream tables of d into a Plan.
func (d *Dump) Map(ctx context.Context, o MapOptions) (*Plan, error) {
	p := &Plan{Report: &Report{}}
	for _, t := range []string{tableUser, tableAccount, tableMessages} {
		if _, ok := d.table(t); !ok {
			return nil, fmt.Errorf("%w: the dump has no %q table (tables: %s)", ErrForeignDump, t, strings.Join(d.Tables(), ", "))
		}
	}
	known := map[string]bool{tableUser: true, tableAccount: true, tableMessages: true, tableSession: true}
	for _, t := range d.Tables() {
		if !known[strings.ToLower(t)] {
			p.Report.Ignored = append(p.Report.Ignored, t)
		}
	}
	sort.Strings(p.Report.Ignored)

	users, dups, err := d.mapUsers(ctx, p.Report.Table(tableUser))
	if err != nil {
		return nil, err
	}
	if err := d.mapAccounts(ctx, p.Report.Table(tableAccount), users, dups); err != nil {
		return nil, err
	}
	// byID maps every upstream user id to the id it is imported under:
	// itself, or for a duplicate email the earlier user's.
	byID := map[string]string{}
	for _, u := range users {
		p.Users = append(p.Users, *u)
		byID[u.ID] = u.ID
	}
	for dup, kept := range dups {
		byID[dup] = kept
	}
	if p.Sessions, err = d.mapSessions(ctx, p.Report.Table(tableSession), byID, o); err != nil {
		return nil, err
	}
	if p.Messages, err = d.mapMessages(ctx, p.Report.Table(tableMessages), p.Report.Table(tableReactions), byID); err != nil {
		return nil, err
	}
	return p, nil
}

// row is one upstream row keyed by normalised column name.
type row map[string]any

// scan runs fn over every row of table in the dump's insertion order. It
// checks the required columns and reports each absent optional one as
// defaulted for every row.
func (d *Dump) scan(ctx context.Context, name string, optional []string, rep *TableReport, fn func(row) error) error {
	table, _ := d.table(name)
	cols, err := d.columns(ctx, table)
	if err != nil {
		return err
	}
	for c, alias := range aliases {
		if _, ok := cols[c]; !ok && cols[alias] != "" {
			cols[c] = cols[alias]
		}
	}
	var names, keys []string
	for _, c := range required[name] {
		n, ok := cols[c]
		if !ok {
			return fmt.Errorf("%w: table %q has no column %q", ErrForeignDump, table, c)
		}
		names, keys = append(names, quoteIdent(n)), append(keys, c)
	}
	var absent []string
	for _, c := range optional {
		if n, ok := cols[c]; ok {
			names, keys = append(names, quoteIdent(n)), append(keys, c)
		} else {
			absent = append(absent, c)
		}
	}
	q := `SELECT ` + strings.Join(names, ", ") + ` FROM ` + quoteIdent(table)
	rows, err := d.db.QueryContext(ctx, q+` ORDER BY rowid`)
	if err != nil { // a WITHOUT ROWID table: its primary-key order
		rows, err = d.db.QueryContext(ctx, q)
	}
	if err != nil {
		return fmt.Errorf("read %q: %w", table, err)
	}
	defer rows.Close()
	vals := make([]any, len(keys))
	ptrs := make([]any, len(keys))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("read %q: %w", table, err)
		}
		r := make(row, len(keys))
		for i, k := range keys {
			r[k] = vals[i]
		}
		n++
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read %q: %w", table, err)
	}
	for _, c := range absent {
		if n > 0 {
			rep.def(fmt.Sprintf("column %s absent (older schema): %s", c, defaults[name+"."+c]), n)
		}
	}
	return nil
}

// aliases are other spellings of a column that mean the same.
var aliases = map[string]string{"refrenceid": "referenceid"}

// defaults says what an absent optional column becomes.
var defaults = map[string]string{
	"user.name":             `""`,
	"user.emailverified":    "false",
	"user.image":            "none",
	"user.createdat":        "the import time",
	"user.updatedat":        "created time",
	"session.id":            "a new id",
	"session.createdat":     "the import time",
	"session.updatedat":     "created time",
	"session.ipaddress":     `""`,
	"session.useragent":     `""`,
	"messages.refrenceid":   "the message id",
	"messages.kind":         "0 (Message)",
	"messages.reactionkind": "none",
	"messages.reactions":    "no reactions",
	"messages.updatedat":    "created time",
	"messages.deletedat":    "live",
}

// mapUsers returns the users to import and, for each user skipped as a
// duplicate email, the id of the earlier user holding that email.
func (d *Dump) mapUsers(ctx context.Context, rep *TableReport) ([]*chat.BulkUser, map[string]string, error) {
	var out []*chat.BulkUser
	byEmail := map[string]string{}
	dups := map[string]string{}
	ms := false
	err := d.scan(ctx, tableUser, []string{"name", "emailverified", "image", "createdat", "updatedat"}, rep, func(r row) error {
		rep.Read++
		id := text(r["id"])
		email := auth.NormalizeEmail(text(r["email"]))
		switch {
		case id == "":
			rep.skip(ReasonNoID)
			return nil
		case email == "":
			rep.skip(ReasonNoEmail)
			return nil
		case byEmail[email] != "":
			rep.skip(ReasonDuplicateEmail)
			dups[id] = byEmail[email]
			return nil
		}
		byEmail[email] = id
		if !auth.ValidEmail(email) {
			rep.note(ReasonEmailInvalid)
		}
		u := &chat.BulkUser{User: chat.User{ID: id, Name: text(r["name"]), Email: email, EmailVerified: truthy(r["emailverified"])}}
		if r["image"] != nil {
			s := text(r["image"])
			u.Image = &s
		}
		var ok bool
		if u.CreatedAt, ok = timeOf(r["createdat"], &ms); !ok {
			if _, has := r["createdat"]; has {
				rep.def("created time unreadable: the import time", 1)
			}
			u.CreatedAt = time.Now().UTC()
		}
		if u.UpdatedAt, ok = timeOf(r["updatedat"], &ms); !ok {
			u.UpdatedAt = u.CreatedAt
		}
		out = append(out, u)
		rep.Imported++
		return nil
	})
	if ms {
		rep.note(ReasonMilliseconds)
	}
	return out, dups, err
}

func (d *Dump) mapAccounts(ctx context.Context, rep *TableReport, users []*chat.BulkUser, dups map[string]string) error {
	byID := make(map[string]*chat.BulkUser, len(users))
	for _, u := range users {
		byID[u.ID] = u
	}
	err := d.scan(ctx, tableAccount, nil, rep, func(r row) error {
		rep.Read++
		if text(r["providerid"]) != "credential" {
			rep.skip(ReasonProvider)
			return nil
		}
		uid := text(r["userid"])
		u := byID[uid]
		hash := text(r["password"])
		switch {
		case u == nil && dups[uid] != "":
			rep.skip(ReasonAccountDup)
		case u == nil:
			rep.skip(ReasonAccountNoUser)
		case !betterAuthHash(hash):
			rep.skip(ReasonBadHash)
		case u.PasswordHash != "":
			rep.skip(ReasonExtraAccount)
		default:
			u.PasswordHash = hash
			rep.Imported++
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, u := range users {
		if u.PasswordHash == "" {
			rep.note(ReasonNoPassword)
		}
	}
	return nil
}

// betterAuthHash checks the "<salt hex>:<key hex>" shape of Better Auth's
// scrypt hashes (upstream-d1.md § Passwords), so that a row the verifier
// would refuse is reported here rather than at a failed sign-in.
func betterAuthHash(h string) bool {
	salt, key, ok := strings.Cut(h, ":")
	return ok && len(salt) == 32 && isHex(salt) && len(key) >= 32 && len(key)%2 == 0 && isHex(key)
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func (d *Dump) mapSessions(ctx context.Context, rep *TableReport, users map[string]string, o MapOptions) ([]chat.Session, error) {
	if _, ok := d.table(tableSession); !ok {
		return nil, nil
	}
	var out []chat.Session
	ms := false
	err := d.scan(ctx, tableSession, []string{"id", "createdat", "updatedat", "ipaddress", "useragent"}, rep, func(r row) error {
		rep.Read++
		if !o.Sessions {
			rep.skip(ReasonNotRequested)
			return nil
		}
		token := text(r["token"])
		uid := users[text(r["userid"])]
		exp, ok := timeOf(r["expiresat"], &ms)
		switch {
		case token == "":
			rep.skip(ReasonNoToken)
			return nil
		case uid == "":
			rep.skip(ReasonSessionNoUser)
			return nil
		case !ok || !exp.After(o.Now):
			rep.skip(ReasonExpired)
			return nil
		}
		s := chat.Session{ID: text(r["id"]), TokenHash: chat.HashToken(token), UserID: uid, ExpiresAt: exp,
			IPAddress: text(r["ipaddress"]), UserAgent: text(r["useragent"])}
		if s.ID == "" {
			id, err := auth.NewID()
			if err != nil {
				return err
			}
			s.ID = id
		}
		if s.CreatedAt, ok = timeOf(r["createdat"], &ms); !ok {
			s.CreatedAt = o.Now
		}
		if s.UpdatedAt, ok = timeOf(r["updatedat"], &ms); !ok {
			s.UpdatedAt = s.CreatedAt
		}
		out = append(out, s)
		rep.Imported++
		return nil
	})
	if ms {
		rep.note(ReasonMilliseconds)
	}
	return out, err
}

func (d *Dump) mapMessages(ctx context.Context, rep, rrep *TableReport, users map[string]string) ([]chat.Message, error) {
	var out []chat.Message
	refs := map[string]bool{}
	ms := false
	opt := []string{"refrenceid", "kind", "reactionkind", "reactions", "updatedat", "deletedat"}
	err := d.scan(ctx, tableMessages, opt, rep, func(r row) error {
		rep.Read++
		m := chat.Message{ID: text(r["id"]), UserID: text(r["sentby"]), Payload: bytesOf(r["message"])}
		if m.ID == "" {
			rep.skip(ReasonNoID)
			return nil
		}
		m.RefID = text(r["refrenceid"])
		if m.RefID == "" {
			if _, has := r["refrenceid"]; has {
				rep.def("reference id empty: the message id", 1)
			}
			m.RefID = m.ID
		}
		if refs[m.RefID] {
			rep.skip(ReasonDuplicateRef)
			return nil
		}
		var ok bool
		if m.CreatedAt, ok = timeOf(r["createdat"], &ms); !ok {
			rep.skip(ReasonBadTime)
			return nil
		}
		refs[m.RefID] = true
		if k, ok := intOf(r["kind"]); ok && k >= 0 {
			m.Kind = k
		} else if r["kind"] != nil {
			rep.def("kind unreadable: 0 (Message)", 1)
		}
		if k, ok := intOf(r["reactionkind"]); ok && k >= 0 {
			m.ReactionKind = &k
		}
		if m.UpdatedAt, ok = timeOf(r["updatedat"], &ms); !ok {
			m.UpdatedAt = m.CreatedAt
		}
		if v, has := r["deletedat"]; has {
			// upstream-d1.md § Deleted or not: live when deleted_at equals
			// created_at; deleted when it differs or is NULL.
			del, ok := timeOf(v, &ms)
			switch {
			case ok && del.Equal(m.CreatedAt):
			case ok:
				m.DeletedAt = &del
			default:
				t := m.UpdatedAt
				m.DeletedAt = &t
			}
			if m.DeletedAt != nil {
				rep.note(ReasonDeleted)
			}
		}
		switch id, ok := users[m.UserID]; {
		case !ok:
			rep.note(ReasonAuthorUnknown)
		case id != m.UserID:
			rep.note(ReasonReattributed)
			m.UserID = id
		}
		if v, has := r["reactions"]; has {
			m.Reactions = mapReactions(v, users, rrep)
		}
		if m.DeletedAt != nil {
			// A delete erases a message's reactions with its text (the
			// stores keep neither), so they are reported, not imported.
			for _, rx := range m.Reactions {
				rrep.Imported -= len(rx.Users)
				for range rx.Users {
					rrep.skip(ReasonReactionOnDeleted)
				}
			}
			m.Reactions = nil
		}
		out = append(out, m)
		rep.Imported++
		return nil
	})
	if err != nil {
		return nil, err
	}
	if ms {
		rep.note(ReasonMilliseconds)
	}
	// Oldest first; SliceStable keeps the dump's order within one second,
	// which is all upstream's second-resolution times can tell apart.
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// mapReactions turns upstream's reactions JSON into per-kind user lists,
// counting every user entry in rrep as read, then imported or skipped.
func mapReactions(v any, users map[string]string, rrep *TableReport) []chat.Reaction {
	raw := text(v)
	if strings.TrimSpace(raw) == "" {
		return nil
	}
	var list []struct {
		Kind  *int              `json:"kind"`
		Count *int              `json:"count"`
		Users []json.RawMessage `json:"users"`
	}
	if err := json.Unmarshal([]byte(raw), &list); err != nil {
		rrep.note(ReasonBadJSON)
		return nil
	}
	var out []chat.Reaction
	for _, e := range list {
		rrep.Read += len(e.Users)
		if e.Kind == nil || *e.Kind < 0 {
			for range e.Users {
				rrep.skip(ReasonBadReaction)
			}
			continue
		}
		if e.Count != nil && *e.Count != len(e.Users) {
			rrep.note(ReasonCountMismatch)
		}
		i := slices.IndexFunc(out, func(r chat.Reaction) bool { return r.Kind == *e.Kind })
		if i < 0 {
			out = append(out, chat.Reaction{Kind: *e.Kind})
			i = len(out) - 1
		}
		for _, ru := range e.Users {
			var id string
			if err := json.Unmarshal(ru, &id); err != nil || id == "" {
				rrep.skip(ReasonBadReaction)
				continue
			}
			id, known := users[id]
			switch {
			case !known:
				rrep.skip(ReasonReactorUnknown)
			case slices.Contains(out[i].Users, id):
				rrep.skip(ReasonDuplicateReact)
			default:
				out[i].Users = append(out[i].Users, id)
				out[i].Count = len(out[i].Users)
				rrep.Imported++
			}
		}
	}
	return slices.DeleteFunc(out, func(r chat.Reaction) bool { return len(r.Users) == 0 })
}

// text reads a column as text; NULL is "".
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		if x {
			return "1"
		}
		return "0"
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}

func bytesOf(v any) []byte {
	if b, ok := v.([]byte); ok {
		return slices.Clone(b)
	}
	return []byte(text(v))
}

func truthy(v any) bool {
	switch x := v.(type) {
	case int64:
		return x != 0
	case float64:
		return x != 0
	case bool:
		return x
	}
	s := strings.ToLower(strings.TrimSpace(text(v)))
	return s == "1" || s == "true"
}

func intOf(v any) (int, bool) {
	switch x := v.(type) {
	case int64:
		return int(x), x >= math.MinInt32 && x <= math.MaxInt32
	case float64:
		return int(x), x == math.Trunc(x) && math.Abs(x) <= math.MaxInt32
	case nil:
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(text(v)))
	return n, err == nil
}

// msThreshold tells seconds from milliseconds: 1e11 seconds is the year
// 5138, 1e11 milliseconds is March 1973, before any upstream row.
const msThreshold = 1e11

// timeOf reads an upstream time: integer Unix seconds (upstream-d1.md),
// or milliseconds (setting *ms), or ISO-8601 text. NULL and anything else
// are not a time.
func timeOf(v any, ms *bool) (time.Time, bool) {
	var f float64
	switch x := v.(type) {
	case nil:
		return time.Time{}, false
	case int64:
		f = float64(x)
	case float64:
		f = x
	case time.Time:
		return x.UTC(), true
	default:
		s := strings.TrimSpace(text(v))
		if n, err := strconv.ParseFloat(s, 64); err == nil {
			f = n
			break
		}
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC(), true
			}
		}
		return time.Time{}, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return time.Time{}, false
	}
	if f >= msThreshold {
		*ms = true
		return time.UnixMilli(int64(f)).UTC(), true
	}
	return time.UnixMilli(int64(math.Round(f * 1000))).UTC(), true
}
