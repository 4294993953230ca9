package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/wasmchannel/wasmchannel/db"
	"github.com/wasmchannel/wasmchannel/db/dbcopy"
)

func init() {
	register("db", "database tools: db copy --from FILE.db --to postgres://… moves an installation", runDB)
}

// runDB dispatches `wasmchannel db <subcommand>`.
func runDB(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "copy" {
		fmt.Fprintln(stderr, "usage: wasmchannel db copy --from FILE.db --to postgres://user@host/dbname [--resume] [--batch N]")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return 0
		}
		return 2
	}
	return runDBCopy(args[1:], stdout, stderr)
}

// runDBCopy is `wasmchannel db copy`: users with their password hashes,
// sessions, messages with reactions and deletes, and the server secret,
// from one store to an empty other, then a comparison of row counts.
func runDBCopy(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("db copy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "source: the SQLite file the server ran on (stop the server first)")
	to := fs.String("to", "", "target: an empty database, postgres://user:password@host:5432/dbname")
	resume := fs.Bool("resume", false, "finish an interrupted copy from the same source into its non-empty target")
	batch := fs.Int("batch", dbcopy.DefaultBatch, "rows per load transaction")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *from == "" || *to == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "db copy: --from and --to are required, and nothing else")
		return 2
	}
	if *from == *to {
		fmt.Fprintln(stderr, "db copy: --from and --to name the same database")
		return 2
	}
	if !db.IsPostgres(*from) {
		// Opening a missing file would create an empty database to copy.
		if _, err := os.Stat(*from); err != nil {
			fmt.Fprintln(stderr, "db copy: source:", err)
			return 1
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	src, err := db.Open(ctx, *from)
	if err != nil {
		fmt.Fprintln(stderr, "db copy: source:", err)
		return 1
	}
	defer src.Close()
	dst, err := db.Open(ctx, *to)
	if err != nil {
		fmt.Fprintln(stderr, "db copy: target:", err)
		return 1
	}
	defer dst.Close()
	fmt.Fprintf(stdout, "copying %s (%s) to %s (%s)\n", db.Redact(*from), src.Kind(), db.Redact(*to), dst.Kind())
	rep, err := dbcopy.Copy(ctx, src, dst, dbcopy.Options{Batch: *batch, Resume: *resume, Progress: stdout})
	if err != nil {
		fmt.Fprintln(stderr, "db copy:", err)
		if !errors.Is(err, dbcopy.ErrTargetNotEmpty) && !errors.Is(err, dbcopy.ErrCountMismatch) {
			fmt.Fprintln(stderr, "db copy: the copy stopped part-way; rerun the same command with --resume to finish it")
		}
		return 1
	}
	fmt.Fprintf(stdout, "done: %d users, %d sessions, %d messages (%d deleted), %d reactions, %d settings; row counts match\n",
		rep.Target.Users, rep.Target.Sessions, rep.Target.Messages, rep.Target.Deleted, rep.Target.Reactions, rep.Target.Settings)
	return 0
}
