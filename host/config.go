package host

import (
	"fmt"
	"time"
)

// Defaults of DefaultConfig. DefaultMemoryLimitPages is sized from a
// measurement, not a guess: see the comment on Config.MemoryLimitPages.
const (
	DefaultMinWarm          = 2
	DefaultMaxInstances     = 256
	DefaultMemoryLimitPages = 128 // 8 MiB
	DefaultIdleMemoryPages  = 32  // 2 MiB
	DefaultCallTimeout      = time.Second
	DefaultIdleTrim         = 30 * time.Second

	pageSize = 65536
)

// Config sizes a Pool. The zero value of a field means its default, so
// Config{Name: "wasm"} is usable; DefaultConfig spells the defaults out.
type Config struct {
	// Name identifies the codec in health output and metrics (Source.Name).
	Name string
	// MinWarm instances are kept instantiated and idle, so that leases do not
	// pay for instantiation; trimming never goes below it. Zero means the
	// default; a negative value means none.
	MinWarm int
	// MaxInstances caps instances alive at once, leased or idle. Acquire
	// blocks while all of them are leased.
	MaxInstances int
	// MemoryLimitPages caps each instance's linear memory, in 64 KiB pages.
	// Decoding and re-encoding a 1 MiB payload (the largest max_payload the
	// tools use) needs the packet in the scratch buffer, the decoded result
	// and the module's working memory: 48 pages (3 MiB) for the embedded
	// codec, as TestMemoryLimitDecodes1MiB measures and logs. The default,
	// 128 pages (8 MiB), keeps more than 2x headroom over that, which the
	// test enforces, while bounding what a runaway module can take.
	MemoryLimitPages uint32
	// IdleMemoryPages: an instance whose memory grew beyond this (one large
	// packet) is closed when released instead of kept idle, because linear
	// memory never shrinks. Zero means the default.
	IdleMemoryPages uint32
	// CallTimeout bounds every call into the module; a module that loops is
	// stopped and its instance discarded. Zero means the default. A negative
	// value disables the deadline and the instrumentation that enforces it
	// (see instrument), saving its small cost (BenchmarkEmptyCall,
	// BenchmarkDeadlineMechanism), but lets a looping module hang its caller
	// and stall the Go runtime's stop-the-world forever: only for modules you
	// trust.
	CallTimeout time.Duration
	// IdleTrim: instances idle longer than this are closed, down to MinWarm.
	// Zero means the default; a negative value never trims.
	IdleTrim time.Duration

	// closeOnContextDone enforces CallTimeout with wazero's
	// WithCloseOnContextDone instead of instrumenting the module; the
	// benchmarks compare the two.
	closeOnContextDone bool
}

// DefaultConfig returns the defaults, named "wasm".
func DefaultConfig() Config {
	return Config{
		Name:             "wasm",
		MinWarm:          DefaultMinWarm,
		MaxInstances:     DefaultMaxInstances,
		MemoryLimitPages: DefaultMemoryLimitPages,
		IdleMemoryPages:  DefaultIdleMemoryPages,
		CallTimeout:      DefaultCallTimeout,
		IdleTrim:         DefaultIdleTrim,
	}
}

// normalize fills defaults and checks the sizes against each other.
func (c Config) normalize() (Config, error) {
	d := DefaultConfig()
	if c.Name == "" {
		c.Name = d.Name
	}
	switch {
	case c.MinWarm == 0:
		c.MinWarm = d.MinWarm
	case c.MinWarm < 0:
		c.MinWarm = 0
	}
	if c.MaxInstances == 0 {
		c.MaxInstances = d.MaxInstances
	}
	if c.MemoryLimitPages == 0 {
		c.MemoryLimitPages = d.MemoryLimitPages
	}
	if c.IdleMemoryPages == 0 {
		c.IdleMemoryPages = d.IdleMemoryPages
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = d.CallTimeout
	}
	if c.IdleTrim == 0 {
		c.IdleTrim = d.IdleTrim
	}
	if c.MaxInstances < 1 {
		return c, fmt.Errorf("host: MaxInstances %d, want at least 1", c.MaxInstances)
	}
	if c.MinWarm > c.MaxInstances {
		return c, fmt.Errorf("host: MinWarm %d exceeds MaxInstances %d", c.MinWarm, c.MaxInstances)
	}
	if c.MemoryLimitPages > 65536 {
		return c, fmt.Errorf("host: MemoryLimitPages %d exceeds the wasm32 maximum 65536", c.MemoryLimitPages)
	}
	return c, nil
}
