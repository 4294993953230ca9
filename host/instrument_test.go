package host

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmchannel/wasmchannel/codec"
)

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// sumBody adds 1..100000 in a loop that a br_table continues, inside a
// block that br_if leaves: the result shows the instrumented loop still
// computes the same thing.
var sumBody = cat(
	i32c(100000), []byte{0x21, 0x00}, // local.set $i
	[]byte{0x02, 0x40, 0x03, 0x40},                        // block, loop
	[]byte{0x20, 0x00, 0x45, 0x0d, 0x01},                  // br_if 1 when $i == 0
	[]byte{0x20, 0x01, 0x20, 0x00, 0x6a, 0x21, 0x01},      // $s += $i
	[]byte{0x20, 0x00}, i32c(1), []byte{0x6b, 0x21, 0x00}, // $i--
	[]byte{0x20, 0x00}, i32c(3), []byte{0x71}, // $i & 3
	[]byte{0x0e, 0x03, 0x00, 0x00, 0x00, 0x00}, // br_table 0 0 0, default 0
	[]byte{0x0b, 0x0b, 0x20, 0x01},             // end, end, local.get $s
)

// opsBody uses instructions with every kind of immediate the instrumenter
// must skip: block types, memarg, select t*, f32/f64/i64 constants, bulk
// memory, SIMD constants, lanes and memargs, ref.null/ref.is_null.
var opsBody = cat(
	i32c(0), i32c(7), i32c(3), []byte{0xfc, 0x0b, 0x00}, // memory.fill
	i32c(16), i32c(0), i32c(8), []byte{0xfc, 0x0a, 0x00, 0x00}, // memory.copy
	[]byte{0x02, 0x7f}, i32c(1), i32c(2), i32c(1), []byte{0x1c, 0x01, 0x7f, 0x0b, 0x1a}, // block (result i32) select t end drop
	i32c(0), []byte{0x29, 0x03, 0x08, 0x1a}, // i64.load offset=8, drop
	i32c(0), i64c(-123456789012), []byte{0x37, 0x03, 0x20}, // i64.store offset=32
	[]byte{0x43, 0x00, 0x00, 0xc0, 0x3f, 0x1a},       // f32.const 1.5, drop
	[]byte{0x44, 0, 0, 0, 0, 0, 0, 0x04, 0x40, 0x1a}, // f64.const 2.5, drop
	[]byte{0xfd, 0x0c}, bytes.Repeat([]byte{9}, 16),  // v128.const
	[]byte{0xfd, 0x0c}, bytes.Repeat([]byte{1}, 16), // v128.const
	[]byte{0xfd, 0x0d}, bytes.Repeat([]byte{5}, 16), // i8x16.shuffle
	[]byte{0xfd, 0x15, 0x03, 0x1a},                // i8x16.extract_lane_s 3, drop
	i32c(0), []byte{0xfd, 0x00, 0x04, 0x00, 0x1a}, // v128.load, drop
	i32c(0), i32c(0), []byte{0xfd, 0x11, 0xfd, 0x54, 0x00, 0x00, 0x02, 0x1a}, // i8x16.splat, v128.load8_lane 2, drop
	[]byte{0xd0, 0x70, 0xd1, 0x1a},             // ref.null func, ref.is_null, drop
	[]byte{0x02, 0x40, 0x03, 0x40, 0x0b, 0x0b}, // an empty loop
	i32c(0), []byte{0x28, 0x02, 0x00}, // i32.load: 07 07 07 00, from memory.fill
)

func TestInstrumentKeepsSemantics(t *testing.T) {
	mod := wmodule{funcs: []wfunc{
		{export: "sum", results: []byte{wI32}, body: sumBody, locals: []byte{wI32, wI32}},
		{export: "ops", results: []byte{wI32}, body: opsBody},
	}}.bytes()
	inst, err := instrument(mod)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	for name, want := range map[string]uint64{"sum": 5000050000 % (1 << 32), "ops": 0x070707} {
		for _, m := range [][]byte{mod, inst} {
			cm, err := rt.CompileModule(ctx, m)
			if err != nil {
				t.Fatalf("compile (instrumented %v): %v", len(m) != len(mod), err)
			}
			im, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName(""))
			if err != nil {
				t.Fatal(err)
			}
			got, err := im.ExportedFunction(name).Call(ctx)
			if err != nil || got[0] != want {
				t.Errorf("%s (instrumented %v): %v, %v; want %d", name, len(m) != len(mod), got, err, want)
			}
		}
	}
	// The instrumented module exports the stop flag; setting it makes the
	// next check trap.
	cm, _ := rt.CompileModule(ctx, inst)
	im, _ := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName("stopped"))
	im.ExportedGlobal(interruptExport).(api.MutableGlobal).Set(1)
	if _, err := im.ExportedFunction("sum").Call(ctx); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("call with the stop flag set: %v, want an unreachable trap", err)
	}
}

func TestInstrumentRefuses(t *testing.T) {
	tests := []struct {
		name string
		body []byte
	}{
		{"legacy exception try", []byte{0x06, 0x40, 0x0b}},
		{"tail call", []byte{0x12, 0x00}},
		{"unknown 0xfc", []byte{0xfc, 0x20}},
		{"overlong immediate", []byte{0x41, 0x80, 0x80, 0x80, 0x80, 0x80}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mod := wmodule{funcs: []wfunc{{export: "f", body: tc.body}}}.bytes()
			if _, err := instrument(mod); err == nil {
				t.Error("instrumented an unsupported body")
			}
			_, err := NewPool(context.Background(), mod, Config{})
			if !errors.Is(err, ErrBadModule) || !strings.HasPrefix(err.Error(), "host: instrument: ") {
				t.Errorf("NewPool: %v", err)
			}
		})
	}
}

// TestDeadlineStopsLoop: a decode that loops forever is stopped after about
// CallTimeout with ErrTimeout; the lease's next call runs on a new instance.
func TestDeadlineStopsLoop(t *testing.T) {
	loop := cat([]byte{0x03, 0x40, 0x0c, 0x00, 0x0b}, i64c(1)) // loop br 0 end; i64.const 1
	for _, m := range deadlineModes[:2] {
		t.Run(m.name, func(t *testing.T) {
			cfg := m.cfg
			cfg.CallTimeout = 50 * time.Millisecond
			p, err := NewPool(context.Background(), wmodule{funcs: abiFuncs(loop)}.bytes(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(context.Background())
			l := lease(t, p)
			id := l.InstanceID()
			start := time.Now()
			_, err = l.Decode([]byte{1}, 10)
			if !errors.Is(err, ErrTimeout) || !errors.Is(err, codec.ErrCodecFault) {
				t.Fatalf("Decode: %v", err)
			}
			if d := time.Since(start); d < cfg.CallTimeout {
				t.Errorf("stopped after %v, before the %v deadline", d, cfg.CallTimeout)
			}
			if _, err := l.Encode(codec.Packet{}); !errors.Is(err, codec.ErrInvalidEnum) {
				t.Errorf("Encode after the timeout: %v", err)
			}
			if l.InstanceID() == id {
				t.Error("the timed-out instance was kept")
			}
			if s := p.Stats(); s.Timeouts != 1 || s.Faults != 1 || s.Discarded != 1 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

// TestCloseStopsRunningCall: closing the pool interrupts a call that is
// looping, which then fails with ErrPoolClosed instead of hanging.
func TestCloseStopsRunningCall(t *testing.T) {
	loop := cat([]byte{0x03, 0x40, 0x0c, 0x00, 0x0b}, i64c(1))
	p, err := NewPool(context.Background(), wmodule{funcs: abiFuncs(loop)}.bytes(), Config{CallTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	l, err := p.Lease(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := l.Decode([]byte{1}, 10)
		done <- err
	}()
	waitFor(t, "the call to start", func() bool {
		p.watchdog.mu.Lock()
		defer p.watchdog.mu.Unlock()
		for in := range p.watchdog.instances {
			if in.callStart.Load() != 0 {
				return true
			}
		}
		return false
	})
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrPoolClosed) {
		t.Errorf("looping Decode after Close: %v, want ErrPoolClosed", err)
	}
	l.Release()
}
