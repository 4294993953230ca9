package d1import

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxStatement bounds one statement of a dump, so a file with a missing
// quote or semicolon cannot make the reader buffer all of it. Wrangler
// writes one row per INSERT; 64 MiB is far above any row D1 accepts.
const maxStatement = 64 << 20

// statement is one SQL statement of a dump and the line it starts on.
type statement struct {
	line int
	sql  string
}

// splitter cuts a SQL text into statements at the semicolons outside
// strings, quoted names, comments and trigger bodies, counting lines so
// that every error can name one. It reads the dump as a stream.
type splitter struct {
	r    *bufio.Reader
	line int // current line, 1-based
}

func newSplitter(r io.Reader) *splitter {
	s := &splitter{r: bufio.NewReaderSize(r, 1<<16), line: 1}
	// A byte-order mark, which some editors add on saving, is not SQL.
	if p, _ := s.r.Peek(3); string(p) == "\xEF\xBB\xBF" {
		_, _ = s.r.Discard(3)
	}
	return s
}

// errTruncated is wrapped by the errors for a dump that ends inside a
// statement, a string or a comment.
var errTruncated = errors.New("d1import: dump ends in the middle of a statement (truncated file?)")

// next returns the next statement, or io.EOF after the last one. A
// statement is returned without its closing semicolon.
func (s *splitter) next() (statement, error) {
	var b strings.Builder
	start := 0     // line of the first non-blank, non-comment character
	var quote byte // the open quote: ' " ` or ]; 0 outside quotes
	quoteLine := 0
	for {
		c, err := s.r.ReadByte()
		if err == io.EOF {
			switch {
			case quote != 0:
				return statement{}, fmt.Errorf("line %d: quoted text opened here never closes: %w", quoteLine, errTruncated)
			case start != 0:
				return statement{}, fmt.Errorf("line %d: statement has no closing semicolon: %w", start, errTruncated)
			}
			return statement{}, io.EOF
		}
		if err != nil {
			return statement{}, fmt.Errorf("read dump at line %d: %w", s.line, err)
		}
		if b.Len() >= maxStatement {
			return statement{}, fmt.Errorf("line %d: statement longer than %d MiB", start, maxStatement>>20)
		}
		if c == '\n' {
			s.line++
		}
		if quote != 0 {
			b.WriteByte(c)
			if c == quote {
				quote = 0 // a doubled quote reopens on the next byte
			}
			continue
		}
		switch c {
		case '\'', '"', '`':
			quote, quoteLine = c, s.line
		case '[':
			quote, quoteLine = ']', s.line
		case '-', '/':
			if p, _ := s.r.Peek(1); len(p) == 1 && (c == '-' && p[0] == '-' || c == '/' && p[0] == '*') {
				if err := s.skipComment(c); err != nil {
					return statement{}, err
				}
				b.WriteByte(' ')
				continue
			}
		case ';':
			text := b.String()
			if start == 0 {
				continue // an empty statement
			}
			if isTrigger(text) && !endsWithEnd(text) {
				break // a semicolon inside a trigger body
			}
			return statement{line: start, sql: strings.TrimSpace(text)}, nil
		}
		if start == 0 && !isSpace(c) {
			start = s.line
		}
		b.WriteByte(c)
	}
}

// skipComment consumes a comment whose first byte c was just read.
func (s *splitter) skipComment(c byte) error {
	from := s.line
	if _, err := s.r.ReadByte(); err != nil { // the second '-' or '*'
		return err
	}
	if c == '-' {
		for {
			b, err := s.r.ReadByte()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("read dump at line %d: %w", s.line, err)
			}
			if b == '\n' {
				s.line++
				return nil
			}
		}
	}
	var prev byte
	for {
		b, err := s.r.ReadByte()
		if err == io.EOF {
			return fmt.Errorf("line %d: comment opened here never closes: %w", from, errTruncated)
		}
		if err != nil {
			return fmt.Errorf("read dump at line %d: %w", s.line, err)
		}
		if b == '\n' {
			s.line++
		}
		if prev == '*' && b == '/' {
			return nil
		}
		prev = b
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// isTrigger reports whether a statement is CREATE [TEMP] TRIGGER, whose
// body holds semicolons of its own.
func isTrigger(text string) bool {
	w := words(text, 3)
	if len(w) < 2 || w[0] != "CREATE" {
		return false
	}
	return w[1] == "TRIGGER" || (w[1] == "TEMP" || w[1] == "TEMPORARY") && len(w) > 2 && w[2] == "TRIGGER"
}

// endsWithEnd reports whether text ends with the keyword END.
func endsWithEnd(text string) bool {
	t := strings.TrimRight(text, " \t\r\n")
	if len(t) < 3 || !strings.EqualFold(t[len(t)-3:], "END") {
		return false
	}
	return len(t) == 3 || !isWordByte(t[len(t)-4])
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// words returns up to n leading bare words of text, upper-cased; it stops
// at the first byte that is neither a word byte nor a space.
func words(text string, n int) []string {
	var out []string
	i := 0
	for len(out) < n {
		for i < len(text) && isSpace(text[i]) {
			i++
		}
		j := i
		for j < len(text) && isWordByte(text[j]) {
			j++
		}
		if j == i {
			break
		}
		out = append(out, strings.ToUpper(text[i:j]))
		i = j
	}
	return out
}
