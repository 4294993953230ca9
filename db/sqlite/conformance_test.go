package sqlite

import (
	"context"
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
