package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wasmchannel/wasmchannel/app"
	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/d1import"
	"github.com/wasmchannel/wasmchannel/db"
	"github.com/wasmchannel/wasmchannel/hub"
)

func init() {
	register("import", "bring an upstream deployment over: import d1 DUMP.sql (users, passwords, sessions, history, reactions)", runImport)
}

const importUsage = `usage: wasmchannel import d1 [flags] DUMP.sql

Reads DUMP.sql, made by "wrangler d1 export <database> --output DUMP.sql"
from upstream WasmChannel's D1 database, and writes its users (with their
Better Auth passwords), optionally their sessions, and the chat history with
its reactions into --db. The dump runs only in a private scratch SQLite
file; a dump that is truncated or not upstream's changes nothing. The target
must hold no users unless --merge is given. Every row read is reported as
imported or skipped with its reason; the exit status is 1 if the target
then lacks anything the report does not account for. Import while the
server is stopped: a running server would not see the history it caches.

Sessions (--sessions) need --secret set to upstream's BETTER_AUTH_SECRET:
it is stored as the target's cookie-signing secret, so browsers holding
upstream's cookie stay signed in. Run serve without --secret afterwards (or
with the same one).

flags:
`

func runImport(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "d1" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(stderr, importUsage)
			return 0
		}
		fmt.Fprintln(stderr, "import: the only source is d1: wasmchannel import d1 [flags] DUMP.sql")
		return 2
	}
	fs := flag.NewFlagSet("import d1", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, importUsage); fs.PrintDefaults() }
	target := fs.String("db", db.DefaultTarget, "target store, as serve --db: a SQLite file, or a postgres:// URL")
	room := fs.String("room", d1import.DefaultRoom, "room that upstream's history goes into (upstream had one: the room GET / joins)")
	sessions := fs.Bool("sessions", false, "also import unexpired sessions (needs --secret = upstream's BETTER_AUTH_SECRET)")
	secret := fs.String("secret", "", "upstream's BETTER_AUTH_SECRET, at least 32 bytes (for --sessions)")
	dryRun := fs.Bool("dry-run", false, "print what would be imported and change nothing")
	merge := fs.Bool("merge", false, "allow a target that already has users; a taken email keeps the existing account")
	batch := fs.Int("batch", d1import.DefaultBatch, "rows per transaction")
	// Flags may come before or after the dump's path.
	var pos []string
	rest := args[1:]
	parse := app.ParseFlags // environment first, once; then the rest of the line
	for {
		if err := parse(fs, rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			fmt.Fprintln(stderr, "import d1:", err)
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
		parse = func(fs *flag.FlagSet, args []string) error { return fs.Parse(args) }
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "import d1: give exactly one dump file")
		fs.Usage()
		return 2
	}
	if !hub.ValidRoom(*room) {
		fmt.Fprintf(stderr, "import d1: --room %q: room names are 1-64 characters from [A-Za-z0-9_.-]\n", *room)
		return 2
	}
	if *sessions && *secret == "" {
		fmt.Fprintln(stderr, "import d1: --sessions needs --secret set to upstream's BETTER_AUTH_SECRET, or upstream's cookies will not verify")
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	started := time.Now()
	dump, err := d1import.Load(ctx, pos[0], stderr)
	if err != nil {
		fmt.Fprintf(stderr, "import d1: %s: %v\nnothing was written to %s\n", pos[0], err, db.Redact(*target))
		return 1
	}
	defer dump.Close()
	plan, err := dump.Map(ctx, d1import.MapOptions{Sessions: *sessions, Now: time.Now()})
	if err != nil {
		fmt.Fprintf(stderr, "import d1: %s: %v\nnothing was written to %s\n", pos[0], err, db.Redact(*target))
		return 1
	}
	fmt.Fprintf(stderr, "import d1: read %s (%d lines) in %s\n", pos[0], dump.Lines, time.Since(started).Round(time.Millisecond))

	store, closeStore, err := openTarget(ctx, *target, *dryRun)
	if err != nil {
		fmt.Fprintln(stderr, "import d1:", err)
		return 1
	}
	defer closeStore()
	err = d1import.Write(ctx, plan, store, d1import.Options{
		Room: *room, Merge: *merge, DryRun: *dryRun, Secret: *secret, Batch: *batch, Log: stderr,
	})
	if err != nil && !errors.Is(err, d1import.ErrIncomplete) {
		fmt.Fprintln(stderr, "import d1:", err)
		return 1
	}
	plan.Report.Write(stdout)
	if err != nil {
		fmt.Fprintln(stderr, "import d1:", err)
		return 1
	}
	switch {
	case *dryRun:
		fmt.Fprintf(stdout, "dry run: nothing was written to %s\n", db.Redact(*target))
	default:
		fmt.Fprintf(stdout, "imported into %s, room %q, in %s\n", db.Redact(*target), *room, time.Since(started).Round(time.Millisecond))
	}
	return 0
}

// openTarget opens the store to import into. A dry run against a SQLite
// file that does not exist yet reads an empty target instead of creating
// the file.
func openTarget(ctx context.Context, target string, dryRun bool) (d1import.Target, func(), error) {
	if dryRun && !db.IsPostgres(target) {
		if _, err := os.Stat(target); errors.Is(err, os.ErrNotExist) {
			return emptyTarget{}, func() {}, nil
		}
	}
	st, err := db.Open(ctx, target)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", db.Redact(target), err)
	}
	return st, func() { _ = st.Close() }, nil
}

// emptyTarget is a store with nothing in it, for a dry run against a file
// that does not exist. It refuses every write.
type emptyTarget struct{}

var errDryRun = errors.New("dry run: no writes")

func (emptyTarget) LoadUsers(context.Context, []chat.BulkUser) (int, error)      { return 0, errDryRun }
func (emptyTarget) LoadSessions(context.Context, []chat.Session) (int, error)    { return 0, errDryRun }
func (emptyTarget) LoadMessages(context.Context, []chat.Message) (int, error)    { return 0, errDryRun }
func (emptyTarget) LoadSettings(context.Context, map[string]string) (int, error) { return 0, errDryRun }
func (emptyTarget) Counts(context.Context) (chat.Counts, error)                  { return chat.Counts{}, nil }
func (emptyTarget) UserByEmail(context.Context, string) (chat.User, string, error) {
	return chat.User{}, "", chat.ErrNotFound
}
func (emptyTarget) UserByID(context.Context, string) (chat.User, error) {
	return chat.User{}, chat.ErrNotFound
}
func (emptyTarget) MessageByRef(context.Context, string, string) (chat.Message, error) {
	return chat.Message{}, chat.ErrNotFound
}
func (emptyTarget) MessageByID(context.Context, string) (chat.Message, error) {
	return chat.Message{}, chat.ErrNotFound
}
func (emptyTarget) SessionByTokenHash(context.Context, string) (chat.Session, chat.User, error) {
	return chat.Session{}, chat.User{}, chat.ErrNotFound
}
func (emptyTarget) Setting(context.Context, string) (string, error) { return "", chat.ErrNotFound }
