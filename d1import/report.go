package d1import

import (
	"fmt"
	"io"
	"strings"
)

// Count is a reason and how many rows it covers.
type Count struct {
	Reason string
	N      int
}

// TableReport accounts for every row of one upstream table: each row read
// is either imported or skipped for a stated reason. Defaulted lists
// values filled in because the dump lacked them (older schemas), and Notes
// things kept as they were but worth knowing.
type TableReport struct {
	Table     string
	Read      int
	Imported  int
	Skipped   []Count
	Defaulted []Count
	Notes     []Count
}

func (t *TableReport) skip(reason string)       { t.Skipped = bump(t.Skipped, reason, 1) }
func (t *TableReport) def(reason string, n int) { t.Defaulted = bump(t.Defaulted, reason, n) }
func (t *TableReport) note(reason string)       { t.Notes = bump(t.Notes, reason, 1) }

// SkippedTotal is the number of rows skipped for any reason.
func (t *TableReport) SkippedTotal() int {
	n := 0
	for _, c := range t.Skipped {
		n += c.N
	}
	return n
}

// SkippedFor returns how many rows were skipped for reason.
func (t *TableReport) SkippedFor(reason string) int { return find(t.Skipped, reason) }

// NoteFor returns how many rows carry note reason.
func (t *TableReport) NoteFor(reason string) int { return find(t.Notes, reason) }

// DefaultedFor returns how many values were defaulted for reason.
func (t *TableReport) DefaultedFor(reason string) int { return find(t.Defaulted, reason) }

func find(cs []Count, reason string) int {
	for _, c := range cs {
		if c.Reason == reason {
			return c.N
		}
	}
	return 0
}

func bump(cs []Count, reason string, n int) []Count {
	for i := range cs {
		if cs[i].Reason == reason {
			cs[i].N += n
			return cs
		}
	}
	return append(cs, Count{reason, n})
}

// Report is the outcome of an import, one TableReport per upstream table
// in the order they are written.
type Report struct {
	Tables []*TableReport
	// Ignored lists the dump's other tables (d1_migrations, _cf_*, ...).
	Ignored []string
	DryRun  bool
}

// Table returns the report of one upstream table (user, account, session,
// messages, reactions), creating it on first use.
func (r *Report) Table(name string) *TableReport {
	for _, t := range r.Tables {
		if t.Table == name {
			return t
		}
	}
	t := &TableReport{Table: name}
	r.Tables = append(r.Tables, t)
	return t
}

// Write prints the report as a table with the reasons under each row.
func (r *Report) Write(w io.Writer) {
	verb := "imported"
	if r.DryRun {
		verb = "would import"
	}
	fmt.Fprintf(w, "%-10s %8s %12s %8s\n", "table", "read", verb, "skipped")
	for _, t := range r.Tables {
		fmt.Fprintf(w, "%-10s %8d %12d %8d\n", t.Table, t.Read, t.Imported, t.SkippedTotal())
		for _, c := range t.Skipped {
			fmt.Fprintf(w, "    skipped %d: %s\n", c.N, c.Reason)
		}
		for _, c := range t.Defaulted {
			fmt.Fprintf(w, "    defaulted %d: %s\n", c.N, c.Reason)
		}
		for _, c := range t.Notes {
			fmt.Fprintf(w, "    note %d: %s\n", c.N, c.Reason)
		}
	}
	if len(r.Ignored) > 0 {
		fmt.Fprintf(w, "ignored tables (not upstream's data): %s\n", strings.Join(r.Ignored, ", "))
	}
}
