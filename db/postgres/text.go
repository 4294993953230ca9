package postgres

import "strings"

// PostgreSQL's text type cannot hold U+0000, which clients may send in
// names, ids and the like (SQLite keeps it). The store escapes it on the way
// in and back on the way out, with the private-use character U+E000 as the
// escape: U+0000 is stored as U+E000 '0' and U+E000 as U+E000 U+E000. The
// mapping is one-to-one, so equality, uniqueness and lower() (neither
// character has a case) behave as on the original text.
const escRune = '\uE000'

// enc escapes s for a text column.
func enc(s string) string {
	if !strings.ContainsAny(s, "\x00\uE000") {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch r {
		case 0:
			b.WriteRune(escRune)
			b.WriteByte('0')
		case escRune:
			b.WriteRune(escRune)
			b.WriteRune(escRune)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// dec undoes enc.
func dec(s string) string {
	if !strings.ContainsRune(s, escRune) {
		return s
	}
	var b strings.Builder
	esc := false
	for _, r := range s {
		switch {
		case esc && r == '0':
			b.WriteByte(0)
			esc = false
		case esc:
			b.WriteRune(r) // U+E000 U+E000
			esc = false
		case r == escRune:
			esc = true
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// decAll decodes each string in place, after a Scan.
func decAll(ps ...*string) {
	for _, p := range ps {
		*p = dec(*p)
	}
}

// encPtr escapes an optional text; nil stays NULL.
func encPtr(p *string) *string {
	if p == nil {
		return nil
	}
	s := enc(*p)
	return &s
}
