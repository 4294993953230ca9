package postgres

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sqlArg is where each pgx method takes its SQL text.
var sqlArg = map[string]int{"Exec": 1, "Query": 1, "QueryRow": 1, "Queue": 0}

// trustedSQL are non-constant SQL arguments that are fixed at build time
// all the same, as "file:expr".
var trustedSQL = map[string]bool{"migrate.go:m.SQL": true} // embedded migration files

// unsafeSQL returns every SQL argument in files that is not built from
// string literals and package constants alone.
func unsafeSQL(t *testing.T, files map[string]string) []string {
	t.Helper()
	fset := token.NewFileSet()
	consts := map[string]bool{}
	parsed := map[string]*ast.File{}
	for name, src := range files {
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed[name] = f
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
				for _, sp := range g.Specs {
					for _, n := range sp.(*ast.ValueSpec).Names {
						consts[n.Name] = true
					}
				}
			}
		}
	}
	var constant func(e ast.Expr) bool
	constant = func(e ast.Expr) bool {
		switch e := e.(type) {
		case *ast.BasicLit:
			return e.Kind == token.STRING
		case *ast.Ident:
			return consts[e.Name]
		case *ast.ParenExpr:
			return constant(e.X)
		case *ast.BinaryExpr:
			return e.Op == token.ADD && constant(e.X) && constant(e.Y)
		}
		return false
	}
	var bad []string
	for name, f := range parsed {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			i, ok := sqlArg[sel.Sel.Name]
			if !ok || len(call.Args) <= i {
				return true
			}
			arg := call.Args[i]
			if constant(arg) || trustedSQL[filepath.Base(name)+":"+exprString(arg)] {
				return true
			}
			bad = append(bad, fset.Position(arg.Pos()).String()+": "+exprString(arg))
			return true
		})
	}
	return bad
}

// exprString prints simple expressions (identifiers and selectors).
func exprString(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return exprString(e.X) + "." + e.Sel.Name
	}
	return "<expr>"
}

// TestSQLOnlyParameterized checks that every query this store sends is SQL
// fixed at compile time, values going as parameters; mutants of the real
// source with a value pasted into a query must be caught.
func TestSQLOnlyParameterized(t *testing.T) {
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	calls := 0
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[p] = string(b)
		for name := range sqlArg {
			calls += strings.Count(string(b), "."+name+"(")
		}
	}
	if calls < 30 {
		t.Fatalf("only %d query calls found: is the check looking at the right files?", calls)
	}
	for _, p := range unsafeSQL(t, files) {
		t.Error(p)
	}
	mutants := []struct{ file, from, to string }{
		{"users.go", "`DELETE FROM sessions WHERE token_hash = $1`, enc(tokenHash)", "`DELETE FROM sessions WHERE token_hash = '` + tokenHash + `'`"},
		{"messages.go", "b.Queue(insertRunSQL, args...)", "b.Queue(insertRunSQL+msgs[0].Room, args...)"},
		{"users.go", "`SELECT value FROM settings WHERE key = $1`, enc(key)).Scan(&v)\n\tif errors.Is", "fmt.Sprintf(`SELECT value FROM settings WHERE key = '%s'`, key)).Scan(&v)\n\tif errors.Is"},
	}
	for _, m := range mutants {
		if !strings.Contains(files[m.file], m.from) {
			t.Fatalf("mutant: %s no longer holds %q; update the test", m.file, m.from)
		}
		mutated := map[string]string{}
		for k, v := range files {
			mutated[k] = v
		}
		mutated[m.file] = strings.Replace(files[m.file], m.from, m.to, 1)
		if len(unsafeSQL(t, mutated)) == 0 {
			t.Errorf("mutant of %s (%s) not caught", m.file, m.to)
		}
	}
}
