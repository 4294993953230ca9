package host

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestNewPoolRefusesModules(t *testing.T) {
	ok := abiFuncs(i64c(1))
	withSig := func(name string, params, results []byte) []wfunc {
		fs := abiFuncs(i64c(1))
		for i := range fs {
			if fs[i].export == name {
				fs[i].params, fs[i].results = params, results
				if len(results) == 0 {
					fs[i].body = nil
				} else if results[0] == wI64 {
					fs[i].body = i64c(1)
				} else {
					fs[i].body = i32c(1)
				}
			}
		}
		return fs
	}
	without := func(name string) []wfunc {
		var fs []wfunc
		for _, f := range abiFuncs(i64c(1)) {
			if f.export != name {
				fs = append(fs, f)
			}
		}
		return fs
	}
	version := func(v int32) []wfunc {
		fs := abiFuncs(i64c(1))
		fs[0].body = i32c(v)
		return fs
	}
	tests := []struct {
		name string
		mod  []byte
		want string
	}{
		{"not wasm", []byte("\x00asm garbage"), "host: compile: "},
		{"import", wmodule{importFunc: true, funcs: ok}.bytes(), "host: module imports 1 functions (first env.f), want none"},
		{"no memory", wmodule{noMemory: true, funcs: ok}.bytes(), `host: module lacks export "memory"`},
		{"no decode", wmodule{funcs: without("wc_decode")}.bytes(), `host: module lacks export "wc_decode"`},
		{"no free", wmodule{funcs: without("wc_free")}.bytes(), `host: module lacks export "wc_free"`},
		{"encode returns i32", wmodule{funcs: withSig("wc_encode", []byte{wI32, wI32, wI32, wI32, wI32, wI32, wI32, wI32}, []byte{wI32})}.bytes(),
			`host: export "wc_encode" has signature (i32, i32, i32, i32, i32, i32, i32, i32) -> i32, want (i32, i32, i32, i32, i32, i32, i32, i32) -> i64`},
		{"decode two params", wmodule{funcs: withSig("wc_decode", []byte{wI32, wI32}, []byte{wI64})}.bytes(),
			`host: export "wc_decode" has signature (i32, i32) -> i64, want (i32, i32, i32) -> i64`},
		{"free returns", wmodule{funcs: withSig("wc_free", []byte{wI32, wI32}, []byte{wI32})}.bytes(),
			`host: export "wc_free" has signature (i32, i32) -> i32, want (i32, i32) -> ()`},
		{"version 2", wmodule{funcs: version(2)}.bytes(), "host: module ABI version 2, want 1"},
		{"version 0", wmodule{funcs: version(0)}.bytes(), "host: module ABI version 0, want 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPool(context.Background(), tc.mod, Config{})
			if err == nil {
				p.Close(context.Background())
				t.Fatal("NewPool accepted the module")
			}
			if !errors.Is(err, ErrBadModule) {
				t.Errorf("error %v does not wrap ErrBadModule", err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %q, want prefix %q", err, tc.want)
			}
		})
	}
}

func TestNewPoolAcceptsMinimalModule(t *testing.T) {
	p, err := NewPool(context.Background(), wmodule{funcs: abiFuncs(i64c(1))}.bytes(), Config{Name: "minimal"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	if p.Name() != "minimal" {
		t.Errorf("Name %q", p.Name())
	}
}

func TestConfigErrors(t *testing.T) {
	mod := wmodule{funcs: abiFuncs(i64c(1))}.bytes()
	for _, cfg := range []Config{
		{MinWarm: 5, MaxInstances: 4},
		{MaxInstances: -1},
		{MemoryLimitPages: 65537},
	} {
		if p, err := NewPool(context.Background(), mod, cfg); err == nil {
			p.Close(context.Background())
			t.Errorf("NewPool accepted %+v", cfg)
		}
	}
}
