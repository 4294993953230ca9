package app

import (
	"context"
	"fmt"
	"strings"

	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/host"
	"github.com/wasmchannel/wasmchannel/wasm"
)

// OpenSource opens the codec named by spec: "go" (the pure-Go codec),
// "wasm" (the embedded Rust module) or a path to a .wasm file, which must
// pass the conformance corpus before it is used. The returned func closes it.
func OpenSource(ctx context.Context, spec string, cfg host.Config) (codec.Source, func(context.Context) error, error) {
	switch {
	case spec == "go":
		return codec.NewGoSource(), func(context.Context) error { return nil }, nil
	case spec == "wasm" || spec == "":
		if cfg.Name == "" {
			cfg.Name = "wasm"
		}
		p, err := host.NewPool(ctx, wasm.Module, cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("load embedded codec: %w", err)
		}
		return p, p.Close, nil
	case strings.HasSuffix(spec, ".wasm"):
		if cfg.Name == "" {
			cfg.Name = spec
		}
		p, err := host.LoadFile(ctx, spec, cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("load codec %s: %w", spec, err)
		}
		return p, p.Close, nil
	}
	return nil, nil, fmt.Errorf("unknown codec %q: want go, wasm or a path ending in .wasm", spec)
}
