package d1import

import (
	"io"
	"strings"
	"testing"
)

// splitAll returns every statement of text, or the first error.
func splitAll(text string) ([]statement, error) {
	sp := newSplitter(strings.NewReader(text))
	var out []statement
	for {
		st, err := sp.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, st)
	}
}

// FuzzSplit checks that splitting any text ends, numbers lines in order,
// and that what it returns splits again into itself: a statement never
// hides a semicolon boundary or an open quote.
func FuzzSplit(f *testing.F) {
	for _, seed := range []string{
		minimal,
		"INSERT INTO t VALUES('a;b', \"c;d\", `e;f`, [g;h]); -- x;\n/* y; */ B;",
		"CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END; X;",
		"'unterminated",
		"\xEF\xBB\xBFPRAGMA a;\r\nb;",
		"-/**/-;/ /**/ *;",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		sts, err := splitAll(text)
		last := 1
		for _, st := range sts {
			if st.line < last || st.sql == "" {
				t.Fatalf("statement %+v after line %d", st, last)
			}
			last = st.line
		}
		if err != nil {
			return
		}
		var b strings.Builder
		for _, st := range sts {
			b.WriteString(st.sql)
			b.WriteString(";\n")
		}
		again, err := splitAll(b.String())
		if err != nil {
			t.Fatalf("re-split: %v", err)
		}
		if len(again) != len(sts) {
			t.Fatalf("re-split gives %d statements, want %d: %q", len(again), len(sts), b.String())
		}
		for i := range sts {
			if again[i].sql != sts[i].sql {
				t.Fatalf("statement %d: %q became %q", i, sts[i].sql, again[i].sql)
			}
		}
	})
}
