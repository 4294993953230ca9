// Package schema holds what both stores' migration runners share: reading
// the ordered, embedded migration files and refusing a database that
// records a version this binary does not know. Applying them (locks,
// transactions, the schema_migrations table's SQL) stays with each store.
package schema

import (
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

// Migration is one embedded SQL file; Version is its name without ".sql".
type Migration struct {
	Version string
	SQL     string
}

// Load lists the files migrations/*.sql of fsys, ordered by name.
func Load(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]Migration, 0, len(names))
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		v := strings.TrimSuffix(strings.TrimPrefix(n, "migrations/"), ".sql")
		out = append(out, Migration{Version: v, SQL: string(b)})
	}
	return out, nil
}

// Versions returns the versions of fsys's migrations, in order; nil if
// they cannot be read.
func Versions(fsys fs.FS) []string {
	ms, err := Load(fsys)
	if err != nil {
		return nil
	}
	vs := make([]string, len(ms))
	for i, m := range ms {
		vs[i] = m.Version
	}
	return vs
}

// CheckRecorded fails if recorded (the versions a database lists as
// applied) holds one that list lacks: an older binary could misread a
// newer schema.
func CheckRecorded(list []Migration, recorded []string) error {
	known := make(map[string]bool, len(list))
	for _, m := range list {
		known[m.Version] = true
	}
	for _, v := range recorded {
		if !known[v] {
			return fmt.Errorf("migrate: database has migration %q unknown to this binary (newer schema?)", v)
		}
	}
	return nil
}
