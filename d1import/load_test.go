package d1import

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSplitter(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []statement
	}{
		{"plain", "A;\nB;", []statement{{1, "A"}, {2, "B"}}},
		{"semicolon in string", "INSERT INTO t VALUES('a;b');\nX;", []statement{{1, "INSERT INTO t VALUES('a;b')"}, {2, "X"}}},
		{"doubled quote", "INSERT INTO t VALUES('it''s; fine');", []statement{{1, "INSERT INTO t VALUES('it''s; fine')"}}},
		{"newline in string counts lines", "INSERT INTO t VALUES('a\nb');\nX;", []statement{{1, "INSERT INTO t VALUES('a\nb')"}, {3, "X"}}},
		{"quoted names", "CREATE TABLE \"a;b\" (`c;d` int, [e;f] int);", []statement{{1, "CREATE TABLE \"a;b\" (`c;d` int, [e;f] int)"}}},
		{"line comment", "-- a; comment\nA; -- tail;\nB;", []statement{{2, "A"}, {3, "B"}}},
		{"block comment", "/* x;\n y; */ A;", []statement{{2, "A"}}},
		{"comment markers in string", "X('--', '/*');", []statement{{1, "X('--', '/*')"}}},
		{"empty statements", ";;\n;A;", []statement{{2, "A"}}},
		{"trigger body", "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET a=1; DELETE FROM u; END;\nB;",
			[]statement{{1, "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET a=1; DELETE FROM u; END"}, {2, "B"}}},
		{"unicode", "INSERT INTO t VALUES('日本;語 🎉');", []statement{{1, "INSERT INTO t VALUES('日本;語 🎉')"}}},
		{"byte-order mark", "\xEF\xBB\xBFPRAGMA x;\r\nA;", []statement{{1, "PRAGMA x"}, {2, "A"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sp := newSplitter(strings.NewReader(c.in))
			var got []statement
			for {
				st, err := sp.next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, st)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("statement %d: got %+v, want %+v", i, got[i], c.want[i])
				}
			}
		})
	}
}

func TestSplitterTruncated(t *testing.T) {
	cases := []struct{ in, line string }{
		{"A;\nINSERT INTO t VALUES(1", "line 2:"},
		{"A;\nINSERT INTO t VALUES('abc\n\ndef", "line 2:"},
		{"A;\n\n/* open", "line 3:"},
		{"CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1;", "line 1:"},
	}
	for _, c := range cases {
		sp := newSplitter(strings.NewReader(c.in))
		var err error
		for err == nil {
			_, err = sp.next()
		}
		if !errors.Is(err, ErrTruncated) || !strings.HasPrefix(err.Error(), c.line) {
			t.Errorf("%q: got %v, want %s ... %v", c.in, err, c.line, ErrTruncated)
		}
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		sql   string
		kind  stmtKind
		table string
		bad   bool
	}{
		{"PRAGMA defer_foreign_keys=TRUE", stmtSkip, "", false},
		{"CREATE TABLE `user` (id text)", stmtCreateTable, "user", false},
		{"create table if not exists \"my \"\"t\"\"\" (a)", stmtCreateTable, `my "t"`, false},
		{"CREATE TABLE main.messages (a)", stmtCreateTable, "messages", false},
		{"CREATE TABLE sqlite_sequence(name,seq)", stmtSkip, "sqlite_sequence", false},
		{"CREATE UNIQUE INDEX x ON t (a)", stmtSkip, "", false},
		{`INSERT INTO "user" ("id") VALUES('a')`, stmtInsert, "user", false},
		{`INSERT OR REPLACE INTO [messages] VALUES(1)`, stmtInsert, "messages", false},
		{`INSERT INTO "sqlite_sequence" VALUES('t',1)`, stmtSkip, "sqlite_sequence", false},
		{`DELETE FROM sqlite_sequence`, stmtSkip, "sqlite_sequence", false},
		{`BEGIN TRANSACTION`, stmtSkip, "", false},
		{`ATTACH DATABASE '/tmp/x.db' AS x`, 0, "", true},
		{`CREATE TABLE other.t (a)`, 0, "", true},
		{`DROP TABLE user`, 0, "", true},
		{`UPDATE user SET email = 'x'`, 0, "", true},
		{`DELETE FROM user`, 0, "", true},
		{`SELECT 1`, 0, "", true},
		{`'just a string'`, 0, "", true},
	}
	for _, c := range cases {
		kind, table, err := classify(statement{line: 7, sql: c.sql})
		if c.bad {
			if !errors.Is(err, ErrForeignDump) || !strings.HasPrefix(err.Error(), "line 7:") {
				t.Errorf("%q: got %v, want line 7 and ErrForeignDump", c.sql, err)
			}
			continue
		}
		if err != nil || kind != c.kind || table != c.table {
			t.Errorf("%q: got %v %q %v, want %v %q", c.sql, kind, table, err, c.kind, c.table)
		}
	}
}

// minimal is a dump with upstream's required tables and one row each.
const minimal = "CREATE TABLE `user` (`id` text PRIMARY KEY, `name` text, `email` text, `created_at` integer);\n" +
	"INSERT INTO \"user\" VALUES('u1','Ann',' Ann@Example.com ',1700000000);\n" +
	"CREATE TABLE `account` (`id` text, `user_id` text, `provider_id` text, `password` text);\n" +
	"CREATE TABLE `messages` (`id` text PRIMARY KEY, `message` text, `sent_by` text, `created_at` integer);\n" +
	"INSERT INTO \"messages\" VALUES('m1','hi','u1',1700000100);\n"

func loadString(t *testing.T, dump string) (*Dump, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "dump.sql")
	if err := os.WriteFile(p, []byte(dump), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Load(context.Background(), p, nil)
	if err == nil {
		t.Cleanup(func() { d.Close() })
	}
	return d, err
}

func TestLoadRefusesWhatADumpNeverHolds(t *testing.T) {
	target := filepath.Join(t.TempDir(), "target.db")
	cases := []struct {
		name, dump, want string
		is               error
	}{
		{"attach", minimal + "ATTACH DATABASE '" + target + "' AS t;\n", "line 6:", ErrForeignDump},
		{"attach inside a table definition", minimal + "CREATE TABLE x AS SELECT * FROM pragma_table_info('user');\n", "line 6:", nil},
		{"truncated", minimal + "INSERT INTO \"messages\" VALUES('m2','cut off", "line 6:", ErrTruncated},
		{"bad row", minimal + "INSERT INTO \"messages\" VALUES('m1','again','u1',1);\n", "line 6:", nil},
		{"insert into a table never created", minimal + "INSERT INTO \"nowhere\" VALUES(1);\n", "line 6:", ErrForeignDump},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := loadString(t, c.dump)
			if err == nil || !strings.HasPrefix(err.Error(), c.want) || c.is != nil && !errors.Is(err, c.is) {
				t.Fatalf("got %v, want an error starting %q (%v)", err, c.want, c.is)
			}
			if _, err := os.Stat(target); !os.IsNotExist(err) {
				t.Fatalf("the dump reached another file: %v", err)
			}
		})
	}
}

func TestMapForeignSchema(t *testing.T) {
	cases := []struct{ name, dump, want string }{
		{"no messages table", "CREATE TABLE `user` (`id` text, `email` text);\nCREATE TABLE `account` (`user_id` text, `provider_id` text, `password` text);\n", `no "messages" table`},
		{"no user table", "CREATE TABLE `users` (`id` text);\n", `no "user" table`},
		{"missing column", strings.Replace(strings.Replace(minimal, "`sent_by` text, ", "", 1), "'hi','u1'", "'hi'", 1), `table "messages" has no column "sentby"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := loadString(t, c.dump)
			if err != nil {
				t.Fatal(err)
			}
			_, err = d.Map(context.Background(), MapOptions{Now: time.Now()})
			if !errors.Is(err, ErrForeignDump) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want ErrForeignDump naming %s", err, c.want)
			}
		})
	}
}

func TestMapMinimalDefaults(t *testing.T) {
	d, err := loadString(t, minimal)
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Map(context.Background(), MapOptions{Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Users) != 1 || p.Users[0].Email != "ann@example.com" || p.Users[0].CreatedAt != time.Unix(1700000000, 0).UTC() {
		t.Fatalf("users: %+v", p.Users)
	}
	if len(p.Messages) != 1 {
		t.Fatalf("messages: %+v", p.Messages)
	}
	m := p.Messages[0]
	if m.RefID != "m1" || m.DeletedAt != nil || m.UpdatedAt != m.CreatedAt || string(m.Payload) != "hi" || m.Kind != 0 {
		t.Fatalf("message: %+v", m)
	}
	rep := p.Report.Table(tableMessages)
	for _, col := range []string{"refrenceid", "kind", "reactions", "deletedat"} {
		found := false
		for _, c := range rep.Defaulted {
			found = found || strings.Contains(c.Reason, "column "+col+" absent") && c.N == 1
		}
		if !found {
			t.Errorf("column %s not reported as defaulted: %+v", col, rep.Defaulted)
		}
	}
	if n := p.Report.Table(tableAccount).NoteFor(ReasonNoPassword); n != 1 {
		t.Errorf("user without password not reported: %d", n)
	}
}

func TestTimeOf(t *testing.T) {
	sec := time.Unix(1700000000, 0).UTC()
	cases := []struct {
		v    any
		want time.Time
		ms   bool
		ok   bool
	}{
		{int64(1700000000), sec, false, true},
		{int64(1700000000123), time.UnixMilli(1700000000123).UTC(), true, true},
		{"1700000000", sec, false, true},
		{"2023-11-14T22:13:20Z", sec, false, true},
		{"2023-11-14 22:13:20", sec, false, true},
		{float64(1700000000.5), time.UnixMilli(1700000000500).UTC(), false, true},
		{nil, time.Time{}, false, false},
		{"yesterday", time.Time{}, false, false},
		{int64(-5), time.Time{}, false, false},
	}
	for _, c := range cases {
		var ms bool
		got, ok := timeOf(c.v, &ms)
		if ok != c.ok || !got.Equal(c.want) || ms != c.ms {
			t.Errorf("timeOf(%v) = %v %v ms=%v, want %v %v ms=%v", c.v, got, ok, ms, c.want, c.ok, c.ms)
		}
	}
}

func TestDeletedRule(t *testing.T) {
	dump := strings.Replace(minimal, "`created_at` integer);\nINSERT INTO \"messages\" VALUES('m1','hi','u1',1700000100);",
		"`created_at` integer, `updated_at` integer, `deleted_at` integer);\n"+
			"INSERT INTO \"messages\" VALUES('live','a','u1',100,100,100);\n"+
			"INSERT INTO \"messages\" VALUES('gone','b','u1',100,160,160);\n"+
			"INSERT INTO \"messages\" VALUES('null','c','u1',100,130,NULL);", 1)
	d, err := loadString(t, dump)
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Map(context.Background(), MapOptions{Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*time.Time{"live": nil, "gone": ptr(time.Unix(160, 0).UTC()), "null": ptr(time.Unix(130, 0).UTC())}
	if len(p.Messages) != 3 {
		t.Fatalf("messages: %d", len(p.Messages))
	}
	for _, m := range p.Messages {
		w := want[m.ID]
		if (w == nil) != (m.DeletedAt == nil) || w != nil && !w.Equal(*m.DeletedAt) {
			t.Errorf("%s: deleted %v, want %v", m.ID, m.DeletedAt, w)
		}
	}
}

func ptr[T any](v T) *T { return &v }
