package d1import

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mattn/go-sqlite3"
)

// Sentinel errors; check them with errors.Is.
var (
	// ErrForeignDump means the file is not an upstream D1 export: a
	// statement a dump never holds, or tables and columns upstream never had.
	ErrForeignDump = errors.New("d1import: not an upstream WasmChannel D1 dump")
	// ErrTruncated means the dump ends inside a statement.
	ErrTruncated = errTruncated
	// ErrTargetHasUsers means the target already holds accounts and
	// --merge was not given.
	ErrTargetHasUsers = errors.New("d1import: target database already has users")
	// ErrNeedSecret means sessions cannot be imported: upstream's secret
	// is missing or too short, or the target already uses another one.
	ErrNeedSecret = errors.New("d1import: sessions need upstream's secret")
	// ErrIncomplete means the target, read back after the import, lacks
	// rows that the report does not account for.
	ErrIncomplete = errors.New("d1import: rows missing after import")
)

// Dump is an upstream D1 export loaded into a private temporary SQLite
// database. The dump's SQL only ever runs there; Close deletes it.
type Dump struct {
	db      *sql.DB
	dir     string
	tables  map[string]string // lower-case name -> name as created
	Skipped int               // PRAGMAs, indexes, SQLite's own tables...
	Lines   int               // lines read
}

// Load reads the dump at path into a temporary SQLite file. Statements are
// split and classified first: anything but CREATE TABLE, INSERT and the
// harmless kinds wrangler writes is refused with the line it is on, and an
// authorizer denies ATTACH, PRAGMA and extension loading besides. Inserts
// into a table created later in the file wait until the end, so statement
// order does not matter.
//
// With log set, a large dump reports its progress there every
// progressEvery statements.
func Load(ctx context.Context, path string, log io.Writer) (*Dump, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open dump: %w", err)
	}
	defer f.Close()
	var size int64
	if fi, err := f.Stat(); err == nil {
		size = fi.Size()
	}
	return load(ctx, &countingReader{r: f}, size, log)
}

// progressEvery is how many statements pass between progress lines; a
// variable so a test can see them on a small dump.
var progressEvery = 100_000

// countingReader counts the bytes read, for progress lines.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func load(ctx context.Context, r *countingReader, size int64, log io.Writer) (_ *Dump, err error) {
	dir, err := os.MkdirTemp("", "wasmchannel-d1-")
	if err != nil {
		return nil, fmt.Errorf("load dump: temporary directory: %w", err)
	}
	d := &Dump{dir: dir, tables: map[string]string{}}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	// No journal and no fsync: the file is scratch, rebuilt on any failure.
	dsn := "file:" + filepath.ToSlash(filepath.Join(dir, "dump.db")) +
		"?_journal_mode=OFF&_synchronous=OFF&_foreign_keys=off"
	if d.db, err = sql.Open("sqlite3", dsn); err != nil {
		return nil, fmt.Errorf("load dump: %w", err)
	}
	d.db.SetMaxOpenConns(1)
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("load dump: %w", err)
	}
	defer conn.Close()
	if err := conn.Raw(func(c any) error {
		sc, ok := c.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("driver connection is %T", c)
		}
		sc.RegisterAuthorizer(authorize)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("load dump: authorizer: %w", err)
	}
	defer conn.Raw(func(c any) error { //nolint:errcheck // best effort on a scratch connection
		c.(*sqlite3.SQLiteConn).RegisterAuthorizer(nil)
		return nil
	})
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return nil, fmt.Errorf("load dump: %w", err)
	}

	sp := newSplitter(r)
	var waiting []statement // inserts whose table is not created yet
	for n := 1; ; n++ {
		st, err := sp.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if n%progressEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("load dump: %w", err)
			}
			if log != nil {
				fmt.Fprintf(log, "import: read %d statements, %d of %d MB\n", n, r.n>>20, size>>20)
			}
		}
		kind, table, err := classify(st)
		if err != nil {
			return nil, err
		}
		switch kind {
		case stmtSkip:
			d.Skipped++
			continue
		case stmtCreateTable:
			if _, err := conn.ExecContext(ctx, st.sql); err != nil {
				return nil, fmt.Errorf("line %d: create table %q: %w", st.line, table, err)
			}
			d.tables[strings.ToLower(table)] = table
		case stmtInsert:
			if _, ok := d.tables[strings.ToLower(table)]; !ok {
				waiting = append(waiting, st)
				continue
			}
			if _, err := conn.ExecContext(ctx, st.sql); err != nil {
				return nil, fmt.Errorf("line %d: insert into %q: %w", st.line, table, err)
			}
		}
	}
	d.Lines = sp.line
	for _, st := range waiting {
		_, table, _ := classify(st)
		if _, ok := d.tables[strings.ToLower(table)]; !ok {
			return nil, fmt.Errorf("line %d: %w: insert into table %q, which the dump never creates", st.line, ErrForeignDump, table)
		}
		if _, err := conn.ExecContext(ctx, st.sql); err != nil {
			return nil, fmt.Errorf("line %d: insert into %q: %w", st.line, table, err)
		}
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return nil, fmt.Errorf("load dump: commit: %w", err)
	}
	return d, nil
}

// authorize lets the dump create tables and insert rows in the main
// database and nothing that reaches outside it.
func authorize(op int, arg1, arg2, _ string) int {
	switch op {
	case sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH, sqlite3.SQLITE_PRAGMA, sqlite3.SQLITE_CREATE_VTABLE:
		return sqlite3.SQLITE_DENY
	case sqlite3.SQLITE_FUNCTION:
		if strings.EqualFold(arg2, "load_extension") {
			return sqlite3.SQLITE_DENY
		}
	}
	return sqlite3.SQLITE_OK
}

// Close removes the temporary database.
func (d *Dump) Close() error {
	var err error
	if d.db != nil {
		err = d.db.Close()
	}
	return errors.Join(err, os.RemoveAll(d.dir))
}

// table returns the name of a table as the dump created it, if it did.
func (d *Dump) table(name string) (string, bool) {
	t, ok := d.tables[strings.ToLower(name)]
	return t, ok
}

// Tables lists the tables the dump created, for the report.
func (d *Dump) Tables() []string {
	out := make([]string, 0, len(d.tables))
	for _, t := range d.tables {
		out = append(out, t)
	}
	return out
}

// columns returns the columns of table keyed by their normalised name
// (lower case without underscores, so email_verified and emailVerified
// meet), each mapped to the name as declared.
func (d *Dump) columns(ctx context.Context, table string) (map[string]string, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, table)
	if err != nil {
		return nil, fmt.Errorf("columns of %q: %w", table, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("columns of %q: %w", table, err)
		}
		out[normCol(n)] = n
	}
	return out, rows.Err()
}

func normCol(n string) string { return strings.ToLower(strings.ReplaceAll(n, "_", "")) }

// quoteIdent quotes a name for SQL text. Only names read back from the
// temporary database's own schema are quoted, never the dump's text.
func quoteIdent(n string) string { return `"` + strings.ReplaceAll(n, `"`, `""`) + `"` }
