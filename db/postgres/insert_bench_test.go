package postgres

import (
	"context"
	"fmt"
	"testing"

	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/internal/pgtest"
)

// BenchmarkInsertBatch writes batches of 64 on one server, with fsync on;
// ns/op is per message. (The first version's pipelined one-row inserts,
// once compared here, cannot number messages and are gone.)
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
		"unnest": func(ms []chat.Message) error { _, err := d.InsertMessages(ctx, ms); return err },
	}
	for _, name := range []string{"unnest"} {
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
