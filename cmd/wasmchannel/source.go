package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/wasmchannel/wasmchannel/app"
	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/host"
)

// codecSpecHelp describes the values of --codec and --codecs.
const codecSpecHelp = app.CodecSpecHelp

// openCodec opens the codec named by spec (see app.OpenSource) with the
// one-shot tools' pool configuration and leases its one instance. done
// releases the instance and closes the source.
func openCodec(ctx context.Context, spec string) (inst codec.Instance, done func(), err error) {
	src, closeSrc, err := app.OpenSource(ctx, spec, toolConfig())
	if err != nil {
		return nil, nil, err
	}
	inst, err = src.Acquire(ctx)
	if err != nil {
		_ = closeSrc(context.Background())
		return nil, nil, fmt.Errorf("lease %s: %w", spec, err)
	}
	return inst, func() {
		inst.Release()
		_ = closeSrc(context.Background())
	}, nil
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
