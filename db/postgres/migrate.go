package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/wasmchannel/wasmchannel/db/schema"

	"github.com/jackc/pgx/v5"
)

// migrationFS holds the schema changes, applied in file-name order. Never
// edit a file once released; add a new one.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLock is the advisory lock key held while migrating, so two
// nodes starting at once apply each migration once.
const migrationLock = 0x7761736d63686e // "wasmchn"

// migrations lists the embedded files in order.
func migrations() ([]schema.Migration, error) { return schema.Load(migrationFS) }

// Versions returns the versions of the embedded migrations, in order.
func Versions() []string { return schema.Versions(migrationFS) }

// Migrate applies every embedded migration not yet recorded in
// schema_migrations, each in its own transaction together with its record,
// and returns the versions it applied (none when up to date).
func (d *DB) Migrate(ctx context.Context) ([]string, error) {
	return d.migrateTo(ctx, "")
}

// migrateTo is Migrate stopping after version upTo ("" for all), so tests
// can start from each older schema.
func (d *DB) migrateTo(ctx context.Context, upTo string) (applied []string, err error) {
	list, err := migrations()
	if err != nil {
		return nil, fmt.Errorf("migrate: read embedded migrations: %w", err)
	}
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	// A session lock on this one connection: another node waits here until
	// this one has finished, then finds everything recorded.
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLock)); err != nil {
		return nil, fmt.Errorf("migrate: lock: %w", err)
	}
	defer func() {
		if _, uerr := conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, int64(migrationLock)); uerr != nil && err == nil {
			err = fmt.Errorf("migrate: unlock: %w", uerr)
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    text   PRIMARY KEY,
		applied_at bigint NOT NULL
	)`); err != nil {
		return nil, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	if err := checkUnknownVersions(ctx, conn.Conn(), list); err != nil {
		return nil, err
	}
	for _, m := range list {
		var one int
		err := conn.QueryRow(ctx, `SELECT 1 FROM schema_migrations WHERE version = $1`, m.Version).Scan(&one)
		switch {
		case err == nil:
			// already applied
		case errors.Is(err, pgx.ErrNoRows):
			if err := pgx.BeginFunc(ctx, conn.Conn(), func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, m.SQL); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`,
					m.Version, ms(d.now()))
				return err
			}); err != nil {
				return applied, fmt.Errorf("migrate %s: %w", m.Version, err)
			}
			applied = append(applied, m.Version)
		default:
			return applied, fmt.Errorf("migrate %s: %w", m.Version, err)
		}
		if m.Version == upTo {
			break
		}
	}
	return applied, nil
}

// checkUnknownVersions fails if the database records a migration that is
// not embedded in this binary.
func checkUnknownVersions(ctx context.Context, conn *pgx.Conn, list []schema.Migration) error {
	rows, err := conn.Query(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	return schema.CheckRecorded(list, vs)
}

// AppliedMigrations returns the recorded versions, in order.
func (d *DB) AppliedMigrations(ctx context.Context) ([]string, error) {
	rows, err := d.pool.Query(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("applied migrations: %w", err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("applied migrations: %w", err)
	}
	return vs, nil
}
