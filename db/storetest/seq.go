package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/db/batch"
)

// eventSeqs lists the Seq of each event.
func eventSeqs(es []chat.Event) []int64 {
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

// allEvents reads every event of room in pages of page, checking that each
// page starts right after the last and holds no hole.
func allEvents(tb testing.TB, s chat.Store, room string, page int) []chat.Event {
	tb.Helper()
	var out []chat.Event
	var after int64
	for {
		es, err := s.EventsAfter(context.Background(), room, after, page)
		if err != nil {
			tb.Fatalf("EventsAfter(%q, %d): %v", room, after, err)
		}
		for i, e := range es {
			if e.Seq != after+int64(i)+1 {
				tb.Fatalf("room %q: page after %d holds %v: a hole or a repeat", room, after, eventSeqs(es))
			}
		}
		if len(es) == 0 {
			return out
		}
		out = append(out, es...)
		after = es[len(es)-1].Seq
	}
}

// testSeq checks the numbering: dense per room, fresh messages in batch
// order, a resend answered with its original's number, a number for each
// toggle and delete, none for a refusal or a failed batch, and the event
// log reads that a cluster node fills a gap with.
func testSeq(t *testing.T, h Harness) {
	ctx := context.Background()
	s, clk := h.open(t)
	batch1 := []chat.Message{Msg("r", "a", "author", "first"), Msg("r", "b", "u2", "second"),
		Msg("r", "a", "author", "repeat in batch"), Msg("other", "a", "u1", "other room")}
	if fresh := MustInsert(t, s, batch1...); !slices.Equal(fresh, []bool{true, true, false, true}) {
		t.Fatalf("fresh = %v", fresh)
	}
	var seqs, evs []int64
	for _, m := range batch1 {
		seqs, evs = append(seqs, m.Seq), append(evs, m.EventSeq)
	}
	if !slices.Equal(seqs, []int64{1, 2, 1, 1}) || !slices.Equal(evs, []int64{1, 2, 0, 1}) {
		t.Fatalf("Seq %v EventSeq %v; want [1 2 1 1] and [1 2 0 1]", seqs, evs)
	}
	clk.Advance(time.Second)
	resend := []chat.Message{Msg("r", "b", "u2", "resent"), Msg("r", "c", "u2", "third")}
	MustInsert(t, s, resend...)
	if resend[0].Seq != 2 || resend[0].EventSeq != 0 || resend[1].Seq != 3 {
		t.Fatalf("resend got Seq %d EventSeq %d, next message %d; want 2, 0, 3", resend[0].Seq, resend[0].EventSeq, resend[1].Seq)
	}
	// A failed batch takes no number.
	dup := Msg("r", "d", "u2", "x")
	dup.ID = batch1[0].ID
	if _, err := s.InsertMessages(ctx, []chat.Message{Msg("r", "e", "u2", "x"), dup}); !errors.Is(err, chat.ErrConflict) {
		t.Fatalf("id collision: %v", err)
	}
	for _, ref := range []string{"a", "b", "c"} {
		if m, err := s.MessageByRef(ctx, "r", ref); err != nil || m.Seq != map[string]int64{"a": 1, "b": 2, "c": 3}[ref] || m.EventSeq != 0 {
			t.Fatalf("MessageByRef(%s) = Seq %d EventSeq %d, %v", ref, m.Seq, m.EventSeq, err)
		}
	}
	tg, err := s.ToggleReaction(ctx, "r", "b", "u1", 2)
	if err != nil || tg.Seq != 2 || tg.EventSeq != 4 {
		t.Fatalf("toggle: Seq %d EventSeq %d, %v; want 2 and 4", tg.Seq, tg.EventSeq, err)
	}
	// Refusals take no number, and an unknown room gets no head.
	if _, err := s.ToggleReaction(ctx, "r", "zz", "u1", 2); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("toggle unknown: %v", err)
	}
	if _, err := s.ToggleReaction(ctx, "nowhere", "a", "u1", 2); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("toggle in an unknown room: %v", err)
	}
	if _, err := s.DeleteMessage(ctx, "r", "a", "intruder"); !errors.Is(err, chat.ErrForbidden) {
		t.Fatalf("delete by another: %v", err)
	}
	if _, err := s.DeleteMessage(ctx, "nowhere", "a", "author"); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("delete in an unknown room: %v", err)
	}
	clk.Advance(time.Second)
	del, err := s.DeleteMessage(ctx, "r", "a", "author")
	if err != nil || del.Seq != 1 || del.EventSeq != 5 {
		t.Fatalf("delete: Seq %d EventSeq %d, %v; want 1 and 5", del.Seq, del.EventSeq, err)
	}
	for room, want := range map[string]int64{"r": 5, "other": 1, "nowhere": 0} {
		if got, err := s.LastSeq(ctx, room); err != nil || got != want {
			t.Fatalf("LastSeq(%q) = %d, %v; want %d", room, got, err, want)
		}
	}

	es := allEvents(t, s, "r", 2)
	type ev struct {
		seq     int64
		kind    chat.EventKind
		ref     string
		user    string
		react   int
		payload string
		deleted bool
	}
	var got []ev
	for _, e := range es {
		if e.Room != "r" || e.At.IsZero() {
			t.Fatalf("event %+v", e)
		}
		got = append(got, ev{e.Seq, e.Kind, e.RefID, e.UserID, e.Reaction, string(e.Payload), e.Deleted})
	}
	want := []ev{
		{1, chat.EventMessage, "a", "author", 0, "", true}, // erased since
		{2, chat.EventMessage, "b", "u2", 0, "second", false},
		{3, chat.EventMessage, "c", "u2", 0, "third", false},
		{4, chat.EventReaction, "b", "u1", 2, "", false},
		{5, chat.EventDelete, "a", "author", 0, "", false},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events\n got %v\nwant %v", got, want)
	}
	if es, err := s.EventsAfter(ctx, "r", 3, 1); err != nil || !slices.Equal(eventSeqs(es), []int64{4}) {
		t.Fatalf("EventsAfter(3, 1) = %v, %v", eventSeqs(es), err)
	}
	if es, err := s.EventsAfter(ctx, "r", 5, 10); err != nil || es == nil || len(es) != 0 {
		t.Fatalf("EventsAfter past the end = %v, %v", es, err)
	}
	ms, err := s.MessagesAfter(ctx, "r", 0, 10)
	if err != nil || !slices.Equal(Refs(ms), []string{"a", "b", "c"}) || len(ms[0].Payload) != 0 || ms[0].DeletedAt == nil ||
		ms[1].Seq != 2 || len(ms[1].Reactions) != 1 {
		t.Fatalf("MessagesAfter(0) = %+v, %v", ms, err)
	}
	if ms, err := s.MessagesAfter(ctx, "r", 1, 1); err != nil || !slices.Equal(Refs(ms), []string{"b"}) {
		t.Fatalf("MessagesAfter(1, 1) = %v, %v", Refs(ms), err)
	}
	for _, limit := range []int{0, chat.MaxEventsLimit + 1} {
		if _, err := s.EventsAfter(ctx, "r", 0, limit); !errors.Is(err, chat.ErrInvalid) {
			t.Errorf("EventsAfter limit %d: %v", limit, err)
		}
		if _, err := s.MessagesAfter(ctx, "r", 0, limit); !errors.Is(err, chat.ErrInvalid) {
			t.Errorf("MessagesAfter limit %d: %v", limit, err)
		}
	}
}

// testDeleteErases checks that a delete keeps ids, author and times but no
// text or reactions, everywhere the message can be read, and that a resend
// of its id is answered with the erased message, never revived.
func testDeleteErases(t *testing.T, h Harness) {
	ctx := context.Background()
	s, clk := h.open(t)
	orig := Msg("r", "a", "author", "secret text")
	MustInsert(t, s, orig, Msg("r", "b", "author", "kept"))
	if _, err := s.ToggleReaction(ctx, "r", "a", "u1", 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	del, err := s.DeleteMessage(ctx, "r", "a", "author")
	if err != nil || len(del.Payload) != 0 || del.Payload == nil || len(del.Reactions) != 0 || del.Reactions == nil {
		t.Fatalf("DeleteMessage returned %+v, %v", del, err)
	}
	stored, err := s.MessageByRef(ctx, "r", "a")
	byID, err2 := s.MessageByID(ctx, stored.ID)
	for _, m := range []chat.Message{stored, byID} {
		if err != nil || err2 != nil || !sameMessage(m, del) || len(m.Payload) != 0 || len(m.Reactions) != 0 ||
			m.UserID != "author" || m.RefID != "a" || m.Seq != 1 || !m.CreatedAt.Equal(clk.Now().Add(-time.Minute)) ||
			m.DeletedAt == nil || !m.DeletedAt.Equal(clk.Now()) {
			t.Fatalf("deleted message read back as %+v (%v, %v)", m, err, err2)
		}
	}
	// The bulk reader (db copy) sees it erased too.
	var seen bool
	if err := s.EachMessage(ctx, 10, func(ms []chat.Message) error {
		for _, m := range ms {
			if m.RefID == "a" {
				seen = true
				if len(m.Payload) != 0 || len(m.Reactions) != 0 || m.DeletedAt == nil {
					return fmt.Errorf("EachMessage shows %+v", m)
				}
			}
		}
		return nil
	}); err != nil || !seen {
		t.Fatalf("EachMessage: %v (seen %v)", err, seen)
	}
	// A resend through the store and through the writer.
	again := []chat.Message{Msg("r", "a", "author", "secret text")}
	if fresh := MustInsert(t, s, again...); fresh[0] || again[0].Seq != 1 {
		t.Fatalf("resend of a deleted id: fresh %v, Seq %d", fresh[0], again[0].Seq)
	}
	w := batch.NewWriter(s, batch.Config{Now: clk.Now})
	defer w.Close(ctx)
	type answer struct {
		m     chat.Message
		fresh bool
		err   error
	}
	ch := make(chan answer, 1)
	if err := w.SubmitMessage(Msg("r", "a", "author", "secret text"), func(m chat.Message, fresh bool, err error) {
		ch <- answer{m, fresh, err}
	}); err != nil {
		t.Fatal(err)
	}
	a := <-ch
	if a.err != nil || a.fresh || a.m.DeletedAt == nil || len(a.m.Payload) != 0 || a.m.Seq != 1 || a.m.EventSeq != 0 {
		t.Fatalf("writer resend of a deleted id answered %+v", a)
	}
	// A message loaded as deleted is stored erased.
	at := clk.Now()
	gone := chat.Message{ID: chat.NewMessageID(), Room: "r", RefID: "loaded", UserID: "u", Payload: []byte("old text"),
		Reactions: []chat.Reaction{{Kind: 1, Count: 1, Users: []string{"u"}}}, CreatedAt: at, DeletedAt: &at}
	if n, err := s.LoadMessages(ctx, []chat.Message{gone}); err != nil || n != 1 {
		t.Fatalf("LoadMessages = %d, %v", n, err)
	}
	if m, err := s.MessageByRef(ctx, "r", "loaded"); err != nil || len(m.Payload) != 0 || len(m.Reactions) != 0 || m.Seq != 5 {
		t.Fatalf("loaded deleted message = %+v, %v", m, err)
	}
	if m, err := s.MessageByRef(ctx, "r", "b"); err != nil || string(m.Payload) != "kept" {
		t.Fatalf("the other message: %+v, %v", m, err)
	}
}

// testSeqConcurrentNodes has several stores on one target, as several
// nodes on one PostgreSQL (or processes on one SQLite file), write the
// same rooms at once: messages in batches that cross rooms, resends of
// each other's messages, toggles and deletes. Every room's numbers end
// dense with no repeat, and a reader polling meanwhile never sees a number
// before every number below it.
func testSeqConcurrentNodes(t *testing.T, h Harness) {
	ctx := context.Background()
	target := h.New(t)
	clk := NewClock()
	const nodes, batches, per = 3, 12, 6
	rooms := []string{"r1", "r2"}
	stores := make([]chat.Store, nodes)
	for i := range stores {
		stores[i] = h.openAt(t, target, clk)
	}
	stop := make(chan struct{})
	readerErr := make(chan error, 1)
	go func() { // the reader: every page it sees is contiguous from where it asked
		defer close(readerErr)
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, room := range rooms {
				es, err := stores[0].EventsAfter(ctx, room, 0, chat.MaxEventsLimit)
				if err != nil {
					readerErr <- err
					return
				}
				for i, e := range es {
					if e.Seq != int64(i)+1 {
						readerErr <- fmt.Errorf("room %s: reader saw %v", room, eventSeqs(es))
						return
					}
				}
			}
		}
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	events := map[string]int{}  // committed events per room
	seqSeen := map[string]int{} // room/seq -> times reported to a writer
	note := func(room string, seq int64) {
		mu.Lock()
		defer mu.Unlock()
		events[room]++
		seqSeen[fmt.Sprint(room, "/", seq)]++
	}
	for n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[n]
			for b := range batches {
				var ms []chat.Message
				for i := range per {
					room := rooms[(b+i)%2]
					// Every node sends the same refs: each is stored once,
					// by whichever node commits it first.
					ms = append(ms, Msg(room, fmt.Sprintf("m%d-%d", b, i), "author", fmt.Sprint("from ", n)))
				}
				fresh, err := s.InsertMessages(ctx, ms)
				if err != nil {
					t.Errorf("node %d: %v", n, err)
					return
				}
				for i, f := range fresh {
					if f {
						note(ms[i].Room, ms[i].EventSeq)
					}
				}
				room := rooms[b%2] // m<b>-0 and m<b>-2 are in it
				m, err := s.ToggleReaction(ctx, room, fmt.Sprintf("m%d-2", b), fmt.Sprint("n", n), 1)
				if err != nil {
					t.Errorf("node %d toggle: %v", n, err)
					return
				}
				note(room, m.EventSeq)
				if n == b%nodes {
					d, err := s.DeleteMessage(ctx, room, fmt.Sprintf("m%d-0", b), "author")
					if err != nil {
						t.Errorf("node %d delete: %v", n, err)
						return
					}
					note(room, d.EventSeq)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := <-readerErr; err != nil {
		t.Fatal(err)
	}
	for k, c := range seqSeen {
		if c != 1 {
			t.Fatalf("seq %s handed out %d times", k, c)
		}
	}
	total := 0
	for _, room := range rooms {
		es := allEvents(t, stores[1], room, 7)
		if len(es) != events[room] {
			t.Fatalf("room %s: %d events in the log, writers committed %d", room, len(es), events[room])
		}
		if last, err := stores[2].LastSeq(ctx, room); err != nil || last != int64(len(es)) {
			t.Fatalf("room %s: LastSeq %d, %v; want %d", room, last, err, len(es))
		}
		msgs := 0
		for _, e := range es {
			if e.Kind == chat.EventMessage {
				msgs++
			}
		}
		total += msgs
	}
	if total != batches*per {
		t.Fatalf("%d message events, want %d (each ref once)", total, batches*per)
	}
	if c, err := stores[0].Counts(ctx); err != nil || c.Messages != batches*per {
		t.Fatalf("counts %+v, %v; want %d messages", c, err, batches*per)
	}
}

// testWriterToggles sends many concurrent reaction toggles through the
// group-commit writer, beside messages: each toggle's result is what
// applying the toggles one by one in commit order gives, batches hold
// several ops, a toggle sees a message submitted before it in the same
// batch, and a refused toggle fails nothing else.
func testWriterToggles(t *testing.T, h Harness) {
	ctx := context.Background()
	s, clk := h.open(t)
	MustInsert(t, s, Msg("r", "target", "author", "react to me"))
	log := &BatchLog{}
	w := batch.NewWriter(s, batch.Config{OnBatch: log.On, Now: clk.Now})
	const users, rounds = 16, 2
	type result struct {
		user string
		kind int
		m    chat.Message
	}
	var mu sync.Mutex
	var results []result
	var wg sync.WaitGroup
	var msgSeqs []int64
	for u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprint("u", u)
			for r := range rounds {
				for _, kind := range []int{1, 2} {
					done := make(chan struct{})
					err := w.SubmitToggle("r", "target", user, kind, func(m chat.Message, err error) {
						defer close(done)
						if err != nil {
							t.Errorf("%s toggle: %v", user, err)
							return
						}
						mu.Lock()
						results = append(results, result{user, kind, m})
						mu.Unlock()
					})
					if err != nil {
						t.Error(err)
						return
					}
					// A message beside the toggles, not waited for.
					if err := w.SubmitMessage(Msg("r", fmt.Sprintf("%s-%d-%d", user, r, kind), user, "x"),
						func(m chat.Message, fresh bool, err error) {
							if err != nil || !fresh {
								t.Errorf("message: fresh %v, %v", fresh, err)
								return
							}
							mu.Lock()
							msgSeqs = append(msgSeqs, m.EventSeq)
							mu.Unlock()
						}); err != nil {
						t.Error(err)
					}
					<-done
				}
			}
		}()
	}
	wg.Wait()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if len(results) != users*rounds*2 {
		t.Fatalf("%d toggle results, want %d", len(results), users*rounds*2)
	}
	// Replay in commit (EventSeq) order: each result must be the state
	// after its own toggle.
	slices.SortFunc(results, func(a, b result) int { return int(a.m.EventSeq - b.m.EventSeq) })
	var state []chat.Reaction
	for i, r := range results {
		if i > 0 && r.m.EventSeq == results[i-1].m.EventSeq {
			t.Fatalf("two toggles numbered %d", r.m.EventSeq)
		}
		state = chat.ToggleReaction(state, r.user, r.kind)
		if fmt.Sprint(r.m.Reactions) != fmt.Sprint(state) {
			t.Fatalf("toggle %d (%s, kind %d, seq %d) returned %v; one by one gives %v", i, r.user, r.kind, r.m.EventSeq, r.m.Reactions, state)
		}
	}
	if len(state) != 0 {
		t.Fatalf("after two rounds the reactions are %v, want none", state)
	}
	if m, err := s.MessageByRef(ctx, "r", "target"); err != nil || len(m.Reactions) != 0 {
		t.Fatalf("stored reactions %v, %v", m.Reactions, err)
	}
	if log.Max() < 2 {
		t.Fatalf("no batch held more than one op: %v", log.Sizes)
	}
	// Every number of the room went to exactly one op.
	all := append([]int64{1}, msgSeqs...) // 1 is "target"
	for _, r := range results {
		all = append(all, r.m.EventSeq)
	}
	slices.Sort(all)
	for i, seq := range all {
		if seq != int64(i)+1 {
			t.Fatalf("room numbers %v are not 1..%d", all, len(all))
		}
	}
	if last, err := s.LastSeq(ctx, "r"); err != nil || last != int64(len(all)) {
		t.Fatalf("LastSeq %d, %v; want %d", last, err, len(all))
	}

	// One batch: a message, a toggle of it, a toggle of nothing, another
	// message. The refused toggle fails nothing else.
	w2 := batch.NewWriter(s, batch.Config{MaxBatch: 4, MaxDelay: time.Minute, OnBatch: log.On, Now: clk.Now})
	errs := make(chan error, 4)
	var toggled chat.Message
	check := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	check(w2.Submit(Msg("r", "new", "author", "fresh"), func(_ bool, err error) { errs <- err }))
	check(w2.SubmitToggle("r", "new", "u1", 3, func(m chat.Message, err error) { toggled = m; errs <- err }))
	check(w2.SubmitToggle("r", "missing", "u1", 3, func(_ chat.Message, err error) {
		if !errors.Is(err, chat.ErrNotFound) {
			err = fmt.Errorf("toggle of nothing: %v, want ErrNotFound", err)
		} else {
			err = nil
		}
		errs <- err
	}))
	check(w2.Submit(Msg("r", "after", "author", "x"), func(_ bool, err error) { errs <- err }))
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	check(w2.Close(ctx))
	if len(toggled.Reactions) != 1 || toggled.Reactions[0].Users[0] != "u1" || !bytes.Equal(toggled.Payload, []byte("fresh")) {
		t.Fatalf("toggle in the message's own batch = %+v", toggled)
	}
	if err := w2.SubmitToggle("r", "new", "u1", 3, nil); !errors.Is(err, batch.ErrClosed) {
		t.Fatalf("SubmitToggle after Close: %v", err)
	}
	if err := w.SubmitToggle("r", "", "u1", 3, nil); !errors.Is(err, chat.ErrInvalid) {
		t.Fatalf("SubmitToggle without a message: %v", err)
	}
}

// testMigrateRoomSeq writes rows in the first schema's shape, content
// column and all, then upgrades: rows get room numbers in their stored
// order, the text lives on in the payload alone (taken from content where
// the seed's schema left the payload empty), deleted rows are erased, and
// new writes continue each room's numbers.
func testMigrateRoomSeq(t *testing.T, h Harness) {
	if h.Exec == nil || len(h.Versions) < 2 || h.Versions[0] != "0001_init" {
		t.Skip("no raw access or no first schema")
	}
	ctx := context.Background()
	target := h.New(t)
	old, err := h.Open(t, target, h.Versions[0], NewClock().Now)
	if err != nil {
		t.Fatal(err)
	}
	old.Close()
	const insert = `INSERT INTO messages (id, room_id, ref_id, user_id, kind, content, payload, reactions, created_at, updated_at, deleted_at)
		VALUES ($1, $2, $3, $4, 0, $5, $6, $7, $8, $8, $9)`
	base := NewClock().Now().UnixMilli()
	rows := []struct {
		id, room, ref, content string
		payload                []byte
		reactions              string
		created                int64
		deleted                any
	}{
		{"id1", "r", "x1", "one", []byte("one"), `[{"kind":1,"count":1,"users":["u2"]}]`, base + 5, nil},
		{"id2", "o", "y1", "other", []byte("other"), `[]`, base, nil},
		{"id3", "r", "x2", "seed text", []byte{}, `[]`, base, nil}, // older time, stored later
		{"id4", "r", "x3", "gone", []byte("gone"), `[{"kind":2,"count":1,"users":["u3"]}]`, base + 7, base + 9},
		{"id5", "r", "x4", "\uFFFD", []byte{0xff}, `[]`, base + 8, nil},
	}
	for _, r := range rows {
		h.Exec(t, target, insert, r.id, r.room, r.ref, "author", r.content, r.payload, r.reactions, r.created, r.deleted)
	}
	s := h.openAt(t, target, NewClock())
	if got := s.AppliedAtOpen(); !slices.Equal(got, h.Versions[1:]) {
		t.Fatalf("upgrade applied %v", got)
	}
	want := map[string]struct {
		seq       int64
		payload   string
		reactions int
	}{"x1": {1, "one", 1}, "x2": {2, "seed text", 0}, "x3": {3, "", 0}, "x4": {4, "\xff", 0}}
	for ref, w := range want {
		m, err := s.MessageByRef(ctx, "r", ref)
		if err != nil || m.Seq != w.seq || string(m.Payload) != w.payload || len(m.Reactions) != w.reactions {
			t.Fatalf("%s after upgrade: %+v, %v; want seq %d payload %q", ref, m, err, w.seq, w.payload)
		}
	}
	if m, err := s.MessageByRef(ctx, "o", "y1"); err != nil || m.Seq != 1 {
		t.Fatalf("y1: %+v, %v", m, err)
	}
	if last, err := s.LastSeq(ctx, "r"); err != nil || last != 4 {
		t.Fatalf("LastSeq = %d, %v", last, err)
	}
	allEvents(t, s, "r", 3)
	fresh := []chat.Message{Msg("r", "x5", "u", "new"), Msg("o", "y2", "u", "new")}
	MustInsert(t, s, fresh...)
	if fresh[0].Seq != 5 || fresh[1].Seq != 2 {
		t.Fatalf("new messages numbered %d and %d, want 5 and 2", fresh[0].Seq, fresh[1].Seq)
	}
	if tg, err := s.ToggleReaction(ctx, "r", "x1", "u2", 1); err != nil || tg.EventSeq != 6 || len(tg.Reactions) != 0 {
		t.Fatalf("toggle after upgrade: %+v, %v", tg, err)
	}
	// History keeps its order: by time, ties by stored order.
	if hist, err := s.History(ctx, "r", chat.Cursor{}, 10); err != nil || !slices.Equal(Refs(hist), []string{"x4", "x1", "x5", "x2"}) {
		t.Fatalf("history after upgrade: %v, %v", Refs(hist), err)
	}
}
