// Command wasmchannel is the self-hosted WasmChannel chat server and its
// tools: serve, migrate, chat, codec check|encode, bench codec|load.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one subcommand. run gets the arguments after the command's
// words and returns the process exit code.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// commands maps a command's words ("serve", "bench load") to it. Each file
// registers its own from init, so each subcommand lives in its own file,
// and this is the one dispatcher: a group ("bench") is the set of commands
// sharing its first word.
var commands = map[string]command{}

func register(path, summary string, run func(args []string, stdout, stderr io.Writer) int) {
	if _, dup := commands[path]; dup {
		panic("wasmchannel: command registered twice: " + path)
	}
	commands[path] = command{summary: summary, run: run}
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func isHelp(arg string) bool { return arg == "-h" || arg == "--help" || arg == "help" }

// run dispatches args to the command with the longest matching words.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || isHelp(args[0]) {
		usage(stderr, "")
		return exitForHelp(args)
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Fprintln(stdout, "wasmchannel", version)
		return 0
	}
	if len(args) >= 2 {
		if c, ok := commands[args[0]+" "+args[1]]; ok {
			return c.run(args[2:], stdout, stderr)
		}
	}
	if c, ok := commands[args[0]]; ok {
		return c.run(args[1:], stdout, stderr)
	}
	if isGroup(args[0]) {
		rest := args[1:]
		if len(rest) > 0 && !isHelp(rest[0]) {
			fmt.Fprintf(stderr, "wasmchannel %s: unknown %s %q\n\n", args[0], memberNoun(args[0]), rest[0])
			usage(stderr, args[0])
			return 2
		}
		usage(stderr, args[0])
		return exitForHelp(rest)
	}
	fmt.Fprintf(stderr, "wasmchannel: unknown command %q\n\n", args[0])
	usage(stderr, "")
	return 2
}

// exitForHelp is 0 when help was asked for, 2 when the command was missing.
func exitForHelp(args []string) int {
	if len(args) == 0 {
		return 2
	}
	return 0
}

// memberNoun is what a group calls its members in errors.
func memberNoun(group string) string {
	if group == "bench" {
		return "benchmark"
	}
	return "subcommand"
}

func isGroup(word string) bool {
	for path := range commands {
		if strings.HasPrefix(path, word+" ") {
			return true
		}
	}
	return false
}

// usage lists the commands under group ("" for all), a group's members
// folded into one line at the top level.
func usage(w io.Writer, group string) {
	lines := map[string]string{}
	subs := map[string][]string{}
	for path, c := range commands {
		first, sub, nested := strings.Cut(path, " ")
		switch {
		case group != "" && first == group && nested:
			lines[path] = c.summary
		case group == "" && nested:
			subs[first] = append(subs[first], sub)
		case group == "":
			lines[path] = c.summary
		}
	}
	for first, ss := range subs {
		sort.Strings(ss)
		lines[first] = strings.Join(ss, " | ")
	}
	if group == "" {
		fmt.Fprintln(w, "usage: wasmchannel <command> [flags]")
	} else {
		fmt.Fprintf(w, "usage: wasmchannel %s <subcommand> [flags]\n", group)
	}
	fmt.Fprintln(w)
	names := make([]string, 0, len(lines))
	for n := range lines {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-22s %s\n", n, lines[n])
	}
	fmt.Fprintln(w, "\nRun 'wasmchannel <command> -h' for a command's flags.")
}
