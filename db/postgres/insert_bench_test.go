package postgres

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/internal/pgtest"
)

// pipelinedInsertSQL is the one-row statement the first version of
// InsertMessages queued 64 times per batch; kept here to show what the
// single unnest statement gains.
const pipelinedInsertSQL = `INSERT INTO messages
	(id, room_id, ref_id, user_id, kind, reaction_kind, content, payload, reactions, created_at, updated_at, deleted_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::json, $10, $11, $12)
	ON CONFLICT (room_id, ref_id) DO NOTHING`

// insertPipelined is that first version: one statement per message, sent
// as one pipelined batch in one transaction.
func (d *DB) insertPipelined(ctx context.Context, msgs []chat.Message) error {
	now := d.nowMS()
	return d.tx(ctx, func(tx pgx.Tx) error {
		var b pgx.Batch
		for i := range msgs {
			if err := msgs[i].Normalize(now); err != nil {
				return err
			}
			args, err := insertArgs(&msgs[i])
			if err != nil {
				return err
			}
			b.Queue(pipelinedInsertSQL, args...)
		}
		return tx.SendBatch(ctx, &b).Close()
	})
}

// BenchmarkInsertBatch compares the two ways of writing a batch of 64 on
// one server in one run, with fsync on; ns/op is per message.
func BenchmarkInsertBatch(b *testing.B) {
	srv := pgtest.Shared(b)
	if srv.CanRestart() {
		for _, q := range []string{`ALTER SYSTEM SET fsync = on`, `SELECT pg_reload_conf()`} {
			if err := srv.Exec(q); err != nil {
				b.Fatal(err)
			}
		}
	}
	ctx := context.Background()
	d, err := Open(ctx, srv.Database(b))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	payload := make([]byte, 200)
	const n = 64
	ways := map[string]func([]chat.Message) error{
		"unnest":    func(ms []chat.Message) error { _, err := d.InsertMessages(ctx, ms); return err },
		"pipelined": func(ms []chat.Message) error { return d.insertPipelined(ctx, ms) },
	}
	for _, name := range []string{"unnest", "pipelined", "unnest", "pipelined"} {
		b.Run(name, func(b *testing.B) {
			msgs := make([]chat.Message, n)
			b.ReportAllocs()
			for i := 0; i < b.N; i += n {
				for j := range msgs {
					msgs[j] = chat.Message{Room: "bench", RefID: fmt.Sprintf("%s-%d-%d", name, b.N, i+j), UserID: "u", Payload: payload}
				}
				if err := ways[name](msgs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
