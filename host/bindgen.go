package host

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmchannel/wasmchannel/codec"
)

// The second ABI the host speaks: the upstream codec as wasm-bindgen built
// it for JavaScript (wasm/ABI.md § The original build). Its exports take and
// return JavaScript objects as externrefs and call nine glue functions for
// them; this file plays the glue's part in Go. An externref is a handle
// into a per-instance table of jsValues, which stand in for the few objects
// the glue ever makes: the memory, its buffer, Uint8Array views and copies,
// and strings.

// bindgenImportModule is the module name the glue's imports come from.
const bindgenImportModule = "./wasmchannel_bg.js"

// bindgenTable is the externref table wasm-bindgen exports.
const bindgenTable = "__wbindgen_export_0"

// ErrThrown: a wasm-bindgen module called __wbindgen_throw (a Rust panic
// or a refused argument). Like a trap it ends the call without unwinding
// the module's shadow stack, so the instance is discarded.
var ErrThrown = errors.New("host: module threw")

const externref = api.ValueTypeExternref

// Glue imports, by role. A wasm-bindgen import name is the JavaScript name,
// with a hash suffix for imported methods (__wbg_length_a446193dc22c12f8).
const (
	gInitTable = iota
	gMemory
	gThrow
	gStringNew
	gLength
	gSet
	gNew
	gNewView
	gBuffer
)

var glueImports = []struct {
	name    string
	hashed  bool
	params  []api.ValueType
	results []api.ValueType
}{
	gInitTable: {"__wbindgen_init_externref_table", false, nil, nil},
	gMemory:    {"__wbindgen_memory", false, nil, []api.ValueType{externref}},
	gThrow:     {"__wbindgen_throw", false, []api.ValueType{i32, i32}, nil},
	gStringNew: {"__wbindgen_string_new", false, []api.ValueType{i32, i32}, []api.ValueType{externref}},
	gLength:    {"__wbg_length", true, []api.ValueType{externref}, []api.ValueType{i32}},
	gSet:       {"__wbg_set", true, []api.ValueType{externref, externref, i32}, nil},
	gNew:       {"__wbg_new", true, []api.ValueType{externref}, []api.ValueType{externref}},
	gNewView:   {"__wbg_newwithbyteoffsetandlength", true, []api.ValueType{externref, i32, i32}, []api.ValueType{externref}},
	gBuffer:    {"__wbg_buffer", true, []api.ValueType{externref}, []api.ValueType{externref}},
}

// glueRole maps an import name to its role, or -1.
func glueRole(name string) int {
	for role, g := range glueImports {
		if !g.hashed {
			if name == g.name {
				return role
			}
			continue
		}
		hash, ok := strings.CutPrefix(name, g.name+"_")
		if ok && len(hash) == 16 && strings.Trim(hash, "0123456789abcdef") == "" {
			return role
		}
	}
	return -1
}

// Exports of a wasm-bindgen module the adapter calls, by index into
// bindgen.fns; the last three are added at load time (addTableAccess).
const (
	bStart = iota
	bMalloc
	bFree
	bTableDealloc
	bPacketFree
	bNew
	bKind
	bMessageID
	bUserID
	bReaction
	bPayload
	bSerialize
	bDeserialize
	bCRC32
	bTableGet
	bTableSet
	bTableGrow
	bFnCount
)

var bindgenExports = []abiExport{
	bStart:        {"__wbindgen_start", nil, nil},
	bMalloc:       {"__wbindgen_malloc", []api.ValueType{i32, i32}, []api.ValueType{i32}},
	bFree:         {"__wbindgen_free", []api.ValueType{i32, i32, i32}, nil},
	bTableDealloc: {"__externref_table_dealloc", []api.ValueType{i32}, nil},
	bPacketFree:   {"__wbg_wasmpacket_free", []api.ValueType{i32, i32}, nil},
	bNew:          {"wasmpacket_new", []api.ValueType{i32, i32, i32, i32, i32, i32, externref}, []api.ValueType{i32}},
	bKind:         {"wasmpacket_kind", []api.ValueType{i32}, []api.ValueType{i32}},
	bMessageID:    {"wasmpacket_message_id", []api.ValueType{i32}, []api.ValueType{i32, i32}},
	bUserID:       {"wasmpacket_user_id", []api.ValueType{i32}, []api.ValueType{i32, i32}},
	bReaction:     {"wasmpacket_reaction_kind", []api.ValueType{i32}, []api.ValueType{i32}},
	bPayload:      {"wasmpacket_payload", []api.ValueType{i32}, []api.ValueType{externref}},
	bSerialize:    {"wasmpacket_serialize", []api.ValueType{i32}, []api.ValueType{i32, i32, i32}},
	bDeserialize:  {"wasmpacket_deserialize", []api.ValueType{externref}, []api.ValueType{i32, i32, i32}},
	bCRC32:        {"calculate_crc32", []api.ValueType{i32, i32}, []api.ValueType{i32}},
	bTableGet:     {tableGetExport, []api.ValueType{i32}, []api.ValueType{externref}},
	bTableSet:     {tableSetExport, []api.ValueType{i32, externref}, nil},
	bTableGrow:    {tableGrowExport, []api.ValueType{i32}, []api.ValueType{i32}},
}

// reactionAbsent is how the glue passes and reads a missing ReactionKind.
const reactionAbsent = 5

// isBindgen reports whether a module is a wasm-bindgen build of the codec:
// it imports from the glue module. The exact imports and exports are
// checked after compiling (checkBindgen).
func isBindgen(module []byte) bool {
	m, ok, err := parseModule(module)
	return err == nil && ok && m.importModules[bindgenImportModule]
}

// checkBindgen verifies a compiled wasm-bindgen module: every import is a
// glue function this file provides, with its signature; the memory and
// every export the adapter calls are there, with theirs.
func checkBindgen(cm wazero.CompiledModule) error {
	for _, def := range cm.ImportedFunctions() {
		mod, name, _ := def.Import()
		role := -1
		if mod == bindgenImportModule {
			role = glueRole(name)
		}
		if role < 0 {
			return badModule(fmt.Sprintf("wasm-bindgen module imports %s.%s, which the host does not provide", mod, name))
		}
		g := glueImports[role]
		if !sameTypes(def.ParamTypes(), g.params) || !sameTypes(def.ResultTypes(), g.results) {
			return badModule(fmt.Sprintf("import %s.%s has signature %s, want %s", mod, name,
				signature(def.ParamTypes(), def.ResultTypes()), signature(g.params, g.results)))
		}
	}
	if len(cm.ImportedMemories()) > 0 {
		return badModule("module imports its memory, want none")
	}
	if _, ok := cm.ExportedMemories()["memory"]; !ok {
		return badModule(`module lacks export "memory"`)
	}
	return checkExports(cm, bindgenExports)
}

// jsKind is the kind of object a handle stands for.
type jsKind uint8

const (
	jsUndefined jsKind = iota + 1
	jsTrue
	jsFalse
	jsMemory
	jsBuffer // memory.buffer
	jsView   // a Uint8Array over linear memory, resolved at each use since memory can grow
	jsBytes  // a Uint8Array that Go owns
	jsString
)

// jsValue is one object the glue would hold for the module.
type jsValue struct {
	kind   jsKind
	off, n uint32 // jsView
	b      []byte // jsBytes
	s      string // jsString
	// readOnly marks a jsBytes that aliases the caller's memory (the packet
	// to decode, the payload to encode): the module may read it, not write.
	readOnly bool
}

// Fixed handles. 0 is ref.null, so no object gets it; the constants live as
// long as the instance, the rest only during one codec operation.
const (
	hUndefined = iota + 1
	hTrue
	hFalse
	hMemory
	hBuffer
	hDynamic
)

// bindgen is one instance's side of the glue.
type bindgen struct {
	in   *instance
	fns  [bFnCount]api.Function
	vals []jsValue // handle h is vals[h-1]
	// fault is set by a glue function that refuses a request or by a throw,
	// before it panics to end the call.
	fault error
}

type bindgenKey struct{}

// newBindgen prepares in to run a wasm-bindgen module and runs its start
// function, which fills the externref table.
func newBindgen(in *instance) error {
	b := &bindgen{in: in}
	for i, e := range bindgenExports {
		b.fns[i] = in.mod.ExportedFunction(e.name)
	}
	b.vals = append(make([]jsValue, 0, 16),
		jsValue{kind: jsUndefined}, jsValue{kind: jsTrue}, jsValue{kind: jsFalse},
		jsValue{kind: jsMemory}, jsValue{kind: jsBuffer})
	in.bg = b
	in.ctx = context.WithValue(context.Background(), bindgenKey{}, b)
	return in.invoke(b.fns[bStart], bindgenExports[bStart].name)
}

// reset drops the handles of the last operation: the glue never releases
// an object, so without this the table would only grow.
func (b *bindgen) reset() {
	clear(b.vals[hDynamic-1:])
	b.vals = b.vals[:hDynamic-1]
	b.fault = nil
}

func (b *bindgen) push(v jsValue) uint64 {
	b.vals = append(b.vals, v)
	return uint64(len(b.vals))
}

// failf records a glue fault and ends the module's call.
func (b *bindgen) failf(format string, args ...any) {
	if b.fault == nil {
		b.fault = fmt.Errorf("%w: glue: %s", ErrBadResult, fmt.Sprintf(format, args...))
	}
	panic(b.fault)
}

func (b *bindgen) get(h uint64) *jsValue {
	if h == 0 || h > uint64(len(b.vals)) {
		b.failf("externref %d is not a live object", h)
	}
	return &b.vals[h-1]
}

// bytesOf returns the bytes of a Uint8Array, reading a view from memory.
func (b *bindgen) bytesOf(h uint64) []byte {
	v := b.get(h)
	switch v.kind {
	case jsBytes:
		return v.b
	case jsView:
		buf, ok := b.in.mem.Read(v.off, v.n)
		if !ok {
			b.failf("view [%d, +%d) is outside memory of %d bytes", v.off, v.n, b.in.mem.Size())
		}
		return buf
	}
	b.failf("externref %d is not a Uint8Array", h)
	return nil
}

func (b *bindgen) readString(ptr, n uint32) string {
	buf, ok := b.in.mem.Read(ptr, n)
	if !ok {
		b.failf("string [%d, +%d) is outside memory", ptr, n)
	}
	if !utf8.Valid(buf) {
		b.failf("string at %d is not UTF-8", ptr)
	}
	return string(buf)
}

// glue returns the Go implementation of each import role. The module is
// the calling instance; its bindgen comes from the call's context.
func glue(role int) api.GoModuleFunc {
	state := func(ctx context.Context) *bindgen { return ctx.Value(bindgenKey{}).(*bindgen) }
	switch role {
	case gInitTable:
		// table.grow(4), then slot 0 and the four new slots hold undefined,
		// undefined, null, true and false, as the glue sets them.
		return func(ctx context.Context, _ api.Module, _ []uint64) {
			b := state(ctx)
			var st [2]uint64
			st[0] = 4
			if err := b.fns[bTableGrow].CallWithStack(ctx, st[:]); err != nil {
				b.failf("grow the externref table: %v", err)
			}
			off := uint32(st[0])
			if off == ^uint32(0) {
				b.failf("the externref table cannot grow")
			}
			for _, s := range [][2]uint64{{0, hUndefined}, {uint64(off), hUndefined}, {uint64(off) + 1, 0}, {uint64(off) + 2, hTrue}, {uint64(off) + 3, hFalse}} {
				st = s
				if err := b.fns[bTableSet].CallWithStack(ctx, st[:]); err != nil {
					b.failf("fill the externref table: %v", err)
				}
			}
		}
	case gMemory:
		return func(_ context.Context, _ api.Module, stack []uint64) { stack[0] = hMemory }
	case gThrow:
		return func(ctx context.Context, _ api.Module, stack []uint64) {
			b := state(ctx)
			buf, _ := b.in.mem.Read(uint32(stack[0]), uint32(stack[1]))
			if b.fault == nil {
				b.fault = fmt.Errorf("%w: %q", ErrThrown, buf)
			}
			panic(b.fault)
		}
	case gStringNew:
		return func(ctx context.Context, _ api.Module, stack []uint64) {
			b := state(ctx)
			stack[0] = b.push(jsValue{kind: jsString, s: b.readString(uint32(stack[0]), uint32(stack[1]))})
		}
	case gLength:
		return func(ctx context.Context, _ api.Module, stack []uint64) {
			b := state(ctx)
			stack[0] = uint64(uint32(len(b.bytesOf(stack[0]))))
		}
	case gSet:
		// dst.set(src, off)
		return func(ctx context.Context, _ api.Module, stack []uint64) {
			b := state(ctx)
			src := b.bytesOf(stack[1])
			off := uint64(uint32(stack[2]))
			dst := b.get(stack[0])
			switch dst.kind {
			case jsView:
				if off+uint64(len(src)) > uint64(dst.n) {
					b.failf("set of %d bytes at %d overflows a view of %d", len(src), off, dst.n)
				}
				if !b.in.mem.Write(dst.off+uint32(off), src) {
					b.failf("view at %d is outside memory", dst.off)
				}
			case jsBytes:
				if dst.readOnly {
					b.failf("set on externref %d, the caller's bytes", stack[0])
				}
				if off+uint64(len(src)) > uint64(len(dst.b)) {
					b.failf("set of %d bytes at %d overflows an array of %d", len(src), off, len(dst.b))
				}
				copy(dst.b[off:], src)
			default:
				b.failf("set on externref %d, not a Uint8Array", stack[0])
			}
		}
	case gNew:
		// new Uint8Array(x): a copy of an array, or a view of a buffer.
		return func(ctx context.Context, _ api.Module, stack []uint64) {
			b := state(ctx)
			if b.get(stack[0]).kind == jsBuffer {
				stack[0] = b.push(jsValue{kind: jsView, n: b.in.mem.Size()})
				return
			}
			src := b.bytesOf(stack[0])
			stack[0] = b.push(jsValue{kind: jsBytes, b: append([]byte(nil), src...)})
		}
	case gNewView:
		return func(ctx context.Context, _ api.Module, stack []uint64) {
			b := state(ctx)
			if b.get(stack[0]).kind != jsBuffer {
				b.failf("view of externref %d, not the memory's buffer", stack[0])
			}
			off, n := uint32(stack[1]), uint32(stack[2])
			if uint64(off)+uint64(n) > uint64(b.in.mem.Size()) {
				b.failf("view [%d, +%d) is outside memory of %d bytes", off, n, b.in.mem.Size())
			}
			stack[0] = b.push(jsValue{kind: jsView, off: off, n: n})
		}
	case gBuffer:
		return func(ctx context.Context, _ api.Module, stack []uint64) {
			b := state(ctx)
			if b.get(stack[0]).kind != jsMemory {
				b.failf("buffer of externref %d, not the memory", stack[0])
			}
			stack[0] = hBuffer
		}
	}
	panic("host: unknown glue role")
}

// instantiateGlue provides the glue module for the imports of cm.
func instantiateGlue(ctx context.Context, rt wazero.Runtime, cm wazero.CompiledModule) error {
	hb := rt.NewHostModuleBuilder(bindgenImportModule)
	for _, def := range cm.ImportedFunctions() {
		_, name, _ := def.Import()
		role := glueRole(name)
		g := glueImports[role]
		hb.NewFunctionBuilder().WithGoModuleFunction(glue(role), g.params, g.results).Export(name)
	}
	if _, err := hb.Instantiate(ctx); err != nil {
		return badModule("glue: " + err.Error())
	}
	return nil
}

// bcall calls export fn of the wasm-bindgen module.
func (in *instance) bcall(fn int) error {
	return in.invoke(in.bg.fns[fn], bindgenExports[fn].name)
}

// take reads and releases an externref table slot, as the glue's
// takeFromExternrefTable0 does.
func (in *instance) take(idx uint32) (*jsValue, error) {
	in.stack[0] = uint64(idx)
	if err := in.bcall(bTableGet); err != nil {
		return nil, err
	}
	h := in.stack[0]
	in.stack[0] = uint64(idx)
	if err := in.bcall(bTableDealloc); err != nil {
		return nil, err
	}
	if h == 0 || h > uint64(len(in.bg.vals)) {
		return nil, in.faultf(ErrBadResult, "externref table slot %d holds no object", idx)
	}
	return &in.bg.vals[h-1], nil
}

// takeError reads the error a wasm-bindgen export returned: a string.
func (in *instance) takeError(idx uint32) (string, error) {
	v, err := in.take(idx)
	if err != nil {
		return "", err
	}
	if v.kind != jsString {
		return "", in.faultf(ErrBadResult, "error in table slot %d is not a string", idx)
	}
	return v.s, nil
}

// bytesResult copies the bytes of a returned Uint8Array.
func (in *instance) bytesResult(v *jsValue, what string) ([]byte, error) {
	switch v.kind {
	case jsBytes:
		return v.b, nil
	case jsView:
		buf, ok := in.mem.Read(v.off, v.n)
		if !ok {
			return nil, in.faultf(ErrBadResult, "%s view is outside memory", what)
		}
		return append([]byte(nil), buf...), nil
	}
	return nil, in.faultf(ErrBadResult, "%s is not a Uint8Array", what)
}

// passString copies s into memory from __wbindgen_malloc, as the glue's
// passStringToWasm0 does; the export it is passed to takes ownership.
func (in *instance) passString(s string) (ptr uint32, err error) {
	in.stack[0], in.stack[1] = uint64(len(s)), 1
	if err := in.bcall(bMalloc); err != nil {
		return 0, err
	}
	ptr = uint32(in.stack[0])
	if ptr == 0 || !in.mem.WriteString(ptr, s) {
		return 0, in.faultf(ErrOutOfMemory, "__wbindgen_malloc(%d) returned %d", len(s), ptr)
	}
	return ptr, nil
}

// bgEncode encodes like `new WasmPacket(...).serialize()`. The module
// would throw on an out-of-range enum and cannot receive invalid UTF-8 from
// JavaScript, so those are refused here first, with the classes of
// wasm/ABI.md § Encode result.
func (in *instance) bgEncode(p codec.Packet) (out []byte, err error, fault bool) {
	switch {
	case p.Kind > codec.MaxKind:
		return nil, fmt.Errorf("%w: kind %d", codec.ErrInvalidEnum, p.Kind), false
	case p.Reaction != nil && *p.Reaction > codec.MaxReaction:
		return nil, fmt.Errorf("%w: reaction_kind %d", codec.ErrInvalidEnum, *p.Reaction), false
	case p.MessageID != nil && !utf8.ValidString(*p.MessageID):
		return nil, fmt.Errorf("%w: message_id", codec.ErrInvalidUTF8), false
	case p.UserID != nil && !utf8.ValidString(*p.UserID):
		return nil, fmt.Errorf("%w: user_id", codec.ErrInvalidUTF8), false
	}
	b := in.bg
	b.reset()
	defer b.reset()
	var mid, midLen, uid, uidLen uint32
	if p.MessageID != nil {
		if mid, err = in.passString(*p.MessageID); err != nil {
			return nil, err, true
		}
		midLen = uint32(len(*p.MessageID))
	}
	if p.UserID != nil {
		if uid, err = in.passString(*p.UserID); err != nil {
			return nil, err, true
		}
		uidLen = uint32(len(*p.UserID))
	}
	reaction := uint64(reactionAbsent)
	if p.Reaction != nil {
		reaction = uint64(*p.Reaction)
	}
	payload := b.push(jsValue{kind: jsBytes, b: p.Payload, readOnly: true})
	s := &in.stack
	s[0], s[1], s[2], s[3], s[4], s[5], s[6] = uint64(p.Kind), uint64(mid), uint64(midLen), uint64(uid), uint64(uidLen), reaction, payload
	if err := in.bcall(bNew); err != nil {
		return nil, err, true
	}
	ptr := uint32(s[0])
	if ptr == 0 {
		return nil, in.faultf(ErrBadResult, "wasmpacket_new returned a null packet"), true
	}
	s[0] = uint64(ptr)
	if err := in.bcall(bSerialize); err != nil {
		return nil, err, true
	}
	res, errIdx, isErr := uint32(s[0]), uint32(s[1]), s[2]
	if isErr != 0 {
		msg, err := in.takeError(errIdx)
		if err == nil {
			err = in.faultf(ErrBadResult, "serialize failed: %s", msg)
		}
		return nil, err, true
	}
	v, err := in.take(res)
	if err != nil {
		return nil, err, true
	}
	if out, err = in.bytesResult(v, "serialize result"); err != nil {
		return nil, err, true
	}
	s[0], s[1] = uint64(ptr), 0
	if err := in.bcall(bPacketFree); err != nil {
		return nil, err, true
	}
	return out, nil, false
}

// bgDecode decodes like `WasmPacket.deserialize(bytes)` and its getters,
// inside the strict checks the original lacks. The host parses the
// envelope, checks the crc and validates the LZ4 frame, computing its
// decoded size without inflating it (codec.CheckFrame), so a bad packet
// gets the class our own codecs give it and a bomb is refused before the
// module could inflate it. The module then does the real work, bincode and
// LZ4, and its answer is checked against what the host read.
func (in *instance) bgDecode(data []byte, maxPayload int) (p codec.Packet, err error, fault bool) {
	env, err := codec.ParseEnvelope(data)
	if err != nil {
		return p, err, false
	}
	if got := codec.FrameCRC(env.Frame); uint64(got) != env.CRC {
		return p, fmt.Errorf("%w: crc field %08x, frame hashes to %08x", codec.ErrChecksum, env.CRC, got), false
	}
	frame, err := codec.CheckFrame(env.Frame, maxPayload)
	if err != nil {
		return p, err, false
	}

	b := in.bg
	b.reset()
	defer b.reset()
	s := &in.stack
	s[0] = b.push(jsValue{kind: jsBytes, b: data, readOnly: true})
	if err := in.bcall(bDeserialize); err != nil {
		return p, err, true
	}
	ptr, errIdx, isErr := uint32(s[0]), uint32(s[1]), s[2]
	if isErr != 0 {
		msg, err := in.takeError(errIdx)
		if err != nil {
			return p, err, true
		}
		// The host's checks passed, so the module disagrees with them.
		if cls := classifyModuleError(msg); cls != nil {
			return p, fmt.Errorf("%w: module: %s", cls, msg), false
		}
		return p, in.faultf(ErrBadResult, "deserialize refused a packet the host accepted: %s", msg), true
	}
	if p, err = in.bgFields(ptr); err != nil {
		return codec.Packet{}, err, true
	}
	s[0], s[1] = uint64(ptr), 0
	if err := in.bcall(bPacketFree); err != nil {
		return codec.Packet{}, err, true
	}
	if err := frame.CheckOutput(p.Payload); err != nil {
		if errors.Is(err, codec.ErrCompression) {
			return codec.Packet{}, err, false
		}
		return codec.Packet{}, in.faultf(ErrBadResult, "payload: %v", err), true
	}
	if d := envelopeDiff(p, env); d != "" {
		return codec.Packet{}, in.faultf(ErrBadResult, "module decoded %s", d), true
	}
	return p, nil, false
}

// bgFields reads a decoded packet through its getters.
func (in *instance) bgFields(ptr uint32) (p codec.Packet, err error) {
	s := &in.stack
	s[0] = uint64(ptr)
	if err := in.bcall(bKind); err != nil {
		return p, err
	}
	k := uint32(s[0])
	if k > uint32(codec.MaxKind) {
		return p, in.faultf(ErrBadResult, "kind %d out of range", k)
	}
	p.Kind = codec.Kind(k)
	if p.MessageID, err = in.bgString(bMessageID, ptr); err != nil {
		return p, err
	}
	if p.UserID, err = in.bgString(bUserID, ptr); err != nil {
		return p, err
	}
	s[0] = uint64(ptr)
	if err := in.bcall(bReaction); err != nil {
		return p, err
	}
	switch r := uint32(s[0]); {
	case r == reactionAbsent:
	case r <= uint32(codec.MaxReaction):
		p.Reaction = codec.ReactionPtr(codec.Reaction(r))
	default:
		return p, in.faultf(ErrBadResult, "reaction_kind %d out of range", r)
	}
	s[0] = uint64(ptr)
	if err := in.bcall(bPayload); err != nil {
		return p, err
	}
	h := s[0]
	if h == 0 || h > uint64(len(in.bg.vals)) {
		return p, in.faultf(ErrBadResult, "payload returned externref %d", h)
	}
	p.Payload, err = in.bytesResult(&in.bg.vals[h-1], "payload")
	return p, err
}

// bgString reads an Option<String> getter and frees the module's copy.
func (in *instance) bgString(fn int, ptr uint32) (*string, error) {
	in.stack[0] = uint64(ptr)
	if err := in.bcall(fn); err != nil {
		return nil, err
	}
	sp, n := uint32(in.stack[0]), uint32(in.stack[1])
	if sp == 0 {
		return nil, nil
	}
	buf, ok := in.mem.Read(sp, n)
	if !ok {
		return nil, in.faultf(ErrBadResult, "%s result [%d, +%d) is outside memory", bindgenExports[fn].name, sp, n)
	}
	if !utf8.Valid(buf) {
		return nil, in.faultf(ErrBadResult, "%s is not UTF-8", bindgenExports[fn].name)
	}
	str := string(buf)
	in.stack[0], in.stack[1], in.stack[2] = uint64(sp), uint64(n), 1
	if err := in.bcall(bFree); err != nil {
		return nil, err
	}
	return &str, nil
}

// envelopeDiff compares the module's fields with the host's parse.
func envelopeDiff(p codec.Packet, e codec.Envelope) string {
	eq := func(a, b *string) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
	switch {
	case p.Kind != e.Kind:
		return fmt.Sprintf("kind %d, the host read %d", p.Kind, e.Kind)
	case !eq(p.MessageID, e.MessageID):
		return "a message_id other than the host read"
	case !eq(p.UserID, e.UserID):
		return "a user_id other than the host read"
	case (p.Reaction == nil) != (e.Reaction == nil) || p.Reaction != nil && *p.Reaction != *e.Reaction:
		return "a reaction_kind other than the host read"
	}
	return ""
}

// classifyModuleError maps the original's deserialize errors, bincode 2
// DecodeError names in "Failed to deserialize packet: ...", to classes.
// With the host's checks in front it should never be reached; a message it
// does not know is a fault.
func classifyModuleError(msg string) error {
	switch {
	case strings.Contains(msg, "UnexpectedEnd"):
		return codec.ErrTruncated
	case strings.Contains(msg, "UnexpectedVariant"), strings.Contains(msg, "InvalidBooleanValue"),
		strings.Contains(msg, "InvalidIntegerType"), strings.Contains(msg, "InvalidOptionValue"):
		return codec.ErrInvalidEnum
	case strings.Contains(msg, "Utf8"):
		return codec.ErrInvalidUTF8
	}
	return nil
}
