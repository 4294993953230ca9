package main

import (
	"context"
	"flag"

	"github.com/wasmchannel/wasmchannel/app"
	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/host"
)

// codecSpecHelp describes the values of --codec and --codecs.
const codecSpecHelp = app.CodecSpecHelp

// openSource opens a codec for the one-shot tools; see app.OpenSource.
func openSource(ctx context.Context, spec string, cfg host.Config) (codec.Source, func(), error) {
	src, closeSrc, err := app.OpenSource(ctx, spec, cfg)
	if err != nil {
		return nil, nil, err
	}
	return src, func() { _ = closeSrc(context.Background()) }, nil
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
