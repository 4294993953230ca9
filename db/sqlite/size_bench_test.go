package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/db/storetest"
)

// fileBytes is the database file's size after a full checkpoint.
func fileBytes(tb testing.TB, d *DB) int64 {
	tb.Helper()
	if _, err := d.wr.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		tb.Fatal(err)
	}
	st, err := os.Stat(d.Path())
	if err != nil {
		tb.Fatal(err)
	}
	return st.Size()
}

// BenchmarkBytesPerMessage stores 10,000 messages in the first schema
// (text in content and payload) and in the current one (payload only,
// plus room_seq and its index), in batches of 64, and reports the file
// bytes per message of each, and of the first after upgrading and VACUUM.
// Run it once: go test -run '^$' -bench BytesPerMessage -benchtime 1x.
func BenchmarkBytesPerMessage(b *testing.B) {
	const n, batch = 10000, 64
	ctx := context.Background()
	msgs := storetest.SizeMessages(n)
	for range b.N {
		dir := b.TempDir()
		old, err := open(ctx, filepath.Join(dir, "old.db"), "0001_init")
		if err != nil {
			b.Fatal(err)
		}
		empty := fileBytes(b, old)
		for i := 0; i < n; i += batch {
			tx, err := old.wr.Begin()
			if err != nil {
				b.Fatal(err)
			}
			for _, m := range msgs[i:min(i+batch, n)] {
				if _, err := tx.Exec(`INSERT INTO messages (id, room_id, ref_id, user_id, kind, content, payload, reactions, created_at, updated_at)
					VALUES (?, ?, ?, ?, 0, ?, ?, '[]', ?, ?)`, m.ID, m.Room, m.RefID, m.UserID, string(m.Payload), m.Payload, int64(i), int64(i)); err != nil {
					b.Fatal(err)
				}
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
		before := fileBytes(b, old)
		old.Close()

		upgraded, err := Open(ctx, filepath.Join(dir, "old.db"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := upgraded.wr.Exec(`VACUUM`); err != nil {
			b.Fatal(err)
		}
		migrated := fileBytes(b, upgraded)
		upgraded.Close()

		cur, err := Open(ctx, filepath.Join(dir, "new.db"))
		if err != nil {
			b.Fatal(err)
		}
		emptyNew := fileBytes(b, cur)
		for i := 0; i < n; i += batch {
			part := append([]chat.Message(nil), msgs[i:min(i+batch, n)]...)
			if _, err := cur.InsertMessages(ctx, part); err != nil {
				b.Fatal(err)
			}
		}
		after := fileBytes(b, cur)
		cur.Close()
		b.ReportMetric(float64(before-empty)/n, "B/msg-0001")
		b.ReportMetric(float64(after-emptyNew)/n, "B/msg-0002")
		b.ReportMetric(float64(migrated-empty)/n, "B/msg-upgraded")
	}
}
