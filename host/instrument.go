package host

import (
	"errors"
	"fmt"
)

// interruptExport names the global instrument adds: the host sets it to
// non-zero to stop a call that passed its deadline.
const interruptExport = "__wc_interrupt"

// checkInterval is how many function entries and loop iterations run
// between two returns to Go: about 10-100 µs of the tightest loops, so a
// garbage collection waits at most that long for a codec call, while the
// return (about 50 ns) costs well under 1% of the call.
const checkInterval = 1 << 14

// instrument returns a copy of a module that the pool's watchdog can stop:
// two globals are added, a countdown and an exported stop flag
// (interruptExport), and every loop header and the entry of every function
// that makes calls counts down;
// every checkInterval steps it runs `memory.grow 0` and traps if the stop
// flag is set.
//
// Both halves are needed. Compiled wasm is not Go code: the Go scheduler
// cannot preempt a goroutine inside it, so a module that loops without ever
// returning to Go would block every stop-the-world (garbage collection) and,
// with it, the watchdog that should stop it. `memory.grow` is carried out by
// wazero in Go, which gives the scheduler its preemption point; the stop flag
// then ends the call.
//
// wazero's own mechanism (RuntimeConfig.WithCloseOnContextDone) returns to Go
// at every loop iteration and starts a goroutine per call, which made the
// embedded codec about seven times slower (BenchmarkDeadlineMechanism); the
// countdown costs a few instructions per iteration.
//
// Only what the ABI needs is supported: a module with its own memory and the
// core features wazero enables by default (WebAssembly 2.0: bulk memory,
// reference types, SIMD, multi-value, sign extension, non-trapping
// conversions); anything else is refused as ErrBadModule. Imported
// functions and globals are allowed (a wasm-bindgen module imports its glue,
// see bindgen.go). A module that imports its memory or has none, or that is
// not a module at all, is returned unchanged, for CompileModule or
// checkModule to refuse with a precise message.
func instrument(module []byte) ([]byte, error) {
	m, ok, err := parseModule(module)
	if err != nil {
		return nil, err
	}
	if !ok || m.importsMemory || m.section(5) == nil {
		return module, nil // for CompileModule or checkModule to refuse
	}
	sections := m.sections

	// The new globals' indexes follow the imported and the defined globals.
	stop := m.importedGlobals
	haveGlobal, haveExport := false, false
	newGlobals := []byte{
		0x7f, 0x01, 0x41, 0x00, 0x0b, // stop: mut i32 = 0
		0x7f, 0x01, 0x41, 0x01, 0x0b, // countdown: mut i32 = 1, so the first check returns to Go
	}
	for i, s := range sections {
		if s.id != 6 {
			continue
		}
		c, err := appendToVector(s.content, newGlobals, 2)
		if err != nil {
			return nil, fmt.Errorf("global section: %w", err)
		}
		stop += leadingCount(s.content)
		sections[i].content = c
		haveGlobal = true
	}
	for i, s := range sections {
		switch s.id {
		case 7:
			c, err := appendToVector(s.content, exportGlobal(stop), 1)
			if err != nil {
				return nil, fmt.Errorf("export section: %w", err)
			}
			sections[i].content = c
			haveExport = true
		case 10:
			c, err := instrumentCode(s.content, stop, stop+1)
			if err != nil {
				return nil, fmt.Errorf("code section: %w", err)
			}
			sections[i].content = c
		}
	}
	if !haveGlobal {
		sections = insertSection(sections, 6, append([]byte{2}, newGlobals...))
	}
	if !haveExport {
		sections = insertSection(sections, 7, append([]byte{1}, exportGlobal(stop)...))
	}

	out := append(make([]byte, 0, len(module)+len(module)/8+64), module[:8]...)
	for _, s := range sections {
		out = append(out, s.id)
		out = appendU32(out, uint32(len(s.content)))
		out = append(out, s.content...)
	}
	return out, nil
}

// sectionRank orders the known sections as the binary format requires.
var sectionRank = map[byte]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}

// insertSection inserts a section before the first that must follow it.
func insertSection(sections []wasmSection, id byte, content []byte) []wasmSection {
	at := len(sections)
	for i, s := range sections {
		if s.id != 0 && sectionRank[s.id] > sectionRank[id] {
			at = i
			break
		}
	}
	return append(sections[:at], append([]wasmSection{{id, content}}, sections[at:]...)...)
}

// wasmSection is one section of a module binary.
type wasmSection struct {
	id      byte
	content []byte
}

func exportGlobal(idx uint32) []byte {
	b := appendU32(nil, uint32(len(interruptExport)))
	b = append(b, interruptExport...)
	b = append(b, 0x03) // global
	return appendU32(b, idx)
}

// leadingCount is the element count of a vector-shaped section.
func leadingCount(content []byte) uint32 {
	r := &reader{b: content}
	return r.u32()
}

// appendToVector adds count encoded elements to a vector-shaped section.
func appendToVector(content, elems []byte, count uint32) ([]byte, error) {
	r := &reader{b: content}
	n := r.u32()
	if r.err != nil {
		return nil, r.err
	}
	out := appendU32(nil, n+count)
	out = append(out, content[r.off:]...)
	return append(out, elems...), nil
}

// check is the instrumentation, which leaves the operand stack as it found
// it:
//
//	global.get $count  i32.const 1  i32.sub  global.set $count
//	global.get $count  i32.eqz
//	if
//	  i32.const checkInterval  global.set $count
//	  i32.const 0  memory.grow 0  drop   ;; back in Go: a preemption point
//	  global.get $stop  if  unreachable  end
//	end
func check(stop, count uint32) []byte {
	get := func(b []byte, g uint32) []byte { return appendU32(append(b, 0x23), g) }
	set := func(b []byte, g uint32) []byte { return appendU32(append(b, 0x24), g) }
	b := get(nil, count)
	b = append(b, 0x41, 0x01, 0x6b)
	b = set(b, count)
	b = get(b, count)
	b = append(b, 0x45, 0x04, 0x40)
	b = append(append(b, 0x41), sleb32(checkInterval)...)
	b = set(b, count)
	b = append(b, 0x41, 0x00, 0x40, 0x00, 0x1a)
	b = get(b, stop)
	return append(b, 0x04, 0x40, 0x00, 0x0b, 0x0b)
}

func sleb32(v int32) []byte {
	var out []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(out, c)
		}
		out = append(out, c|0x80)
	}
}

// instrumentCode adds the checks to every function body (instrumentBody).
func instrumentCode(content []byte, stop, count uint32) ([]byte, error) {
	chk := check(stop, count)
	r := &reader{b: content}
	n := r.u32()
	out := appendU32(make([]byte, 0, len(content)+len(content)/8), n)
	var body []byte
	for i := uint32(0); i < n; i++ {
		size := r.u32()
		code := r.bytes(int(size))
		if r.err != nil {
			return nil, fmt.Errorf("function %d: %w", i, r.err)
		}
		var err error
		body, err = instrumentBody(body[:0], code, chk)
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", i, err)
		}
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	if r.off != len(content) {
		return nil, errors.New("bytes after the last function body")
	}
	return out, nil
}

// instrumentBody checks after every loop instruction and, when the function
// makes calls (so it may recurse), at its entry. A function with neither
// loops nor calls runs in bounded time and gets no check, which spares the
// small leaf helpers a compiler calls in hot loops.
func instrumentBody(out, code, chk []byte) ([]byte, error) {
	r := &reader{b: code}
	groups := r.u32()
	for i := uint32(0); i < groups; i++ {
		r.u32()  // count
		r.byte() // value type
	}
	if r.err != nil {
		return nil, fmt.Errorf("locals: %w", r.err)
	}
	out = append(out, code[:r.off]...)
	entry := len(out)
	out = append(out, chk...)
	calls := false
	for r.off < len(code) {
		start := r.off
		op := r.byte()
		if err := skipImmediates(r, op); err != nil {
			return nil, fmt.Errorf("opcode 0x%02x at %d: %w", op, start, err)
		}
		if r.err != nil {
			return nil, fmt.Errorf("opcode 0x%02x at %d: %w", op, start, r.err)
		}
		out = append(out, code[start:r.off]...)
		switch op {
		case 0x03: // loop
			out = append(out, chk...)
		case 0x10, 0x11: // call, call_indirect
			calls = true
		}
	}
	if !calls {
		out = append(out[:entry], out[entry+len(chk):]...)
	}
	return out, nil
}

// skipImmediates reads the immediates of op (WebAssembly 2.0 § 5.4).
func skipImmediates(r *reader, op byte) error {
	switch {
	case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0b || op == 0x0f || op == 0x1a || op == 0x1b ||
		op == 0xd1 || (op >= 0x45 && op <= 0xc4):
		// no immediates
	case op >= 0x02 && op <= 0x04: // block, loop, if: block type
		r.s33()
	case op == 0x0c || op == 0x0d || op == 0x10 || op == 0xd2 || (op >= 0x20 && op <= 0x26):
		r.u32() // label, function, local, global or table index
	case op == 0x0e: // br_table
		n := r.u32()
		for i := uint32(0); i <= n && r.err == nil; i++ {
			r.u32()
		}
	case op == 0x11: // call_indirect: type, table
		r.u32()
		r.u32()
	case op == 0x1c: // select t*
		n := r.u32()
		r.bytes(int(n))
	case op >= 0x28 && op <= 0x3e: // loads and stores
		r.memarg()
	case op == 0x3f || op == 0x40: // memory.size, memory.grow
		r.u32()
	case op == 0x41:
		r.s33()
	case op == 0x42:
		r.s64()
	case op == 0x43:
		r.bytes(4)
	case op == 0x44:
		r.bytes(8)
	case op == 0xd0: // ref.null t
		r.byte()
	case op == 0xfc:
		return skipFC(r, r.u32())
	case op == 0xfd:
		return skipSIMD(r, r.u32())
	default:
		return errors.New("unsupported instruction")
	}
	return nil
}

func skipFC(r *reader, sub uint32) error {
	switch {
	case sub <= 7: // saturating truncations
	case sub == 8: // memory.init data, memory
		r.u32()
		r.u32()
	case sub == 9 || sub == 11 || sub == 13 || (sub >= 15 && sub <= 17):
		r.u32() // data.drop, memory.fill, elem.drop, table.grow/size/fill
	case sub == 10 || sub == 12 || sub == 14: // memory.copy, table.init, table.copy
		r.u32()
		r.u32()
	default:
		return fmt.Errorf("unsupported instruction 0xfc %d", sub)
	}
	return nil
}

func skipSIMD(r *reader, sub uint32) error {
	switch {
	case sub <= 11 || sub == 92 || sub == 93: // loads and stores
		r.memarg()
	case sub == 12 || sub == 13: // v128.const, i8x16.shuffle
		r.bytes(16)
	case sub >= 21 && sub <= 34: // extract and replace lane
		r.byte()
	case sub >= 84 && sub <= 91: // load and store lane
		r.memarg()
		r.byte()
	case sub <= 255:
		// other SIMD instructions have no immediates
	default:
		return fmt.Errorf("unsupported instruction 0xfd %d", sub)
	}
	return nil
}

// reader decodes the binary format; the first error sticks.
type reader struct {
	b   []byte
	off int
	err error
}

var errShort = errors.New("unexpected end")

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.err = errShort
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.err = errShort
		return nil
	}
	b := r.b[r.off : r.off+n]
	r.off += n
	return b
}

// leb reads an LEB128 number of at most maxBytes bytes.
func (r *reader) leb(maxBytes int) {
	for i := 0; i < maxBytes; i++ {
		if r.byte()&0x80 == 0 {
			return
		}
	}
	if r.err == nil {
		r.err = errors.New("LEB128 number too long")
	}
}

func (r *reader) u32() uint32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	if r.err == nil {
		r.err = errors.New("LEB128 number too long")
	}
	return 0
}

func (r *reader) s33() { r.leb(5) }
func (r *reader) s64() { r.leb(10) }

// memarg is align then offset; bit 6 of align announces a memory index
// (multi-memory).
func (r *reader) memarg() {
	if r.u32()&0x40 != 0 {
		r.u32()
	}
	r.leb(10) // offset, u64 under memory64
}

func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
