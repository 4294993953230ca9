package host

// A minimal WebAssembly binary writer for tests: enough to build modules with
// one defect each (an import, a mistyped export, a crafted decode result)
// from Go source, so no test fixture is a binary without its source.

type wfunc struct {
	export  string
	params  []byte // value types: 0x7f i32, 0x7e i64
	results []byte
	body    []byte // instructions, without locals and the final end
	locals  []byte // one local of each listed value type
}

type wmodule struct {
	importFunc bool    // import env.f: [] -> [] (index 0)
	noMemory   bool    // omit the exported memory
	funcs      []wfunc // defined functions, exported under their names
	data       []byte  // active data segment at offset dataAt
	dataAt     uint32
}

const (
	wI32 = 0x7f
	wI64 = 0x7e
)

func uleb(v uint64) []byte {
	var out []byte
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			out = append(out, b|0x80)
			continue
		}
		return append(out, b)
	}
}

func sleb(v int64) []byte {
	var out []byte
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && b&0x40 == 0) || (v == -1 && b&0x40 != 0) {
			return append(out, b)
		}
		out = append(out, b|0x80)
	}
}

func wname(s string) []byte { return append(uleb(uint64(len(s))), s...) }

func wvec(items ...[]byte) []byte {
	out := uleb(uint64(len(items)))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

func wsection(id byte, content []byte) []byte {
	return append(append([]byte{id}, uleb(uint64(len(content)))...), content...)
}

// i32c and i64c are i32.const and i64.const instructions.
func i32c(v int32) []byte { return append([]byte{0x41}, sleb(int64(v))...) }
func i64c(v int64) []byte { return append([]byte{0x42}, sleb(v)...) }

func (m wmodule) bytes() []byte {
	out := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
	var types [][]byte
	if m.importFunc {
		types = append(types, []byte{0x60, 0x00, 0x00})
	}
	for _, f := range m.funcs {
		t := append([]byte{0x60}, wvec(split(f.params)...)...)
		types = append(types, append(t, wvec(split(f.results)...)...))
	}
	out = append(out, wsection(1, wvec(types...))...)
	if m.importFunc {
		out = append(out, wsection(2, wvec(append(append(wname("env"), wname("f")...), 0x00, 0x00)))...)
	}
	base := 0
	if m.importFunc {
		base = 1
	}
	var fidx [][]byte
	for i := range m.funcs {
		fidx = append(fidx, uleb(uint64(base+i)))
	}
	out = append(out, wsection(3, wvec(fidx...))...)
	if !m.noMemory {
		out = append(out, wsection(5, wvec([]byte{0x00, 0x01}))...) // min 1 page, no max
	}
	var exports [][]byte
	if !m.noMemory {
		exports = append(exports, append(wname("memory"), 0x02, 0x00))
	}
	for i, f := range m.funcs {
		exports = append(exports, append(append(wname(f.export), 0x00), uleb(uint64(base+i))...))
	}
	out = append(out, wsection(7, wvec(exports...))...)
	var bodies [][]byte
	for _, f := range m.funcs {
		var b []byte
		if len(f.locals) == 0 {
			b = []byte{0x00}
		} else {
			b = uleb(uint64(len(f.locals)))
			for _, t := range f.locals {
				b = append(b, 0x01, t)
			}
		}
		b = append(b, f.body...)
		b = append(b, 0x0b)
		bodies = append(bodies, append(uleb(uint64(len(b))), b...))
	}
	out = append(out, wsection(10, wvec(bodies...))...)
	if m.data != nil {
		seg := append([]byte{0x00}, i32c(int32(m.dataAt))...)
		seg = append(seg, 0x0b)
		seg = append(seg, wname(string(m.data))...)
		out = append(out, wsection(11, wvec(seg))...)
	}
	return out
}

func split(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i := range b {
		out[i] = b[i : i+1]
	}
	return out
}

// abiFuncs returns working-enough ABI exports: version 1, a fixed allocator
// at 1024 (free is a no-op), an encode that fails with invalid_enum, and the
// given decode body.
func abiFuncs(decodeBody []byte) []wfunc {
	return []wfunc{
		{"wc_abi_version", nil, []byte{wI32}, i32c(1), nil},
		{"wc_alloc", []byte{wI32}, []byte{wI32}, i32c(1024), nil},
		{"wc_free", []byte{wI32, wI32}, nil, nil, nil},
		{"wc_encode", []byte{wI32, wI32, wI32, wI32, wI32, wI32, wI32, wI32}, []byte{wI64}, i64c(2), nil},
		{"wc_decode", []byte{wI32, wI32, wI32}, []byte{wI64}, decodeBody, nil},
	}
}
