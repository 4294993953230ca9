// Package db opens the store an installation runs on: a SQLite file for a
// single node, or PostgreSQL (design.md § Past one machine). Only app and
// cmd import it; everything else sees the chat.Store it returns, so no
// layer above depends on a driver.
package db

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/db/postgres"
	"github.com/wasmchannel/wasmchannel/db/sqlite"
)

// DefaultTarget is the store `serve` opens when given none: a SQLite file
// in the working directory.
const DefaultTarget = "wasmchannel.db"

// IsPostgres reports whether target is a PostgreSQL URL rather than a file
// path.
func IsPostgres(target string) bool {
	return strings.HasPrefix(target, "postgres://") || strings.HasPrefix(target, "postgresql://")
}

// Open opens the store named by target, applying every pending migration of
// that store: a postgres:// or postgresql:// URL opens PostgreSQL, anything
// else is a SQLite file path. The error never repeats a URL's password.
func Open(ctx context.Context, target string) (chat.Store, error) {
	return OpenWith(ctx, target, Options{})
}

// Options tune OpenWith; the zero value is Open's defaults.
type Options struct {
	// SQLiteSyncNormal opens a SQLite file with synchronous=NORMAL
	// (sqlite.WithSyncNormal says what that gives up). PostgreSQL refuses
	// it: its durability is the server's setting.
	SQLiteSyncNormal bool
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, target string, o Options) (chat.Store, error) {
	if IsPostgres(target) {
		if o.SQLiteSyncNormal {
			return nil, fmt.Errorf("open %s: %w: synchronous=NORMAL is a SQLite setting", Redact(target), chat.ErrInvalid)
		}
		d, err := postgres.Open(ctx, target)
		if err != nil {
			return nil, err
		}
		return d, nil
	}
	var opts []sqlite.Option
	if o.SQLiteSyncNormal {
		opts = append(opts, sqlite.WithSyncNormal())
	}
	d, err := sqlite.Open(ctx, target, opts...)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Redact returns target fit for logs and errors: a URL's password, in the
// user info or a password= parameter, replaced by "xxxxx". A URL too
// malformed to parse is shown as its scheme only, since the password's
// place in it is unknown.
func Redact(target string) string {
	if !IsPostgres(target) {
		return target
	}
	u, err := url.Parse(target)
	if err != nil {
		scheme, _, _ := strings.Cut(target, "://")
		return scheme + "://(malformed URL)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
