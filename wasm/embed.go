// Package wasm carries the embedded packet codec: the Rust crate in this
// directory, compiled to wasm32 by `make wasm` and committed as codec.wasm.
//
// The module implements the C ABI of ABI.md and needs no imports. Only the
// host package instantiates it; everything else reaches the codec through
// codec.Source. Rebuild it with `make wasm` after changing the crate, and
// `make wasm-check` confirms the committed bytes are what the sources build.
package wasm

import _ "embed"

// Module is the compiled codec (codec.wasm). It is shared, read-only data:
// callers must not modify it.
//
//go:embed codec.wasm
var Module []byte
