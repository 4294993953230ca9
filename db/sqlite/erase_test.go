package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/wasmchannel/wasmchannel/db/storetest"
)

// TestDeleteLeavesNoTextInTheFile checks that a deleted message's text is
// gone from the database file itself once the WAL is checkpointed, not
// only from query results: SQLite would otherwise leave the old cell's
// bytes in the page's free space (secure_delete).
func TestDeleteLeavesNoTextInTheFile(t *testing.T) {
	d, _ := mustOpenClock(t)
	ctx := context.Background()
	// Deletes in the middle of full pages, one at a time and between
	// other writes, as in a live room.
	secret := func(i int) string { return fmt.Sprintf("erase-me-%03d-%s", i, strings.Repeat("x", 60)) }
	for i := range 60 {
		storetest.MustInsert(t, d, storetest.Msg("r", fmt.Sprint("m", i), "author", secret(i)))
	}
	storetest.MustInsert(t, d, storetest.Msg("r", "b", "author", "kept-text-marker"))
	for i := 1; i < 60; i += 2 {
		if _, err := d.DeleteMessage(ctx, "r", fmt.Sprint("m", i), "author"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.wr.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(d.Path())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("kept-text-marker")) {
		t.Fatal("the live message is not in the file: the check reads the wrong bytes")
	}
	for i := range 60 {
		if found := bytes.Contains(b, []byte(secret(i))); found != (i%2 == 0) {
			t.Fatalf("message %d (deleted %v) found in the file: %v", i, i%2 == 1, found)
		}
	}
}
