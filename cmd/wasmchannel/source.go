package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/host"
	"github.com/wasmchannel/wasmchannel/wasm"
)

// codecSpecHelp describes the values of --codec and --codecs.
const codecSpecHelp = "go (pure Go), wasm (the embedded Rust module) or PATH.wasm (a module implementing wasm/ABI.md)"

// openSource opens the codec named by spec: "go", "wasm" (the embedded
// module) or a path ending in .wasm, which host.LoadFile vets (exports, ABI
// version, conformance corpus) before it is used. The returned func releases
// the source's resources.
func openSource(ctx context.Context, spec string, cfg host.Config) (codec.Source, func(), error) {
	switch {
	case spec == "go":
		return codec.NewGoSource(), func() {}, nil
	case spec == "wasm":
		cfg.Name = "wasm"
		p, err := host.NewPool(ctx, wasm.Module, cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("embedded codec: %w", err)
		}
		return p, func() { _ = p.Close(context.Background()) }, nil
	case strings.HasSuffix(spec, ".wasm"):
		cfg.Name = spec
		p, err := host.LoadFile(ctx, spec, cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("codec %s: %w", spec, err)
		}
		return p, func() { _ = p.Close(context.Background()) }, nil
	}
	return nil, nil, fmt.Errorf("unknown codec %q: want %s", spec, codecSpecHelp)
}

// toolConfig is the pool configuration of the one-shot tools (codec check,
// codec encode, bench codec): they use one instance at a time.
func toolConfig() host.Config {
	cfg := host.DefaultConfig()
	cfg.MinWarm = 1
	return cfg
}

// parseInterspersed parses flags that may come before, between or after the
// positional arguments ("codec check FILE --codec wasm"), and returns the
// positional ones. "--" ends flag parsing.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
