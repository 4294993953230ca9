package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/wasmchannel/wasmchannel/chat"
)

// storeOne inserts one message and returns its sequence number.
func storeOne(tb testing.TB, d *DB, room, ref string) int64 {
	tb.Helper()
	res, err := d.WriteOps(context.Background(), []chat.Op{{Message: &chat.Message{Room: room, RefID: ref, UserID: "u", Payload: []byte(ref)}}})
	if err != nil {
		tb.Fatalf("store %s/%s: %v", room, ref, err)
	}
	if !res[0].Fresh {
		tb.Fatalf("store %s/%s: not fresh", room, ref)
	}
	return res[0].Message.Seq
}

// wantNumberLine checks that room's events are numbered 1..n without gaps
// or repeats.
func wantNumberLine(tb testing.TB, d *DB, room string, n int) {
	tb.Helper()
	evs, err := d.EventsAfter(context.Background(), room, 0, chat.MaxEventsLimit)
	if err != nil {
		tb.Fatal(err)
	}
	if len(evs) != n {
		tb.Fatalf("room %s: %d events, want %d: %+v", room, len(evs), n, evs)
	}
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			tb.Fatalf("room %s: event %d has seq %d", room, i, e.Seq)
		}
	}
}

// TestHeadCache_SecondConnection writes the same file through two DBs
// (two writer connections, as a second server or `db copy` would), taking
// turns between transactions, so each one's cached heads go stale: each
// must see the other's commit through PRAGMA data_version and number on
// from the file, gap-free.
func TestHeadCache_SecondConnection(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "two.db")
	a, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	want := int64(0)
	for i, d := range []*DB{a, a, b, a, b, b, a} {
		want++
		if got := storeOne(t, d, "r", fmt.Sprintf("m%d", i)); got != want {
			t.Fatalf("message %d: seq %d, want %d", i, got, want)
		}
	}
	// A delete event numbered by b, then a message by a.
	if _, err := b.DeleteMessage(ctx, "r", "m0", "u"); err != nil {
		t.Fatal(err)
	}
	want++
	if _, err := b.ToggleReaction(ctx, "r", "m1", "u", 1); err != nil {
		t.Fatal(err)
	}
	want++
	want++
	if got := storeOne(t, a, "r", "after-events"); got != want {
		t.Fatalf("message after b's events: seq %d, want %d", got, want)
	}
	wantNumberLine(t, a, "r", int(want))
}

// TestHeadCache_SecondProcess is TestHeadCache_SecondConnection with a
// real second process (this test binary again) writing the file between
// two of this process's transactions, as `wasmchannel import` beside a
// running server does.
func TestHeadCache_SecondProcess(t *testing.T) {
	if path := os.Getenv("WASMCHANNEL_HEADS_CHILD"); path != "" {
		d, err := Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		for i := range 3 {
			storeOne(t, d, "r", fmt.Sprintf("child%d", i))
		}
		return
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "proc.db")
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	storeOne(t, d, "r", "p0")
	storeOne(t, d, "r", "p1") // the head of r is now cached

	cmd := exec.Command(os.Args[0], "-test.run=^TestHeadCache_SecondProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "WASMCHANNEL_HEADS_CHILD="+path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if got := storeOne(t, d, "r", "p2"); got != 6 {
		t.Fatalf("after the child's 3 messages: seq %d, want 6", got)
	}
	wantNumberLine(t, d, "r", 6)
}

// TestHeadCache_RollbackTakesNoNumbers fails a transaction after it took
// numbers (a trigger refuses its second message) and checks that the next
// transaction hands the same numbers out again: nothing rolled back leaves
// a gap.
func TestHeadCache_RollbackTakesNoNumbers(t *testing.T) {
	d := MustOpenDB(t)
	ctx := context.Background()
	storeOne(t, d, "r", "m0")
	if _, err := d.wr.ExecContext(ctx, `CREATE TRIGGER test_poison BEFORE INSERT ON messages
		WHEN NEW.ref_id LIKE 'poison%' BEGIN SELECT RAISE(ABORT, 'poisoned'); END`); err != nil {
		t.Fatal(err)
	}
	ops := []chat.Op{
		{Message: &chat.Message{Room: "r", RefID: "m1", UserID: "u"}},
		{Message: &chat.Message{Room: "r", RefID: "m2", UserID: "u"}},
		{Message: &chat.Message{Room: "r", RefID: "poison", UserID: "u"}},
	}
	if _, err := d.WriteOps(ctx, ops); !errors.Is(err, chat.ErrConflict) {
		t.Fatalf("poisoned batch: %v, want ErrConflict", err)
	}
	if got := storeOne(t, d, "r", "m1"); got != 2 {
		t.Fatalf("after the rollback: seq %d, want 2", got)
	}
	// A toggle of a missing message is that op's error, not the batch's:
	// the batch commits and numbers only what it stored.
	res, err := d.WriteOps(ctx, []chat.Op{
		{Toggle: &chat.Toggle{Room: "r", RefID: "missing", UserID: "u", Kind: 1}},
		{Message: &chat.Message{Room: "r", RefID: "m3", UserID: "u"}},
	})
	if err != nil || !errors.Is(res[0].Err, chat.ErrNotFound) || res[1].Message.Seq != 3 {
		t.Fatalf("mixed batch: err %v, toggle %v, seq %d", err, res[0].Err, res[1].Message.Seq)
	}
	wantNumberLine(t, d, "r", 3)
}

// TestHeadCache_CancelledContext ends a numbering transaction's context
// before it begins; the next one must still number from the file.
func TestHeadCache_CancelledContext(t *testing.T) {
	d := MustOpenDB(t)
	storeOne(t, d, "r", "m0")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.WriteOps(ctx, []chat.Op{{Message: &chat.Message{Room: "r", RefID: "m1", UserID: "u"}}}); err == nil {
		t.Fatal("a cancelled write succeeded")
	}
	if got := storeOne(t, d, "r", "m1"); got != 2 {
		t.Fatalf("seq %d, want 2", got)
	}
	wantNumberLine(t, d, "r", 2)
}

// TestWriteOps_LongBatch stores a batch of 100 messages over two rooms
// with resends of stored messages and repeats inside the batch, and a
// toggle in the middle, through the cached heads: resends take no number
// and are answered with their original, every room stays gap-free, and a
// taken id fails the whole batch as a conflict without storing any of it
// or leaving its numbers taken.
func TestWriteOps_LongBatch(t *testing.T) {
	d := MustOpenDB(t)
	ctx := context.Background()
	storeOne(t, d, "a", "old") // a:1
	var ops []chat.Op
	add := func(room, ref string) {
		ops = append(ops, chat.Op{Message: &chat.Message{Room: room, RefID: ref, UserID: "u", Payload: []byte(room + "/" + ref)}})
	}
	for i := range 50 {
		add("a", fmt.Sprintf("x%d", i))
		add("b", fmt.Sprintf("x%d", i))
		if i == 10 {
			add("a", "old") // a resend of a stored message
			add("b", "x3")  // a repeat inside the run
		}
	}
	ops = append(ops, chat.Op{Toggle: &chat.Toggle{Room: "a", RefID: "x49", UserID: "u", Kind: 2}})
	for i := range 7 {
		add("b", fmt.Sprintf("y%d", i))
	}
	res, err := d.WriteOps(ctx, ops)
	if err != nil {
		t.Fatal(err)
	}
	wantSeq := map[string]int64{"a": 1, "b": 0}
	for i, r := range res {
		op := ops[i]
		if op.Toggle != nil {
			wantSeq["a"]++
			if r.Err != nil || r.Message.EventSeq != wantSeq["a"] || len(r.Message.Reactions) != 1 {
				t.Fatalf("toggle: %+v", r)
			}
			continue
		}
		m := op.Message
		switch {
		case m.RefID == "old" || (m.Room == "b" && m.RefID == "x3" && i > 20):
			if r.Fresh || r.Message.EventSeq != 0 || r.Err != nil {
				t.Fatalf("resend %s/%s answered %+v", m.Room, m.RefID, r)
			}
			orig, err := d.MessageByRef(ctx, m.Room, m.RefID)
			if err != nil || r.Message.ID != orig.ID || r.Message.Seq != orig.Seq {
				t.Fatalf("resend %s/%s: answered %s seq %d, stored %s seq %d (%v)", m.Room, m.RefID, r.Message.ID, r.Message.Seq, orig.ID, orig.Seq, err)
			}
		default:
			wantSeq[m.Room]++
			if !r.Fresh || r.Message.Seq != wantSeq[m.Room] || r.Message.EventSeq != r.Message.Seq {
				t.Fatalf("op %d %s/%s: fresh %v seq %d, want %d", i, m.Room, m.RefID, r.Fresh, r.Message.Seq, wantSeq[m.Room])
			}
		}
	}
	wantNumberLine(t, d, "a", int(wantSeq["a"]))
	wantNumberLine(t, d, "b", int(wantSeq["b"]))
	if wantSeq["a"] != 52 || wantSeq["b"] != 57 {
		t.Fatalf("heads %v", wantSeq)
	}

	// A reused id in a long run: the batch fails as a conflict, whole.
	before := countMessages(t, d)
	var clash []chat.Op
	for i := range 20 {
		m := &chat.Message{Room: "c", RefID: fmt.Sprintf("z%d", i), UserID: "u"}
		if i == 17 {
			m.ID = res[0].Message.ID
		}
		clash = append(clash, chat.Op{Message: m})
	}
	if _, err := d.WriteOps(ctx, clash); !errors.Is(err, chat.ErrConflict) {
		t.Fatalf("reused id: %v, want ErrConflict", err)
	}
	if n := countMessages(t, d); n != before {
		t.Fatalf("%d rows after the refused batch, want %d", n, before)
	}
	if got := storeOne(t, d, "c", "z0"); got != 1 {
		t.Fatalf("room c after the refused batch: seq %d, want 1", got)
	}
}
