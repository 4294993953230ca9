package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/wasmchannel/wasmchannel/corpus"
)

// stdin is what `codec encode` reads; tests replace it.
var stdin io.Reader = os.Stdin

func init() {
	register("codec check", "check a codec against golden-format vector files", runCodecCheck)
	register("codec encode", "encode packets given as JSON lines (golden format)", runCodecEncode)
}

func codecUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: wasmchannel codec check [--codec go|wasm|PATH.wasm] [--max-payload BYTES] FILE.jsonl...")
	fmt.Fprintln(w, "       wasmchannel codec encode [--codec go|wasm|PATH.wasm] < IN.jsonl > OUT.jsonl")
}

// runCodecCheck checks golden-format files. Exit 0 when every vector passes,
// 1 when any fails, 2 for bad usage, a codec that cannot be loaded, or a
// file that cannot be read or parsed.
func runCodecCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("codec check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	spec := fs.String("codec", "wasm", "codec to check: "+codecSpecHelp)
	maxPayload := fs.Int("max-payload", corpus.DefaultMaxPayload, "largest decompressed payload accepted, in bytes")
	fs.Usage = func() { codecUsage(stderr); fs.PrintDefaults() }
	files, err := parseInterspersed(fs, args)
	if err == flag.ErrHelp {
		return 0
	}
	if err != nil {
		return 2
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "wasmchannel codec check: no vector files given")
		fs.Usage()
		return 2
	}
	if *maxPayload < 0 {
		fmt.Fprintf(stderr, "wasmchannel codec check: --max-payload %d is negative\n", *maxPayload)
		return 2
	}
	ctx := context.Background()
	inst, done, err := openCodec(ctx, *spec)
	if err != nil {
		fmt.Fprintf(stderr, "wasmchannel codec check: %v\n", err)
		return 2
	}
	defer done()
	_, failed, err := corpus.RunCheck(stdout, inst, files, *maxPayload)
	if err != nil {
		fmt.Fprintf(stderr, "wasmchannel codec check: %v\n", err)
		return 2
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// runCodecEncode encodes JSONL packet fields from stdin to stdout. Exit 1
// when a line cannot be parsed or encoded (the message names the line), 2 for
// bad usage or a codec that cannot be loaded.
func runCodecEncode(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("codec encode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	spec := fs.String("codec", "wasm", "codec to encode with: "+codecSpecHelp)
	fs.Usage = func() { codecUsage(stderr); fs.PrintDefaults() }
	rest, err := parseInterspersed(fs, args)
	if err == flag.ErrHelp {
		return 0
	}
	if err != nil {
		return 2
	}
	if len(rest) > 0 {
		fmt.Fprintf(stderr, "wasmchannel codec encode: unexpected argument %q (input is read from stdin)\n", rest[0])
		return 2
	}
	ctx := context.Background()
	inst, done, err := openCodec(ctx, *spec)
	if err != nil {
		fmt.Fprintf(stderr, "wasmchannel codec encode: %v\n", err)
		return 2
	}
	defer done()
	if err := corpus.RunEncode(stdin, stdout, inst); err != nil {
		fmt.Fprintf(stderr, "wasmchannel codec encode: %v\n", err)
		return 1
	}
	return 0
}
