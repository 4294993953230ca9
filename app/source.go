package app

import (
	"context"
	"fmt"
	"strings"

	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/host"
	"github.com/wasmchannel/wasmchannel/wasm"
)

// CodecSpecHelp describes the values OpenSource accepts, for flag help.
const CodecSpecHelp = "go (pure Go), wasm (the embedded Rust module) or PATH.wasm (a module implementing wasm/ABI.md)"

// OpenSource opens the codec named by spec: "go" (the pure-Go codec),
// "wasm" (the embedded Rust module) or a path ending in .wasm, which
// host.LoadFile vets (exports, ABI version, conformance corpus) before it is
// used. The source is named after spec; the returned func closes it.
func OpenSource(ctx context.Context, spec string, cfg host.Config) (codec.Source, func(context.Context) error, error) {
	switch {
	case spec == "go":
		return codec.NewGoSource(), func(context.Context) error { return nil }, nil
	case spec == "wasm":
		cfg.Name = "wasm"
		p, err := host.NewPool(ctx, wasm.Module, cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("embedded codec: %w", err)
		}
		return p, p.Close, nil
	case strings.HasSuffix(spec, ".wasm"):
		cfg.Name = spec
		p, err := host.LoadFile(ctx, spec, cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("codec %s: %w", spec, err)
		}
		return p, p.Close, nil
	}
	return nil, nil, fmt.Errorf("unknown codec %q: want %s", spec, CodecSpecHelp)
}
