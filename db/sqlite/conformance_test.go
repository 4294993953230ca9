package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/db/storetest"
)

// Harness is how the conformance suite makes SQLite stores.
var Harness = storetest.Harness{
	Kind: Kind,
	New: func(tb testing.TB) string {
		return filepath.Join(tb.TempDir(), "store.db")
	},
	Open: func(tb testing.TB, target, upTo string, now func() time.Time) (chat.Store, error) {
		d, err := open(context.Background(), target, upTo, WithClock(now))
		if err != nil {
			return nil, err
		}
		return integrityChecked{d, tb}, nil
	},
	Versions: Versions(),
	Exec: func(tb testing.TB, target, query string, args ...any) {
		db, err := sql.Open("sqlite3", target)
		if err != nil {
			tb.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(query, args...); err != nil {
			tb.Fatalf("%s: %v", query, err)
		}
	},
}

// integrityChecked runs SQLite's integrity and foreign key checks when the
// suite closes the store.
type integrityChecked struct {
	*DB
	tb testing.TB
}

func (c integrityChecked) Close() error {
	if err := c.IntegrityCheck(context.Background()); err != nil {
		c.tb.Errorf("IntegrityCheck: %v", err)
	}
	return c.DB.Close()
}

func TestConformance(t *testing.T) { storetest.Run(t, Harness) }
