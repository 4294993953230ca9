// Package storetest is the conformance suite every chat.Store passes: the
// SQLite and the PostgreSQL store run the same tests from their own test
// files (storetest.Run), so the two cannot drift apart. It exercises every
// store method, migrations from empty and from each older version, the
// group-commit writer on top of the store (messages and reaction toggles),
// per-room sequence numbers under concurrent writers, deletes that erase,
// dedup, concurrent toggles,
// sessions and expiry, SQL metacharacters, the bulk loader and, where the
// harness can stop the server, an outage and recovery.
package storetest

import (
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/internal/testenv/fixture"
)

// Harness tells the suite how to make and open stores of one kind.
type Harness struct {
	// Kind is what the store's Kind must return.
	Kind string
	// New returns a fresh, empty target (file path or URL), removed when tb
	// ends.
	New func(tb testing.TB) string
	// Open opens target with the clock now, applying migrations up to and
	// including version upTo ("" for all). The suite closes it.
	Open func(tb testing.TB, target, upTo string, now func() time.Time) (chat.Store, error)
	// Versions are the store's migration versions, in order.
	Versions []string
	// Exec runs one raw statement on target, with $1, $2… parameters, for
	// writing rows in an older schema's shape.
	Exec func(tb testing.TB, target, query string, args ...any)
	// Outage, if set, stops the store's server and returns a function that
	// starts it again; nil skips the outage tests.
	Outage func(tb testing.TB) (restart func())
}

// Clock is the tests' settable clock (fixture.Clock).
type Clock = fixture.Clock

// NewClock starts at a fixed, millisecond-aligned time.
func NewClock() *Clock { return fixture.NewClock(time.Date(2024, 10, 27, 12, 0, 0, 0, time.UTC)) }

// open opens a fresh store on a fresh clock and closes it when tb ends.
func (h Harness) open(tb testing.TB) (chat.Store, *Clock) {
	tb.Helper()
	clk := NewClock()
	return h.openAt(tb, h.New(tb), clk), clk
}

// openAt opens target, fully migrated, on clk.
func (h Harness) openAt(tb testing.TB, target string, clk *Clock) chat.Store {
	tb.Helper()
	s, err := h.Open(tb, target, "", clk.Now)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return s
}

// Run runs the whole suite against h's store.
func Run(t *testing.T, h Harness) {
	t.Run("Migrations", func(t *testing.T) { testMigrations(t, h) })
	t.Run("Users", func(t *testing.T) { testUsers(t, h) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, h) })
	t.Run("Settings", func(t *testing.T) { testSettings(t, h) })
	t.Run("InsertDedup", func(t *testing.T) { testInsertDedup(t, h) })
	t.Run("History", func(t *testing.T) { testHistory(t, h) })
	t.Run("Reactions", func(t *testing.T) { testReactions(t, h) })
	t.Run("ConcurrentToggles", func(t *testing.T) { testConcurrentToggles(t, h) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, h) })
	t.Run("PayloadBytes", func(t *testing.T) { testPayloadBytes(t, h) })
	t.Run("Metacharacters", func(t *testing.T) { testMetacharacters(t, h) })
	t.Run("GroupCommit", func(t *testing.T) { testGroupCommit(t, h) })
	t.Run("RowFaultIsolated", func(t *testing.T) { testRowFault(t, h) })
	t.Run("Bulk", func(t *testing.T) { testBulk(t, h) })
	t.Run("Account", func(t *testing.T) { testAccount(t, h) })
	t.Run("MigrateRoomSeq", func(t *testing.T) { testMigrateRoomSeq(t, h) })
	t.Run("Seq", func(t *testing.T) { testSeq(t, h) })
	t.Run("DeleteErases", func(t *testing.T) { testDeleteErases(t, h) })
	t.Run("SeqConcurrentNodes", func(t *testing.T) { testSeqConcurrentNodes(t, h) })
	t.Run("WriterToggles", func(t *testing.T) { testWriterToggles(t, h) })
	t.Run("Outage", func(t *testing.T) { testOutage(t, h) })
}
