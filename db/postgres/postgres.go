// Package postgres is the chat.Store for installations that outgrow one
// SQLite file: the same schema and behaviour on PostgreSQL, through a pgx
// connection pool. Every query is parameterized. It is the only package
// that imports pgx.
//
// Every write that numbers a room event (messages, reaction toggles,
// deletes, bulk loads) first locks the head row of each room it touches,
// in sorted order, and advances it before committing (room_heads,
// migrations/0002_room_seq.sql). So a room's numbers are dense and follow
// commit order on any number of nodes; concurrent toggles and deletes
// queue rather than lose each other's change; and a resend is recognized
// under the lock, with the unique key as the backstop.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wasmchannel/wasmchannel/chat"
)

// Kind is what Kind returns, the name /health reports.
const Kind = "postgres"

// DefaultConnectTimeout bounds each new connection when the URL sets no
// connect_timeout, so a server that has gone away fails calls instead of
// hanging them.
const DefaultConnectTimeout = 5 * time.Second

// MinPoolSize is the smallest connection pool Open sizes when the URL sets
// no pool_max_conns.
const MinPoolSize = 8

// DB is an open PostgreSQL store. It is safe for concurrent use and
// implements chat.Store.
type DB struct {
	pool *pgxpool.Pool
	now  func() time.Time
	// where names the server for errors and logs, without the password.
	where string

	openApplied []string
}

var _ chat.Store = (*DB)(nil)

// Option configures Open.
type Option func(*DB)

// WithClock replaces time.Now for every time the store stamps itself, as
// sqlite.WithClock does. Tests use it to control time.
func WithClock(now func() time.Time) Option {
	return func(d *DB) { d.now = now }
}

// Open connects to the PostgreSQL server named by rawURL (postgres:// or
// postgresql://), checks that it answers, and applies every pending
// migration. A bad URL, an unreachable server or a refused login fails
// here, with one line naming the server and the reason; the password is
// never part of it.
func Open(ctx context.Context, rawURL string, opts ...Option) (*DB, error) {
	return open(ctx, rawURL, "", opts...)
}

// open is Open applying migrations only up to version upTo ("" for all),
// so tests can start from each older schema.
func open(ctx context.Context, rawURL, upTo string, opts ...Option) (*DB, error) {
	secret := urlPassword(rawURL)
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("open postgres: invalid URL: %s", scrub(reason(err), secret))
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	if !strings.Contains(rawURL, "pool_max_conns") {
		// pgx's default (4 on a small machine) would queue the rooms' reads
		// behind the writer's batch; SQLite's read pool is this size too.
		cfg.MaxConns = int32(max(MinPoolSize, 2*runtime.GOMAXPROCS(0)))
	}
	cc := cfg.ConnConfig
	d := &DB{now: time.Now, where: fmt.Sprintf("%s:%d (database %q, user %q)", cc.Host, cc.Port, cc.Database, cc.User)}
	for _, o := range opts {
		o(d)
	}
	if d.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("open postgres at %s: %s", d.where, scrub(reason(err), secret))
	}
	if err := d.pool.Ping(ctx); err != nil {
		d.pool.Close()
		return nil, fmt.Errorf("open postgres at %s: %s", d.where, scrub(reason(err), secret))
	}
	if d.openApplied, err = d.migrateTo(ctx, upTo); err != nil {
		d.pool.Close()
		return nil, fmt.Errorf("open postgres at %s: %s", d.where, scrub(err.Error(), secret))
	}
	return d, nil
}

// urlPassword returns the password a URL carries, to scrub from messages.
func urlPassword(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if p, ok := u.User.Password(); ok {
		return p
	}
	return u.Query().Get("password")
}

// scrub removes secret from msg.
func scrub(msg, secret string) string {
	if secret == "" {
		return msg
	}
	return strings.ReplaceAll(msg, secret, "xxxxx")
}

// reason is the most telling part of a connection error: the server's own
// message for a refused login, the dial error for an unreachable server.
func reason(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Sprintf("%s (SQLSTATE %s)", pe.Message, pe.Code)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) && ce.Unwrap() != nil {
		return ce.Unwrap().Error()
	}
	var pce *pgconn.ParseConfigError
	if errors.As(err, &pce) && pce.Unwrap() != nil {
		return pce.Unwrap().Error()
	}
	return err.Error()
}

// AppliedAtOpen returns the migrations Open applied.
func (d *DB) AppliedAtOpen() []string { return slices.Clone(d.openApplied) }

// Kind returns "postgres".
func (d *DB) Kind() string { return Kind }

// Where names the server (host, port, database, user; never the password).
func (d *DB) Where() string { return d.where }

// Close closes the pool. Close the writer first so that it can flush.
func (d *DB) Close() error {
	d.pool.Close()
	return nil
}

// Ping checks that the server answers a query, for health checks.
func (d *DB) Ping(ctx context.Context) error {
	var one int
	if err := d.pool.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	return nil
}

// tx runs fn in one transaction and commits it, rolling back if fn or the
// commit fails.
func (d *DB) tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// SQLSTATE codes the store tells apart.
const (
	codeUnique     = "23505"
	codeForeignKey = "23503"
)

// sqlState returns err's SQLSTATE, or "".
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// isConstraint reports whether err is an integrity constraint violation
// (class 23): one row's fault rather than the server's.
func isConstraint(err error) bool { return strings.HasPrefix(sqlState(err), "23") }

// ms converts t to the stored unix-millisecond form.
func ms(t time.Time) int64 { return t.UnixMilli() }

// msPtr maps a nil time to NULL.
func msPtr(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	v := ms(*t)
	return &v
}

// fromMS converts a stored unix-millisecond value to a UTC time.
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// nowMS is the injected clock truncated to the stored precision.
func (d *DB) nowMS() time.Time { return chat.Millis(d.now()) }
