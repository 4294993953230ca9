package d1import

import (
	"fmt"
	"strings"
)

// stmtKind is what the loader does with a statement of the dump.
type stmtKind int

const (
	// stmtSkip: wrangler's PRAGMAs, transaction control, SQLite's own
	// tables, indexes, views and triggers. None of them carries data.
	stmtSkip stmtKind = iota
	stmtCreateTable
	stmtInsert
)

// classify says what a statement is and which table it names. A statement
// that a D1 export never holds (UPDATE, DROP, ATTACH, SELECT, ...) is an
// error: the file is not a dump, and nothing of it is run.
func classify(st statement) (stmtKind, string, error) {
	w := words(st.sql, 4)
	if len(w) == 0 {
		return 0, "", fmt.Errorf("line %d: %w: %q is not a SQL statement", st.line, ErrForeignDump, clip(st.sql))
	}
	switch w[0] {
	case "PRAGMA", "BEGIN", "COMMIT", "END", "ANALYZE", "SAVEPOINT", "RELEASE":
		return stmtSkip, "", nil
	case "CREATE":
		i := 1
		if i < len(w) && (w[i] == "TEMP" || w[i] == "TEMPORARY") {
			i++
		}
		if i >= len(w) {
			break
		}
		switch w[i] {
		case "TABLE":
			name, err := objectName(st.sql, "TABLE", true)
			if err != nil {
				return 0, "", fmt.Errorf("line %d: %w", st.line, err)
			}
			if isInternal(name) {
				return stmtSkip, name, nil
			}
			return stmtCreateTable, name, nil
		case "INDEX", "UNIQUE", "VIEW", "TRIGGER", "VIRTUAL":
			return stmtSkip, "", nil
		}
	case "INSERT", "REPLACE":
		name, err := objectName(st.sql, "INTO", false)
		if err != nil {
			return 0, "", fmt.Errorf("line %d: %w", st.line, err)
		}
		if isInternal(name) {
			return stmtSkip, name, nil
		}
		return stmtInsert, name, nil
	case "DELETE":
		// sqlite3's .dump resets AUTOINCREMENT counters this way.
		if name, err := objectName(st.sql, "FROM", false); err == nil && isInternal(name) {
			return stmtSkip, name, nil
		}
	}
	return 0, "", fmt.Errorf("line %d: %w: unexpected statement %q (a D1 export holds CREATE TABLE, INSERT and PRAGMA)",
		st.line, ErrForeignDump, clip(st.sql))
}

// isInternal reports whether a table is SQLite's own (sqlite_sequence,
// sqlite_stat1, ...), which the temporary database keeps for itself.
func isInternal(name string) bool {
	return strings.HasPrefix(strings.ToLower(name), "sqlite_")
}

// objectName returns the (unquoted) table name that follows keyword in a
// statement, skipping IF NOT EXISTS when ifNotExists is set. A name
// qualified with a schema other than main or temp is refused, so a dump
// cannot reach another database file.
func objectName(text, keyword string, ifNotExists bool) (string, error) {
	i := indexWord(text, keyword)
	if i < 0 {
		return "", fmt.Errorf("%w: no %s in %q", ErrForeignDump, keyword, clip(text))
	}
	rest := text[i+len(keyword):]
	if ifNotExists {
		w := words(rest, 3)
		if len(w) == 3 && w[0] == "IF" && w[1] == "NOT" && w[2] == "EXISTS" {
			rest = rest[indexWord(rest, "EXISTS")+len("EXISTS"):]
		}
	}
	name, rest, err := readName(rest)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(rest, ".") {
		schema := name
		if name, _, err = readName(rest[1:]); err != nil {
			return "", err
		}
		if s := strings.ToLower(schema); s != "main" && s != "temp" {
			return "", fmt.Errorf("%w: table %q in schema %q", ErrForeignDump, name, schema)
		}
	}
	return name, nil
}

// readName reads one possibly quoted SQL name at the start of s (after
// spaces) and returns it and what follows.
func readName(s string) (string, string, error) {
	s = strings.TrimLeft(s, " \t\r\n")
	if s == "" {
		return "", "", fmt.Errorf("%w: missing table name", ErrForeignDump)
	}
	if q := s[0]; q == '"' || q == '`' || q == '\'' || q == '[' {
		end := q
		if q == '[' {
			end = ']'
		}
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			if s[i] != end {
				b.WriteByte(s[i])
				continue
			}
			if end != ']' && i+1 < len(s) && s[i+1] == end { // doubled quote
				b.WriteByte(end)
				i++
				continue
			}
			return b.String(), s[i+1:], nil
		}
		return "", "", fmt.Errorf("%w: unterminated quoted name", ErrForeignDump)
	}
	j := 0
	for j < len(s) && isWordByte(s[j]) {
		j++
	}
	if j == 0 {
		return "", "", fmt.Errorf("%w: missing table name in %q", ErrForeignDump, clip(s))
	}
	return s[:j], s[j:], nil
}

// indexWord returns the byte offset of the first occurrence of the bare
// ASCII keyword kw (any case) in text, or -1.
func indexWord(text, kw string) int {
	for i := 0; i+len(kw) <= len(text); i++ {
		if !strings.EqualFold(text[i:i+len(kw)], kw) {
			continue
		}
		before := i == 0 || !isWordByte(text[i-1])
		after := i+len(kw) == len(text) || !isWordByte(text[i+len(kw)])
		if before && after {
			return i
		}
	}
	return -1
}

// clip shortens a statement for an error message.
func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
