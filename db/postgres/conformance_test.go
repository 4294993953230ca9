package postgres

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/db/storetest"
	"github.com/wasmchannel/wasmchannel/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// harness is how the conformance suite makes PostgreSQL stores: a fresh
// database per store on the binary's one throwaway cluster.
var harness = storetest.Harness{
	Kind: Kind,
	New:  pgtest.Database,
	Open: func(_ testing.TB, target, upTo string, now func() time.Time) (chat.Store, error) {
		return open(context.Background(), target, upTo, WithClock(now))
	},
	Versions: Versions(),
	Exec: func(tb testing.TB, target, query string, args ...any) {
		ctx := context.Background()
		c, err := pgx.Connect(ctx, target)
		if err != nil {
			tb.Fatal(err)
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, query, args...); err != nil {
			tb.Fatalf("%s: %v", query, err)
		}
	},
	Outage: func(tb testing.TB) func() {
		srv := pgtest.Shared(tb)
		if !srv.CanRestart() {
			tb.Skip("an external server (" + pgtest.EnvURL + ") cannot be stopped")
		}
		if err := srv.StopServer(); err != nil {
			tb.Fatal(err)
		}
		started := false
		tb.Cleanup(func() {
			if !started {
				_ = srv.StartServer()
			}
		})
		return func() {
			if err := srv.StartServer(); err != nil {
				tb.Fatal(err)
			}
			started = true
		}
	},
}

func TestConformance(t *testing.T) { storetest.Run(t, harness) }
