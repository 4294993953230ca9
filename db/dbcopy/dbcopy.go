// Package dbcopy moves a whole installation from one store to another,
// such as a single node's SQLite file to the PostgreSQL server a cluster
// shares (`wasmchannel db copy`). It goes through chat.BulkReader and
// chat.BulkLoader only, so it works between any two stores.
//
// Users keep their password hashes (old passwords keep working), sessions
// their token hashes (signed-in browsers stay signed in), messages their
// ids, times, reactions and deletes, and the settings carry the server
// secret. The copy ends by comparing row counts.
package dbcopy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
)

// Errors Copy returns; check them with errors.Is.
var (
	// ErrTargetNotEmpty means the target holds data and Resume was not set.
	ErrTargetNotEmpty = errors.New("dbcopy: target is not empty")
	// ErrCountMismatch means the copy ended with row counts that differ
	// from the source's.
	ErrCountMismatch = errors.New("dbcopy: row counts differ")
)

// DefaultBatch is how many rows one load transaction carries.
const DefaultBatch = 1000

// Options tune Copy. The zero value is usable.
type Options struct {
	// Batch is the rows per load transaction (DefaultBatch).
	Batch int
	// Resume allows a non-empty target: the one an interrupted copy from the
	// same source left. Rows already there are skipped, so rerunning
	// finishes the copy without duplicates.
	Resume bool
	// Progress, if set, gets a line per table and about one a second while
	// a large table is copied.
	Progress io.Writer
	// Now is the clock for progress pacing (time.Now).
	Now func() time.Time
}

// Report is what a finished copy found.
type Report struct {
	Source, Target chat.Counts
	// Added counts the rows this run wrote (less than the source's on a
	// resumed copy).
	Added int
}

// Copy copies everything in src to dst. Nothing may write to src while it
// runs: rows written after their table was copied are missed, which the
// final count comparison reports as ErrCountMismatch.
func Copy(ctx context.Context, src, dst chat.Store, opt Options) (Report, error) {
	if opt.Batch <= 0 {
		opt.Batch = DefaultBatch
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	var rep Report
	var err error
	if rep.Source, err = src.Counts(ctx); err != nil {
		return rep, fmt.Errorf("count source: %w", err)
	}
	before, err := dst.Counts(ctx)
	if err != nil {
		return rep, fmt.Errorf("count target: %w", err)
	}
	if !before.Empty() && !opt.Resume {
		return rep, fmt.Errorf("%w: it holds %s; copy into an empty database, or rerun with --resume to finish an interrupted copy from the same source",
			ErrTargetNotEmpty, describe(before))
	}
	p := &progress{w: opt.Progress, now: opt.Now}

	p.start("users", rep.Source.Users)
	if err := src.EachUser(ctx, opt.Batch, func(us []chat.BulkUser) error {
		n, err := dst.LoadUsers(ctx, us)
		rep.Added += n
		p.step(len(us))
		return err
	}); err != nil {
		return rep, fmt.Errorf("copy users: %w", err)
	}
	p.done()

	p.start("sessions", rep.Source.Sessions)
	if err := src.EachSession(ctx, opt.Batch, func(ss []chat.Session) error {
		n, err := dst.LoadSessions(ctx, ss)
		rep.Added += n
		p.step(len(ss))
		return err
	}); err != nil {
		return rep, fmt.Errorf("copy sessions: %w", err)
	}
	p.done()

	p.start("messages", rep.Source.Messages)
	if err := src.EachMessage(ctx, opt.Batch, func(ms []chat.Message) error {
		n, err := dst.LoadMessages(ctx, ms)
		rep.Added += n
		p.step(len(ms))
		return err
	}); err != nil {
		return rep, fmt.Errorf("copy messages: %w", err)
	}
	p.done()

	p.start("settings", rep.Source.Settings)
	settings, err := src.Settings(ctx)
	if err != nil {
		return rep, fmt.Errorf("copy settings: %w", err)
	}
	n, err := dst.LoadSettings(ctx, settings)
	rep.Added += n
	if err != nil {
		return rep, fmt.Errorf("copy settings: %w", err)
	}
	p.step(len(settings))
	p.done()

	if rep.Target, err = dst.Counts(ctx); err != nil {
		return rep, fmt.Errorf("count target: %w", err)
	}
	if rep.Target != rep.Source {
		return rep, fmt.Errorf("%w: source has %s; target has %s", ErrCountMismatch, describe(rep.Source), describe(rep.Target))
	}
	return rep, nil
}

// describe writes counts for people.
func describe(c chat.Counts) string {
	return fmt.Sprintf("%d users, %d sessions, %d messages (%d deleted), %d reactions, %d settings",
		c.Users, c.Sessions, c.Messages, c.Deleted, c.Reactions, c.Settings)
}

// progress writes one line per table, and one about every second in
// between for a table that takes longer.
type progress struct {
	w          io.Writer
	now        func() time.Time
	table      string
	total, n   int64
	started    time.Time
	lastReport time.Time
}

func (p *progress) start(table string, total int64) {
	p.table, p.total, p.n = table, total, 0
	p.started = p.now()
	p.lastReport = p.started
}

func (p *progress) step(rows int) {
	p.n += int64(rows)
	if p.w == nil || p.now().Sub(p.lastReport) < time.Second {
		return
	}
	p.lastReport = p.now()
	pct := 100.0
	if p.total > 0 {
		pct = 100 * float64(p.n) / float64(p.total)
	}
	fmt.Fprintf(p.w, "%s: %d of %d (%.0f%%)\n", p.table, p.n, p.total, pct)
}

func (p *progress) done() {
	if p.w == nil {
		return
	}
	fmt.Fprintf(p.w, "%s: %d copied in %s\n", p.table, p.n, p.now().Sub(p.started).Round(time.Millisecond))
}
