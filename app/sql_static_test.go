package app_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The static half of issue 7, item 6: every query the SQLite store runs must
// be SQL text fixed at compile time, with values bound as parameters. A
// checker reads the package's source and follows each query argument of
// database/sql's Exec, Query, QueryRow and Prepare (and of the package's
// own wrappers around them) back to where it was made; only string
// literals, constants and + of those pass.

// querySinks are the database/sql methods that take SQL text, with the
// index of that argument.
var querySinks = map[string]int{
	"Exec": 0, "ExecContext": 1,
	"Query": 0, "QueryContext": 1,
	"QueryRow": 0, "QueryRowContext": 1,
	"Prepare": 0, "PrepareContext": 1,
}

// trustedQueries are query expressions that are not constants but are
// fixed at build time all the same, as "file:func:expr".
var trustedQueries = map[string]string{
	// The embedded migration files (db/sqlite/migrations/*.sql, go:embed).
	"migrate.go:migrateTo:m.SQL": "embedded migration script",
}

// sqlInFormat spots SQL being built by a format string.
var sqlInFormat = regexp.MustCompile(`(?i)\b(select|insert|update|delete|pragma|where|from|into|values|order by|limit)\b`)

// unsafeQueries returns a description of every query argument in files
// (name -> Go source) that is not provably constant, and of every
// fmt.Sprintf-style call whose format looks like SQL.
func unsafeQueries(files map[string]string) ([]string, error) {
	fset := token.NewFileSet()
	type fileAST struct {
		name string
		f    *ast.File
	}
	var parsed []fileAST
	consts := map[string]bool{}
	for name, src := range files {
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			return nil, err
		}
		parsed = append(parsed, fileAST{name, f})
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
				for _, spec := range g.Specs {
					for _, n := range spec.(*ast.ValueSpec).Names {
						consts[n.Name] = true
					}
				}
			}
		}
	}
	sort.Slice(parsed, func(i, j int) bool { return parsed[i].name < parsed[j].name })

	sinks := map[string]int{}
	for k, v := range querySinks {
		sinks[k] = v
	}
	var problems []string
	// Wrappers found in one pass make their callers sinks in the next.
	for pass := 0; ; pass++ {
		problems = problems[:0]
		grew := false
		for _, pf := range parsed {
			for _, d := range pf.f.Decls {
				fn, ok := d.(*ast.FuncDecl)
				if !ok || fn.Body == nil {
					continue
				}
				params := map[string]int{}
				i := 0
				for _, field := range fn.Type.Params.List {
					for _, n := range field.Names {
						params[n.Name] = i
						i++
					}
					if len(field.Names) == 0 {
						i++
					}
				}
				stmts := preparedStmts(fn.Body)
				ast.Inspect(fn.Body, func(n ast.Node) bool {
					call, ok := n.(*ast.CallExpr)
					if !ok {
						return true
					}
					name := calleeName(call)
					if isFormat(call) && len(call.Args) > 0 {
						if lit, ok := call.Args[formatIndex(call)].(*ast.BasicLit); ok && sqlInFormat.MatchString(lit.Value) {
							problems = append(problems, fmt.Sprintf("%s: %s builds SQL with %s", fset.Position(call.Pos()), fn.Name.Name, name))
						}
					}
					idx, ok := sinks[name]
					if !ok || idx >= len(call.Args) {
						return true
					}
					if sel, isSel := call.Fun.(*ast.SelectorExpr); isSel {
						if recv, isID := sel.X.(*ast.Ident); isID && stmts[recv.Name] {
							return true // a prepared statement: arguments only
						}
					}
					arg := call.Args[idx]
					if id, ok := arg.(*ast.Ident); ok {
						if p, isParam := params[id.Name]; isParam && !assigned(fn.Body, id.Name) {
							if _, known := sinks[fn.Name.Name]; !known {
								sinks[fn.Name.Name] = p
								grew = true
							}
							return true
						}
					}
					key := fmt.Sprintf("%s:%s:%s", filepath.Base(pf.name), fn.Name.Name, exprString(fset, arg))
					if _, ok := trustedQueries[key]; ok {
						return true
					}
					if !constant(arg, fn.Body, consts, map[string]bool{}) {
						problems = append(problems, fmt.Sprintf("%s: %s passes %s to %s: not a constant", fset.Position(arg.Pos()), fn.Name.Name, exprString(fset, arg), name))
					}
					return true
				})
			}
		}
		if !grew {
			return problems, nil
		}
		if pass > 10 {
			return nil, fmt.Errorf("query wrappers did not settle")
		}
	}
}

// preparedStmts names the locals holding a statement from Prepare or
// PrepareContext, whose Exec and Query take arguments only.
func preparedStmts(body *ast.BlockStmt) map[string]bool {
	out := map[string]bool{}
	ast.Inspect(body, func(n ast.Node) bool {
		if a, ok := n.(*ast.AssignStmt); ok && len(a.Rhs) == 1 && len(a.Lhs) >= 1 {
			if call, ok := a.Rhs[0].(*ast.CallExpr); ok {
				if name := calleeName(call); name == "Prepare" || name == "PrepareContext" {
					if id, ok := a.Lhs[0].(*ast.Ident); ok {
						out[id.Name] = true
					}
				}
			}
		}
		return true
	})
	return out
}

func calleeName(call *ast.CallExpr) string {
	switch f := call.Fun.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		return f.Sel.Name
	}
	return ""
}

// isFormat reports calls that build strings: fmt.Sprint* and fmt.Fprintf.
func isFormat(call *ast.CallExpr) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && pkg.Name == "fmt" && (strings.HasPrefix(sel.Sel.Name, "Sprint") || sel.Sel.Name == "Fprintf")
}

func formatIndex(call *ast.CallExpr) int {
	if calleeName(call) == "Fprintf" && len(call.Args) > 1 {
		return 1
	}
	return 0
}

// constant reports whether e is built only from string literals, package
// constants, + and local variables that are themselves only ever assigned
// such expressions in body.
func constant(e ast.Expr, body *ast.BlockStmt, consts map[string]bool, seen map[string]bool) bool {
	switch x := e.(type) {
	case *ast.BasicLit:
		return x.Kind == token.STRING
	case *ast.ParenExpr:
		return constant(x.X, body, consts, seen)
	case *ast.BinaryExpr:
		return x.Op == token.ADD && constant(x.X, body, consts, seen) && constant(x.Y, body, consts, seen)
	case *ast.Ident:
		if seen[x.Name] {
			return true // q += ...: the other assignments decide
		}
		seen[x.Name] = true
		vals, ok := assignments(body, x.Name)
		if !ok || len(vals) == 0 {
			return consts[x.Name] && len(vals) == 0
		}
		for _, v := range vals {
			if !constant(v, body, consts, seen) {
				return false
			}
		}
		return true
	}
	return false
}

// assignments returns every expression assigned to the local name in body
// (=, :=, +=, var). ok is false when name is assigned in a way that cannot
// be followed (a multi-value call, a pointer, a range).
func assignments(body *ast.BlockStmt, name string) (vals []ast.Expr, ok bool) {
	ok = true
	ast.Inspect(body, func(n ast.Node) bool {
		switch s := n.(type) {
		case *ast.AssignStmt:
			for i, l := range s.Lhs {
				if id, isID := l.(*ast.Ident); isID && id.Name == name {
					if len(s.Rhs) != len(s.Lhs) {
						ok = false
						return false
					}
					vals = append(vals, s.Rhs[i])
				}
			}
		case *ast.ValueSpec:
			for i, id := range s.Names {
				if id.Name == name && i < len(s.Values) {
					vals = append(vals, s.Values[i])
				}
			}
		case *ast.RangeStmt:
			for _, e := range []ast.Expr{s.Key, s.Value} {
				if id, isID := e.(*ast.Ident); isID && id.Name == name {
					ok = false
				}
			}
		case *ast.UnaryExpr:
			if id, isID := s.X.(*ast.Ident); isID && id.Name == name && s.Op == token.AND {
				ok = false
			}
		}
		return true
	})
	return vals, ok
}

func assigned(body *ast.BlockStmt, name string) bool {
	vals, ok := assignments(body, name)
	return !ok || len(vals) > 0
}

func exprString(fset *token.FileSet, e ast.Expr) string {
	var b strings.Builder
	if err := printer.Fprint(&b, fset, e); err != nil {
		return fmt.Sprintf("%T", e)
	}
	return b.String()
}

// TestSQLOnlyParameterized runs the checker over the SQLite store's source.
func TestSQLOnlyParameterized(t *testing.T) {
	paths, err := filepath.Glob("../db/sqlite/*.go")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[p] = string(b)
	}
	if len(files) < 3 {
		t.Fatalf("found only %d db source files", len(files))
	}
	problems, err := unsafeQueries(files)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
	// Mutants of the real source, each with one query built from a value,
	// must be caught, through the package's own wrappers too.
	mutants := []struct{ file, from, to string }{
		{"users.go", "`DELETE FROM sessions WHERE token_hash = ?`, tokenHash", "`DELETE FROM sessions WHERE token_hash = '` + tokenHash + `'`"},
		{"messages.go", "q += ` AND created_at < ?`", "q += ` AND created_at < ` + fmt.Sprint(b)"},
		{"users.go", "d.rd.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key)", "d.rd.QueryRowContext(ctx, fmt.Sprintf(`SELECT value FROM settings WHERE key = '%s'`, key))"},
	}
	for _, m := range mutants {
		path := filepath.Join("..", "db", "sqlite", m.file)
		from, to := m.from, m.to
		if !strings.Contains(files[path], from) {
			t.Fatalf("mutant: %s no longer holds %q; update the test", m.file, from)
		}
		mutated := map[string]string{}
		for k, v := range files {
			mutated[k] = v
		}
		mutated[path] = strings.Replace(files[path], from, to, 1)
		if problems, err := unsafeQueries(mutated); err != nil || len(problems) == 0 {
			t.Errorf("mutant of %s (%s) not caught: %v", m.file, to, err)
		}
	}
	// The check must be seeing the queries: count the sink calls.
	n := 0
	for _, src := range files {
		for name := range querySinks {
			n += strings.Count(src, "."+name+"(")
		}
	}
	if n < 15 {
		t.Fatalf("only %d query calls found in db: is the checker looking at the right files?", n)
	}
}

// TestSQLCheckerCatchesStringBuiltSQL feeds the checker small programs,
// safe and unsafe, so that TestSQLOnlyParameterized is known to be able to
// fail.
func TestSQLCheckerCatchesStringBuiltSQL(t *testing.T) {
	const head = "package db\nimport (\"context\"; \"database/sql\"; \"fmt\"; \"strings\")\nvar _ = fmt.Sprint\nvar _ = strings.Join\nconst cols = `id, name`\n"
	cases := []struct {
		name string
		body string
		bad  bool
	}{
		{"literal", "func f(ctx context.Context, d *sql.DB, id string) { d.QueryRowContext(ctx, `SELECT 1 FROM t WHERE id = ?`, id) }", false},
		{"constant columns", "func f(ctx context.Context, d *sql.DB, id string) { d.QueryContext(ctx, `SELECT `+cols+` FROM t WHERE id = ?`, id) }", false},
		{"local built from literals", "func f(ctx context.Context, d *sql.DB, a bool) { q := `SELECT 1 FROM t`; if a { q += ` WHERE a = ?` }; d.QueryContext(ctx, q, 1) }", false},
		{"wrapper called with a literal", "func (x *X) exec(ctx context.Context, query string, args ...any) { x.d.ExecContext(ctx, query, args...) }\nfunc g(x *X, ctx context.Context) { x.exec(ctx, `DELETE FROM t WHERE id = ?`, 1) }\ntype X struct{ d *sql.DB }", false},
		{"prepared statement", "func f(ctx context.Context, tx *sql.Tx, id string) { st, _ := tx.PrepareContext(ctx, `INSERT INTO t VALUES (?)`); st.ExecContext(ctx, id) }", false},
		{"Sprintf into the query", "func f(ctx context.Context, d *sql.DB, id string) { d.QueryRowContext(ctx, fmt.Sprintf(`SELECT 1 FROM t WHERE id = '%s'`, id)) }", true},
		{"concatenated value", "func f(ctx context.Context, d *sql.DB, id string) { d.ExecContext(ctx, `DELETE FROM t WHERE id = '`+id+`'`) }", true},
		{"local from Sprintf", "func f(ctx context.Context, d *sql.DB, n int) { q := fmt.Sprint(n); d.QueryContext(ctx, `SELECT `+q) }", true},
		{"local appended a value", "func f(ctx context.Context, d *sql.DB, id string) { q := `SELECT 1 FROM t`; q += ` WHERE id = ` + id; d.QueryContext(ctx, q) }", true},
		{"wrapper called with a built query", "func (x *X) exec(ctx context.Context, query string) { x.d.ExecContext(ctx, query) }\nfunc g(x *X, ctx context.Context, id string) { x.exec(ctx, `DELETE FROM t WHERE id = '`+id+`'`) }\ntype X struct{ d *sql.DB }", true},
		{"strings.Join into Prepare", "func f(d *sql.DB, cs []string) { d.Prepare(`SELECT ` + strings.Join(cs, `,`) + ` FROM t`) }", true},
		{"Sprintf of SQL kept aside", "func f(t string) string { return fmt.Sprintf(`SELECT * FROM %s`, t) }", true},
		{"Sprintf of an error", "func f(id string) error { return fmt.Errorf(`message %q: not found`, id) }", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			problems, err := unsafeQueries(map[string]string{"x.go": head + tc.body + "\n"})
			if err != nil {
				t.Fatal(err)
			}
			if bad := len(problems) > 0; bad != tc.bad {
				t.Fatalf("flagged = %v, want %v: %v", bad, tc.bad, problems)
			}
		})
	}
}
