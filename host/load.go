package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/wasmchannel/wasmchannel/corpus"
)

// maxConformanceTimeouts stops the conformance run of a module that keeps
// hitting the call deadline, so that refusing it takes seconds, not one
// CallTimeout per vector.
const maxConformanceTimeouts = 3

// LoadFile loads a swapped-in codec module from path (`--codec PATH.wasm`):
// NewPool's export and version checks, then the embedded conformance corpus
// (corpus.Conformance) through one leased instance. A module that fails any
// vector is refused with ErrBadModule and the list of failures.
func LoadFile(ctx context.Context, path string, cfg Config) (*Pool, error) {
	module, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("host: read module: %w", err)
	}
	p, err := NewPool(ctx, module, cfg)
	if err != nil {
		return nil, err
	}
	if err := conform(ctx, p); err != nil {
		_ = p.Close(ctx)
		return nil, err
	}
	return p, nil
}

// conform runs the conformance corpus through a lease of p.
func conform(ctx context.Context, p *Pool) error {
	l, err := p.Lease(ctx)
	if err != nil {
		return err
	}
	defer l.Release()
	vectors := corpus.Conformance()
	var failures []string
	timeouts, run := 0, 0
	for _, v := range vectors {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("host: conformance: %w", err)
		}
		run++
		cerr := corpus.Check(l, v, corpus.DefaultMaxPayload)
		if cerr == nil {
			continue
		}
		failures = append(failures, fmt.Sprintf("%s: %v", v.Name, cerr))
		if errors.Is(cerr, ErrTimeout) {
			if timeouts++; timeouts == maxConformanceTimeouts {
				break
			}
		}
	}
	if len(failures) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "module failed %d of %d conformance vectors", len(failures), len(vectors))
	if run < len(vectors) {
		fmt.Fprintf(&b, " (stopped after %d timeouts, %d not run)", timeouts, len(vectors)-run)
	}
	b.WriteString(":")
	for _, f := range failures {
		b.WriteString("\n  ")
		b.WriteString(f)
	}
	return badModule(b.String())
}
