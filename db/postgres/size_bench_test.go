package postgres

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/db/storetest"
	"github.com/wasmchannel/wasmchannel/internal/pgtest"
)

// messageBytes is the on-disk size of the message tables with their
// indexes and TOAST, after a VACUUM so dead versions do not count.
func messageBytes(tb testing.TB, d *DB) int64 {
	tb.Helper()
	ctx := context.Background()
	if _, err := d.pool.Exec(ctx, `VACUUM (FULL) messages`); err != nil {
		tb.Fatal(err)
	}
	var n int64
	if err := d.pool.QueryRow(ctx, `SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c
		WHERE c.relname IN ('messages', 'room_heads', 'room_events') AND c.relkind = 'r'`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// BenchmarkBytesPerMessage is SQLite's comparison on PostgreSQL: 10,000
// messages in the first schema and in the current one, in batches of 64.
// Run it once: go test -run '^$' -bench BytesPerMessage -benchtime 1x.
func BenchmarkBytesPerMessage(b *testing.B) {
	const n, batch = 10000, 64
	ctx := context.Background()
	srv := pgtest.Shared(b)
	msgs := storetest.SizeMessages(n)
	for range b.N {
		old, err := open(ctx, srv.Database(b), "0001_init")
		if err != nil {
			b.Fatal(err)
		}
		empty := messageBytes(b, old)
		for i := 0; i < n; i += batch {
			err := old.tx(ctx, func(tx pgx.Tx) error {
				for _, m := range msgs[i:min(i+batch, n)] {
					if _, err := tx.Exec(ctx, `INSERT INTO messages (id, room_id, ref_id, user_id, kind, content, payload, reactions, created_at, updated_at)
						VALUES ($1, $2, $3, $4, 0, $5, $6, '[]', $7, $7)`, m.ID, m.Room, m.RefID, m.UserID, string(m.Payload), m.Payload, int64(i)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		before := messageBytes(b, old)
		old.Close()

		cur, err := Open(ctx, srv.Database(b))
		if err != nil {
			b.Fatal(err)
		}
		emptyNew := messageBytes(b, cur)
		for i := 0; i < n; i += batch {
			part := append([]chat.Message(nil), msgs[i:min(i+batch, n)]...)
			if _, err := cur.InsertMessages(ctx, part); err != nil {
				b.Fatal(err)
			}
		}
		after := messageBytes(b, cur)
		cur.Close()
		b.ReportMetric(float64(before-empty)/n, "B/msg-0001")
		b.ReportMetric(float64(after-emptyNew)/n, "B/msg-0002")
	}
}
