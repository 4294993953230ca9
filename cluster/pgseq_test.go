package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wasmchannel/wasmchannel/internal/natstest"
	"github.com/wasmchannel/wasmchannel/internal/pgtest"
)

// These tests hold the room-numbering scheme docs/CLUSTER.md proposes for
// the PostgreSQL store to what the sequencer assumes: per room, numbers
// are dense and become visible in order, under concurrent writers,
// rollbacks and batches that span rooms. The store's own implementation
// (db/postgres) is to pass the same checks in the conformance suite.

const seqSchema = `
CREATE TABLE room_heads (room_id text PRIMARY KEY, seq bigint NOT NULL);
CREATE TABLE room_events (
    room_id text   NOT NULL,
    seq     bigint NOT NULL,
    data    bytea  NOT NULL,
    PRIMARY KEY (room_id, seq)
);`

// seqDB is the proposed scheme over a real PostgreSQL, and a GapSource.
type seqDB struct{ pool *pgxpool.Pool }

func openSeqDB(t *testing.T) *seqDB {
	t.Helper()
	url := pgtest.Database(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, seqSchema); err != nil {
		t.Fatal(err)
	}
	return &seqDB{pool}
}

// commit numbers and stores one batch in one transaction. Rooms are
// locked in sorted order, so batches that cross rooms cannot deadlock.
// With rollback set it aborts after numbering, as a failed commit does.
func (d *seqDB) commit(ctx context.Context, batch map[string][][]byte, rollback bool) (map[string][]int64, error) {
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	rooms := make([]string, 0, len(batch))
	for r := range batch {
		rooms = append(rooms, r)
	}
	slices.Sort(rooms)
	out := make(map[string][]int64)
	for _, r := range rooms {
		n := int64(len(batch[r]))
		var head int64
		err := tx.QueryRow(ctx, `INSERT INTO room_heads (room_id, seq) VALUES ($1, $2)
			ON CONFLICT (room_id) DO UPDATE SET seq = room_heads.seq + EXCLUDED.seq RETURNING seq`, r, n).Scan(&head)
		if err != nil {
			return nil, err
		}
		for i, data := range batch[r] {
			seq := head - n + 1 + int64(i)
			if _, err := tx.Exec(ctx, `INSERT INTO room_events (room_id, seq, data) VALUES ($1, $2, $3)`, r, seq, data); err != nil {
				return nil, err
			}
			out[r] = append(out[r], seq)
		}
	}
	if rollback {
		return nil, nil
	}
	return out, tx.Commit(ctx)
}

func (d *seqDB) LastSeq(ctx context.Context, room string) (int64, error) {
	var seq int64
	err := d.pool.QueryRow(ctx, `SELECT seq FROM room_heads WHERE room_id = $1`, room).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return seq, err
}

func (d *seqDB) After(ctx context.Context, room string, after int64, limit int) ([]Event, error) {
	rows, err := d.pool.Query(ctx, `SELECT seq, data FROM room_events WHERE room_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, room, after, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		ev := Event{Room: room}
		return ev, r.Scan(&ev.Seq, &ev.Data)
	})
}

func TestSeqSchemaDenseInCommitOrder(t *testing.T) {
	d := openSeqDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rooms := []string{"a", "b", "c"}
	var stop atomic.Bool
	var violations atomic.Int64
	readerDone := make(chan struct{})
	go func() {
		// In one snapshot, the highest visible number equals the count:
		// whoever sees n sees all below it.
		defer close(readerDone)
		for !stop.Load() {
			for _, r := range rooms {
				var top, n int64
				if err := d.pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0), count(*) FROM room_events WHERE room_id = $1`, r).Scan(&top, &n); err != nil {
					return
				}
				if top != n {
					violations.Add(1)
				}
			}
		}
	}()
	var wg sync.WaitGroup
	var committed, rolledBack atomic.Int64
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := 0; i < 40; i++ {
				batch := map[string][][]byte{}
				for _, r := range rooms {
					if rng.IntN(2) == 0 {
						for k := rng.IntN(3); k >= 0; k-- {
							batch[r] = append(batch[r], []byte(fmt.Sprint(w, "-", i)))
						}
					}
				}
				if len(batch) == 0 {
					continue
				}
				rollback := rng.IntN(5) == 0
				if _, err := d.commit(ctx, batch, rollback); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				if rollback {
					rolledBack.Add(1)
				} else {
					committed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	<-readerDone
	if v := violations.Load(); v != 0 {
		t.Fatalf("%d snapshots saw a number before all numbers below it", v)
	}
	for _, r := range rooms {
		evs, err := d.After(ctx, r, 0, 100000)
		if err != nil {
			t.Fatal(err)
		}
		for i, ev := range evs {
			if ev.Seq != int64(i+1) {
				t.Fatalf("room %s: position %d has seq %d: a hole", r, i, ev.Seq)
			}
		}
		last, _ := d.LastSeq(ctx, r)
		if last != int64(len(evs)) {
			t.Fatalf("room %s: head %d, %d events", r, last, len(evs))
		}
	}
	if rolledBack.Load() == 0 {
		t.Fatal("no rollback exercised")
	}
	t.Logf("%d batches committed, %d rolled back, no holes, no deadlocks", committed.Load(), rolledBack.Load())
}

// Two nodes over real NATS and a real PostgreSQL as the GapSource: NATS
// is killed while both commit, and each fills the other's events from
// the database.
func TestGapFillFromPostgreSQL(t *testing.T) {
	d := openSeqDB(t)
	srv := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var ns []node
	for _, name := range []string{"a", "b"} {
		rec := newRecorder()
		b, err := Open(testConfig(srv.URL(), name), d, rec)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		n := node{b, rec}
		if _, err := n.SetLocal(room, []string{"u-" + name}); err != nil {
			t.Fatal(err)
		}
		n.ready(t, room)
		ns = append(ns, n)
	}
	waitFor(t, 5*time.Second, "peers", func() bool { return ns[0].Online(room) == 2 && ns[1].Online(room) == 2 })
	send := func(n node, i int) {
		seqs, err := d.commit(ctx, map[string][][]byte{room: {[]byte(fmt.Sprint(n.NodeID(), i))}}, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Publish(Event{Room: room, Seq: seqs[room][0], Data: []byte(fmt.Sprint(n.NodeID(), i))}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 20; i++ {
		send(ns[i%2], i)
	}
	srv.Kill()
	waitFor(t, 5*time.Second, "degraded", func() bool { return !ns[0].Connected() && !ns[1].Connected() })
	for i := 20; i < 60; i++ {
		send(ns[i%2], i)
	}
	srv.Restart()
	waitFor(t, 10*time.Second, "reconnected", func() bool { return ns[0].Connected() && ns[1].Connected() })
	for i := 60; i < 80; i++ {
		send(ns[i%2], i)
	}
	all, err := d.After(ctx, room, 0, 1000)
	if err != nil || len(all) != 80 {
		t.Fatalf("store has %d events, %v", len(all), err)
	}
	for _, n := range ns {
		waitFor(t, 10*time.Second, n.NodeID()+" has all 80", func() bool { return len(n.rec.seqs(room)) >= 80 })
	}
	time.Sleep(200 * time.Millisecond)
	for _, n := range ns {
		n.rec.mu.Lock()
		got := append([]Event(nil), n.rec.events[room]...)
		n.rec.mu.Unlock()
		if len(got) != 80 {
			t.Fatalf("%s delivered %d, want 80", n.NodeID(), len(got))
		}
		for i, ev := range got {
			if ev.Seq != all[i].Seq || string(ev.Data) != string(all[i].Data) {
				t.Fatalf("%s delivery %d: seq %d %q, store has %d %q", n.NodeID(), i, ev.Seq, ev.Data, all[i].Seq, all[i].Data)
			}
		}
		if s := n.Stats(); s.GapFills == 0 || s.Skipped != 0 {
			t.Fatalf("%s stats %+v", n.NodeID(), s)
		}
	}
}
