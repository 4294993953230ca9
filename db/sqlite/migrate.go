package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"

	"github.com/wasmchannel/wasmchannel/db/schema"
)

// migrationFS holds the schema changes, applied in file-name order. Never
// edit a file once released; add a new one.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migrations lists the embedded files in order.
func migrations() ([]schema.Migration, error) { return schema.Load(migrationFS) }

// Versions returns the versions of the embedded migrations, in order.
func Versions() []string { return schema.Versions(migrationFS) }

// Migrate applies every embedded migration not yet recorded in
// schema_migrations, each in its own IMMEDIATE transaction together with its
// record, and returns the versions it applied (none when up to date). Two
// processes migrating at once are safe: the second sees the first's record
// inside its own transaction. A database holding a version this binary does
// not know is refused, since an older binary could misread a newer schema.
func (d *DB) Migrate(ctx context.Context) (applied []string, err error) {
	return d.migrateTo(ctx, "")
}

// migrateTo is Migrate stopping after version upTo ("" for all).
func (d *DB) migrateTo(ctx context.Context, upTo string) (applied []string, err error) {
	list, err := migrations()
	if err != nil {
		return nil, fmt.Errorf("migrate: read embedded migrations: %w", err)
	}
	if _, err := d.wr.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    TEXT    PRIMARY KEY,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return nil, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	if err := d.checkUnknownVersions(ctx, list); err != nil {
		return nil, err
	}
	for _, m := range list {
		done := false
		err := d.writeTx(ctx, func(tx *sql.Tx) error {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM schema_migrations WHERE version = ?`, m.Version).Scan(&one)
			if err == nil {
				done = true
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
				m.Version, ms(d.now()))
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("migrate %s: %w", m.Version, err)
		}
		if !done {
			applied = append(applied, m.Version)
			// Same connection, so data_version does not move: a migration
			// that renumbers rooms must not leave the cached heads behind.
			d.heads.forget()
		}
		if m.Version == upTo {
			break
		}
	}
	return applied, nil
}

// checkUnknownVersions fails if the database records a migration that is
// not embedded in this binary.
func (d *DB) checkUnknownVersions(ctx context.Context, list []schema.Migration) error {
	recorded, err := appliedVersions(ctx, d.wr)
	if err != nil {
		return fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	return schema.CheckRecorded(list, recorded)
}

// AppliedMigrations returns the recorded versions, in order.
func (d *DB) AppliedMigrations(ctx context.Context) ([]string, error) {
	vs, err := appliedVersions(ctx, d.rd)
	if err != nil {
		return nil, fmt.Errorf("applied migrations: %w", err)
	}
	return vs, nil
}

// appliedVersions reads schema_migrations through q, in order.
func appliedVersions(ctx context.Context, q *sql.DB) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
