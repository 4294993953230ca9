package host

import (
	"context"
	"sync"
	"testing"

	"github.com/wasmchannel/wasmchannel/corpus"
	"github.com/wasmchannel/wasmchannel/wasm"
)

// embedded is the module under test: the Rust codec the binary embeds.
func embedded(tb testing.TB) []byte {
	tb.Helper()
	return embeddedModule()
}

func embeddedModule() []byte { return wasm.Module }

// newPool opens a pool of the embedded module, closed when the test ends.
func newPool(tb testing.TB, cfg Config) *Pool {
	tb.Helper()
	p, err := NewPool(context.Background(), embedded(tb), cfg)
	if err != nil {
		tb.Fatalf("NewPool: %v", err)
	}
	tb.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

// lease leases from p, released when the test ends.
func lease(tb testing.TB, p *Pool) *Lease {
	tb.Helper()
	l, err := p.Lease(context.Background())
	if err != nil {
		tb.Fatalf("Lease: %v", err)
	}
	tb.Cleanup(l.Release)
	return l
}

var goldenVectors = sync.OnceValues(func() ([]corpus.Vector, error) {
	var all []corpus.Vector
	for _, f := range []string{"../testdata/golden/packets.jsonl", "../testdata/golden/malformed.jsonl"} {
		vs, err := corpus.LoadFile(f)
		if err != nil {
			return nil, err
		}
		all = append(all, vs...)
	}
	return all, nil
})

// golden returns the golden vectors, valid ones first.
func golden(tb testing.TB) []corpus.Vector {
	tb.Helper()
	vs, err := goldenVectors()
	if err != nil {
		tb.Fatalf("load golden vectors: %v", err)
	}
	return vs
}
