package host

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmchannel/wasmchannel/codec"
)

// absent is the ABI's i32 -1: an absent id or reaction (wasm/ABI.md § Exports).
const absent = math.MaxUint32

// minScratch is the smallest scratch input buffer; a room's packets (payload
// at most 1000 bytes, protocol.md) fit without ever growing it.
const minScratch = 4096

// recordHeader is the fixed part of a decode result (wasm/ABI.md § Decode result).
const recordHeader = 24

// instance is one instantiated module. It serves one caller at a time: its
// api.Functions and its stack are not safe for concurrent use.
type instance struct {
	id   uint64
	mod  api.Module
	mem  api.Memory
	fns  [fnCount]api.Function
	pool *Pool
	// ctx is passed to every call; for a wasm-bindgen module it carries bg,
	// which the glue's host functions find there.
	ctx context.Context
	// bg is the wasm-bindgen adapter's state (bindgen.go), nil for a module
	// of our own ABI.
	bg *bindgen

	// flag is the interrupt global of an instrumented module, set by the
	// pool's watchdog when callStart (its tick when the current call began,
	// 0 between calls) is too old.
	flag        api.MutableGlobal
	callStart   atomic.Uint64
	interruptMu sync.Mutex

	// stack is the CallWithStack parameter and result stack, reused by every
	// call so calls do not allocate.
	stack [8]uint64
	// scratch is the input buffer, allocated with wc_alloc and grown as needed.
	scratch, scratchCap uint32

	idleSince time.Time
}

// Indexes into instance.fns, in abiExports order.
const (
	fnVersion = iota
	fnAlloc
	fnFree
	fnEncode
	fnDecode
	fnCount
)

// call runs one export with the arguments already on in.stack, under the
// call deadline. A non-nil error is always a fault: the instance must be
// discarded.
func (in *instance) call(fn int) error {
	return in.invoke(in.fns[fn], abiExports[fn].name)
}

// invoke runs f, named name, with the arguments on in.stack, under the call
// deadline. A non-nil error is always a fault: the instance must be
// discarded.
func (in *instance) invoke(f api.Function, name string) error {
	var err error
	expired := false
	switch w := in.pool.watchdog; {
	case w != nil:
		w.begin(in)
		err = f.CallWithStack(in.ctx, in.stack[:])
		expired = w.end(in)
	case in.pool.cfg.closeOnContextDone && in.pool.cfg.CallTimeout > 0:
		ctx, cancel := context.WithTimeout(in.ctx, in.pool.cfg.CallTimeout)
		err = f.CallWithStack(ctx, in.stack[:])
		cancel()
	default:
		err = f.CallWithStack(in.ctx, in.stack[:])
	}
	if err == nil {
		return nil
	}
	if in.bg != nil && in.bg.fault != nil {
		// A glue function refused what the module asked of it, or the
		// module threw; the message is the host's, not wazero's.
		return fmt.Errorf("%w in %s (%s): %w", in.bg.fault, name, in.mod.Name(), codec.ErrCodecFault)
	}
	if in.pool.closed.Load() {
		return fmt.Errorf("host: %s: %w", name, ErrPoolClosed)
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeDeadlineExceeded || expired {
		return fmt.Errorf("%w after %v in %s (%s): %w", ErrTimeout, in.pool.cfg.CallTimeout, name, in.mod.Name(), codec.ErrCodecFault)
	}
	// wazero's trap messages carry a multi-line wasm stack trace; the first
	// line says what happened.
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return fmt.Errorf("%w in %s (%s): %s: %w", ErrTrap, name, in.mod.Name(), msg, codec.ErrCodecFault)
}

// faultf builds a fault error for a module that returned something the ABI
// does not allow; the instance is then discarded like after a trap.
func (in *instance) faultf(kind error, format string, args ...any) error {
	return fmt.Errorf("%w from %s: %s: %w", kind, in.mod.Name(), fmt.Sprintf(format, args...), codec.ErrCodecFault)
}

// selfCheck is NewPool's check of its first instance: the ABI version of
// our modules, or, for a wasm-bindgen module, its calculate_crc32 against
// the CRC-32 check value.
func (in *instance) selfCheck() error {
	if in.bg != nil {
		const input, want = "123456789", 0xCBF43926
		ptr, err := in.passString(input)
		if err != nil {
			return badModule("__wbindgen_malloc failed: " + strings.TrimPrefix(err.Error(), "host: "))
		}
		in.stack[0], in.stack[1] = uint64(ptr), uint64(len(input))
		if err := in.bcall(bCRC32); err != nil {
			return badModule("calculate_crc32 failed: " + strings.TrimPrefix(err.Error(), "host: "))
		}
		if got := uint32(in.stack[0]); got != want {
			return badModule(fmt.Sprintf("calculate_crc32(%q) = %08x, want %08x", input, got, want))
		}
		return nil
	}
	v, err := in.version()
	if err != nil {
		return badModule("wc_abi_version failed: " + strings.TrimPrefix(err.Error(), "host: "))
	}
	if v != ABIVersion {
		return badModule(fmt.Sprintf("module ABI version %d, want %d", v, ABIVersion))
	}
	return nil
}

// version calls wc_abi_version, the empty call.
func (in *instance) version() (uint32, error) {
	if err := in.call(fnVersion); err != nil {
		return 0, err
	}
	return uint32(in.stack[0]), nil
}

// ensureScratch makes the scratch input buffer at least n bytes.
func (in *instance) ensureScratch(n uint64) error {
	if in.scratch != 0 && n <= uint64(in.scratchCap) {
		return nil
	}
	size := (n + minScratch - 1) / minScratch * minScratch
	if size < minScratch {
		size = minScratch
	}
	if size > math.MaxInt32 {
		return in.faultf(ErrOutOfMemory, "input of %d bytes exceeds 32-bit memory", n)
	}
	if in.scratch != 0 {
		in.stack[0], in.stack[1] = uint64(in.scratch), uint64(in.scratchCap)
		in.scratch, in.scratchCap = 0, 0
		if err := in.call(fnFree); err != nil {
			return err
		}
	}
	in.stack[0] = size
	if err := in.call(fnAlloc); err != nil {
		return err
	}
	ptr := uint32(in.stack[0])
	if ptr == 0 {
		return in.faultf(ErrOutOfMemory, "wc_alloc(%d) returned 0 (memory limit %d pages)", size, in.pool.cfg.MemoryLimitPages)
	}
	in.scratch, in.scratchCap = ptr, uint32(size)
	return nil
}

// free releases a result buffer the module handed over.
func (in *instance) free(ptr, n uint32) error {
	in.stack[0], in.stack[1] = uint64(ptr), uint64(n)
	return in.call(fnFree)
}

// result splits a packed (ptr << 32) | len result. A zero pointer is a
// failure: the low half is an error code, which becomes its class sentinel,
// or a fault for out_of_memory (100) and codes the ABI does not list.
func (in *instance) result(op string, allowed func(code uint32) bool) (ptr, n uint32, err error, fault bool) {
	r := in.stack[0]
	ptr, n = uint32(r>>32), uint32(r)
	if ptr != 0 {
		return ptr, n, nil, false
	}
	if n == 100 {
		return 0, 0, in.faultf(ErrOutOfMemory, "%s returned out_of_memory", op), true
	}
	if cls := codec.ErrorForCode(n); cls != nil && allowed(n) {
		return 0, 0, cls, false
	}
	return 0, 0, in.faultf(ErrBadResult, "%s returned unknown error code %d", op, n), true
}

// encode runs wc_encode. fault reports that err is a codec fault, after
// which the instance must be discarded.
func (in *instance) encode(p codec.Packet) (out []byte, err error, fault bool) {
	if in.bg != nil {
		return in.bgEncode(p)
	}
	midLen, uidLen := uint64(absent), uint64(absent)
	n := uint64(len(p.Payload))
	if p.MessageID != nil {
		midLen = uint64(len(*p.MessageID))
		n += midLen
	}
	if p.UserID != nil {
		uidLen = uint64(len(*p.UserID))
		n += uidLen
	}
	if err := in.ensureScratch(n); err != nil {
		return nil, err, true
	}
	mid, uid := in.scratch, in.scratch
	ok := true
	if p.MessageID != nil {
		ok = in.mem.WriteString(mid, *p.MessageID)
		uid += uint32(midLen)
	}
	pay := uid
	if p.UserID != nil {
		ok = in.mem.WriteString(uid, *p.UserID) && ok
		pay += uint32(uidLen)
	}
	if !in.mem.Write(pay, p.Payload) || !ok {
		return nil, in.faultf(ErrBadResult, "scratch buffer [%d, +%d) from wc_alloc is outside memory", in.scratch, n), true
	}
	reaction := uint64(absent)
	if p.Reaction != nil {
		// Any value above MaxReaction is invalid; keep it from aliasing -1.
		reaction = uint64(min(uint32(*p.Reaction), math.MaxInt32))
	}
	s := &in.stack
	s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7] =
		uint64(p.Kind), uint64(mid), midLen, uint64(uid), uidLen, reaction, uint64(pay), uint64(len(p.Payload))
	if err := in.call(fnEncode); err != nil {
		return nil, err, true
	}
	ptr, rn, err, fault := in.result("wc_encode", func(code uint32) bool { return code == 2 || code == 3 })
	if err != nil {
		return nil, err, fault
	}
	buf, ok := in.mem.Read(ptr, rn)
	if !ok {
		return nil, in.faultf(ErrBadResult, "wc_encode result [%d, +%d) is outside memory of %d bytes", ptr, rn, in.mem.Size()), true
	}
	out = make([]byte, rn)
	copy(out, buf)
	if err := in.free(ptr, rn); err != nil {
		return nil, err, true
	}
	return out, nil, false
}

// decode runs wc_decode. fault reports that err is a codec fault, after
// which the instance must be discarded.
func (in *instance) decode(data []byte, maxPayload int) (p codec.Packet, err error, fault bool) {
	if in.bg != nil {
		return in.bgDecode(data, maxPayload)
	}
	if err := in.ensureScratch(uint64(len(data))); err != nil {
		return p, err, true
	}
	if !in.mem.Write(in.scratch, data) {
		return p, in.faultf(ErrBadResult, "scratch buffer at %d is outside memory", in.scratch), true
	}
	limit := uint32(math.MaxUint32)
	if maxPayload < 0 {
		limit = 0
	} else if uint64(maxPayload) < math.MaxUint32 {
		limit = uint32(maxPayload)
	}
	in.stack[0], in.stack[1], in.stack[2] = uint64(in.scratch), uint64(len(data)), uint64(limit)
	if err := in.call(fnDecode); err != nil {
		return p, err, true
	}
	ptr, rn, err, fault := in.result("wc_decode", func(code uint32) bool { return true })
	if err != nil {
		return p, err, fault
	}
	buf, ok := in.mem.Read(ptr, rn)
	if !ok {
		return p, in.faultf(ErrBadResult, "wc_decode result [%d, +%d) is outside memory of %d bytes", ptr, rn, in.mem.Size()), true
	}
	p, err = parseRecord(buf, limit)
	if err != nil {
		return p, in.faultf(ErrBadResult, "wc_decode: %v", err), true
	}
	if err := in.free(ptr, rn); err != nil {
		return codec.Packet{}, err, true
	}
	return p, nil, false
}

// parseRecord validates a decode result record and copies its fields out of
// linear memory. Anything the ABI does not allow is an error, so a broken or
// hostile module cannot hand the server an out-of-range kind, an invalid id
// or more payload than the caller accepted.
func parseRecord(rec []byte, maxPayload uint32) (codec.Packet, error) {
	var p codec.Packet
	if len(rec) < recordHeader {
		return p, fmt.Errorf("record of %d bytes is shorter than its %d-byte header", len(rec), recordHeader)
	}
	le := binary.LittleEndian
	kind := le.Uint32(rec[0:])
	reaction := int32(le.Uint32(rec[4:]))
	midLen := int32(le.Uint32(rec[8:]))
	uidLen := int32(le.Uint32(rec[12:]))
	payLen := le.Uint32(rec[16:])
	serialized := le.Uint32(rec[20:])
	switch {
	case kind > uint32(codec.MaxKind):
		return p, fmt.Errorf("kind %d out of range", kind)
	case reaction < -1 || reaction > int32(codec.MaxReaction):
		return p, fmt.Errorf("reaction %d out of range", reaction)
	case midLen < -1:
		return p, fmt.Errorf("message_id length %d", midLen)
	case uidLen < -1:
		return p, fmt.Errorf("user_id length %d", uidLen)
	case serialized > 1:
		return p, fmt.Errorf("serialized flag %d", serialized)
	case payLen > maxPayload:
		return p, fmt.Errorf("payload of %d bytes exceeds max_payload %d", payLen, maxPayload)
	}
	want := int64(recordHeader) + int64(max(midLen, 0)) + int64(max(uidLen, 0)) + int64(payLen)
	if want != int64(len(rec)) {
		return p, fmt.Errorf("record is %d bytes, its lengths add up to %d", len(rec), want)
	}
	p.Kind = codec.Kind(kind)
	if reaction >= 0 {
		p.Reaction = codec.ReactionPtr(codec.Reaction(reaction))
	}
	off := recordHeader
	if midLen >= 0 {
		b := rec[off : off+int(midLen)]
		if !utf8.Valid(b) {
			return codec.Packet{}, errors.New("message_id is not UTF-8")
		}
		p.MessageID = codec.Str(string(b))
		off += int(midLen)
	}
	if uidLen >= 0 {
		b := rec[off : off+int(uidLen)]
		if !utf8.Valid(b) {
			return codec.Packet{}, errors.New("user_id is not UTF-8")
		}
		p.UserID = codec.Str(string(b))
		off += int(uidLen)
	}
	p.Payload = make([]byte, payLen)
	copy(p.Payload, rec[off:])
	return p, nil
}

// close closes the module and stops watching it.
func (in *instance) close(ctx context.Context) {
	if w := in.pool.watchdog; w != nil {
		w.remove(in)
	}
	_ = in.mod.Close(ctx)
}
