// Package host runs WasmChannel codec modules (wasm/ABI.md) in-process with
// wazero. It is the only package that imports wazero. It speaks two ABIs:
// ours, a C ABI with no imports, and the original upstream build as
// wasm-bindgen compiled it for JavaScript, whose glue it provides in Go and
// around which it adds the strict checks the original lacks (bindgen.go).
//
// A Pool compiles one module once and keeps instances of it; each room leases
// one (Acquire) while it is awake and releases it when it goes idle. A lease
// is a codec.Codec. A call that traps, runs out of memory, returns something
// the ABI forbids or passes its deadline discards that instance only: the
// call returns an error wrapping codec.ErrCodecFault, the packet is rejected,
// and the lease gets a fresh instance for its next call.
package host

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmchannel/wasmchannel/codec"
)

// Pool is a set of instances of one compiled codec module. It implements
// codec.Source and is safe for concurrent use.
type Pool struct {
	cfg      Config
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	modCfg   wazero.ModuleConfig
	// watchdog enforces CallTimeout on an instrumented module; nil when the
	// deadline is off or left to wazero (closeOnContextDone).
	watchdog *watchdog
	// bindgen: the module is the original wasm-bindgen build (bindgen.go),
	// not one of our ABI.
	bindgen bool

	closed atomic.Bool
	nextID atomic.Uint64
	stats  counters

	mu      sync.Mutex
	idle    []*instance // oldest first; leases take the newest (warm caches)
	total   int         // idle + leased instances + slots reserved by leases or instantiation
	waiters []*waiter   // blocked Acquires, first come first served

	wake     chan struct{} // nudges the maintainer to restore MinWarm
	stop     chan struct{}
	stopped  chan struct{}
	closeErr error
}

// counters are the cumulative Stats, updated without the lock.
type counters struct {
	leases, instantiations, traps, timeouts, faults, discarded, recycled, trimmed atomic.Uint64
}

// Stats is a snapshot of a pool's counters and gauges.
type Stats struct {
	Leases         uint64 // successful Acquires
	Instantiations uint64 // instances created, including the first and replacements
	Traps          uint64 // calls that trapped
	Timeouts       uint64 // calls stopped at their deadline
	Faults         uint64 // all faulted calls: traps, timeouts, out of memory, malformed results
	Discarded      uint64 // instances closed after a fault
	Recycled       uint64 // instances closed on release because their memory grew past IdleMemoryPages
	Trimmed        uint64 // idle instances closed by trimming
	Idle           int    // instances waiting in the pool
	InUse          int    // instances (or reserved slots) held by leases
	Total          int    // Idle + InUse; at most MaxInstances
}

// grant is what a blocked Acquire receives: an idle instance, a slot to
// instantiate into (inst == nil), or an error.
type grant struct {
	inst *instance
	err  error
}

type waiter struct{ ch chan grant }

// NewPool compiles module, checks its exports and ABI version, and
// instantiates MinWarm instances (at least one, to check the version).
func NewPool(ctx context.Context, module []byte, cfg Config) (*Pool, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	rc := wazero.NewRuntimeConfig().WithMemoryLimitPages(cfg.MemoryLimitPages)
	instrumented := cfg.CallTimeout > 0 && !cfg.closeOnContextDone
	if cfg.CallTimeout > 0 && cfg.closeOnContextDone {
		rc = rc.WithCloseOnContextDone(true)
	}
	bindgen := isBindgen(module)
	if bindgen {
		m, err := addTableAccess(module, bindgenTable)
		if err != nil {
			return nil, badModule("wasm-bindgen module: " + err.Error())
		}
		module = m
	}
	if instrumented {
		m, err := instrument(module)
		if err != nil {
			return nil, badModule("instrument: " + err.Error())
		}
		module = m
	}
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	compiled, err := rt.CompileModule(ctx, module)
	if err != nil {
		_ = rt.Close(ctx)
		return nil, badModule("compile: " + err.Error())
	}
	check := checkModule
	if bindgen {
		check = checkBindgen
	}
	if err := check(compiled); err != nil {
		_ = rt.Close(ctx)
		return nil, err
	}
	if bindgen {
		if err := instantiateGlue(ctx, rt, compiled); err != nil {
			_ = rt.Close(ctx)
			return nil, err
		}
	}
	p := &Pool{
		cfg:      cfg,
		bindgen:  bindgen,
		rt:       rt,
		compiled: compiled,
		modCfg:   wazero.NewModuleConfig().WithStartFunctions(),
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	if instrumented {
		p.watchdog = newWatchdog(cfg.CallTimeout)
	}
	first, err := p.instantiate(ctx)
	if err != nil {
		p.abort(ctx)
		return nil, err
	}
	if err := first.selfCheck(); err != nil {
		p.abort(ctx)
		return nil, err
	}
	p.total = 1
	p.put(first)
	go p.maintain()
	p.fill(ctx)
	return p, nil
}

// abort undoes a NewPool that failed after the runtime started.
func (p *Pool) abort(ctx context.Context) {
	if p.watchdog != nil {
		p.watchdog.close()
	}
	_ = p.rt.Close(ctx)
}

// Name returns Config.Name (codec.Source).
func (p *Pool) Name() string { return p.cfg.Name }

// Acquire leases an instance (codec.Source). See Lease.
func (p *Pool) Acquire(ctx context.Context) (codec.Instance, error) {
	l, err := p.Lease(ctx)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Lease leases an instance: an idle one if any (no instantiation), else a new
// one while fewer than MaxInstances exist, else it blocks until a lease is
// released or ctx ends.
func (p *Pool) Lease(ctx context.Context) (*Lease, error) {
	p.mu.Lock()
	if p.closed.Load() {
		p.mu.Unlock()
		return nil, ErrPoolClosed
	}
	if n := len(p.idle); n > 0 {
		in := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		p.stats.leases.Add(1)
		return &Lease{p: p, inst: in}, nil
	}
	if p.total < p.cfg.MaxInstances {
		p.total++
		p.mu.Unlock()
		return p.leaseNew(ctx)
	}
	w := &waiter{ch: make(chan grant, 1)}
	p.waiters = append(p.waiters, w)
	p.mu.Unlock()

	select {
	case g := <-w.ch:
		return p.take(ctx, g)
	case <-ctx.Done():
	}
	p.mu.Lock()
	for i, x := range p.waiters {
		if x == w {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			p.mu.Unlock()
			return nil, fmt.Errorf("host: acquire: %w", ctx.Err())
		}
	}
	p.mu.Unlock()
	// Granted while giving up: hand it on rather than lose it.
	g := <-w.ch
	if g.err == nil {
		if g.inst != nil {
			p.put(g.inst)
		} else {
			p.releaseSlot()
		}
	}
	return nil, fmt.Errorf("host: acquire: %w", ctx.Err())
}

// take turns a grant into a lease.
func (p *Pool) take(ctx context.Context, g grant) (*Lease, error) {
	if g.err != nil {
		return nil, g.err
	}
	if g.inst == nil {
		return p.leaseNew(ctx)
	}
	p.stats.leases.Add(1)
	return &Lease{p: p, inst: g.inst}, nil
}

// leaseNew instantiates into a slot the caller has reserved.
func (p *Pool) leaseNew(ctx context.Context) (*Lease, error) {
	in, err := p.instantiate(ctx)
	if err != nil {
		p.releaseSlot()
		return nil, err
	}
	p.stats.leases.Add(1)
	return &Lease{p: p, inst: in}, nil
}

// instantiate creates an instance with a unique module name. The caller has
// reserved its slot.
func (p *Pool) instantiate(ctx context.Context) (*instance, error) {
	id := p.nextID.Add(1)
	name := "wc-" + strconv.FormatUint(id, 10)
	mod, err := p.rt.InstantiateModule(ctx, p.compiled, p.modCfg.WithName(name))
	if err != nil {
		if p.closed.Load() {
			return nil, ErrPoolClosed
		}
		return nil, badModule("instantiate: " + err.Error())
	}
	in := &instance{id: id, mod: mod, mem: mod.ExportedMemory("memory"), pool: p, ctx: context.Background()}
	if p.watchdog != nil {
		g, ok := mod.ExportedGlobal(interruptExport).(api.MutableGlobal)
		if !ok {
			_ = mod.Close(ctx)
			return nil, badModule("instrumented module lacks its interrupt global")
		}
		in.flag = g
		p.watchdog.add(in)
	}
	if p.bindgen {
		if err := newBindgen(in); err != nil {
			in.close(ctx)
			return nil, badModule("__wbindgen_start: " + strings.TrimPrefix(err.Error(), "host: "))
		}
	} else {
		for i, e := range abiExports {
			in.fns[i] = mod.ExportedFunction(e.name)
		}
	}
	p.stats.instantiations.Add(1)
	return in, nil
}

// put returns an instance to the pool: to the first waiter, to the idle list,
// or closed, when the pool is closed or the instance's memory grew too big.
func (p *Pool) put(in *instance) {
	if in.mem.Size() > p.cfg.IdleMemoryPages*pageSize {
		in.close(context.Background())
		p.stats.recycled.Add(1)
		p.releaseSlot()
		p.nudge()
		return
	}
	p.mu.Lock()
	if p.closed.Load() {
		p.total--
		p.mu.Unlock()
		in.close(context.Background())
		return
	}
	if len(p.waiters) > 0 {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.mu.Unlock()
		w.ch <- grant{inst: in}
		return
	}
	in.idleSince = time.Now()
	p.idle = append(p.idle, in)
	p.mu.Unlock()
}

// releaseSlot gives up a reserved slot: to the first waiter, who then
// instantiates into it, or back to the pool.
func (p *Pool) releaseSlot() {
	p.mu.Lock()
	if len(p.waiters) > 0 && !p.closed.Load() {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.mu.Unlock()
		w.ch <- grant{}
		return
	}
	p.total--
	p.mu.Unlock()
}

// discard closes an instance after a fault. Its slot stays with the lease.
func (p *Pool) discard(in *instance, err error) {
	in.close(context.Background())
	p.stats.faults.Add(1)
	p.stats.discarded.Add(1)
	switch {
	case errors.Is(err, ErrTimeout):
		p.stats.timeouts.Add(1)
	case errors.Is(err, ErrTrap):
		p.stats.traps.Add(1)
	}
}

// nudge asks the maintainer to restore MinWarm.
func (p *Pool) nudge() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// maintain trims instances idle longer than IdleTrim down to MinWarm idle,
// and restores MinWarm instances after discards and recycling.
func (p *Pool) maintain() {
	defer close(p.stopped)
	var tick <-chan time.Time
	if p.cfg.IdleTrim > 0 {
		period := min(max(p.cfg.IdleTrim/4, time.Millisecond), time.Second)
		t := time.NewTicker(period)
		defer t.Stop()
		tick = t.C
	}
	ctx := context.Background()
	for {
		select {
		case <-p.stop:
			return
		case <-p.wake:
		case <-tick:
			p.trim(ctx, time.Now())
		}
		p.fill(ctx)
	}
}

// trim closes the instances idle since before now-IdleTrim, oldest first,
// keeping MinWarm idle.
func (p *Pool) trim(ctx context.Context, now time.Time) {
	p.mu.Lock()
	n := 0
	for n < len(p.idle)-p.cfg.MinWarm && now.Sub(p.idle[n].idleSince) >= p.cfg.IdleTrim {
		n++
	}
	old := make([]*instance, n)
	copy(old, p.idle[:n])
	p.idle = append(p.idle[:0], p.idle[n:]...)
	p.total -= n
	p.mu.Unlock()
	for _, in := range old {
		in.close(ctx)
		p.stats.trimmed.Add(1)
	}
}

// fill instantiates until MinWarm instances exist.
func (p *Pool) fill(ctx context.Context) {
	for {
		p.mu.Lock()
		if p.closed.Load() || p.total >= p.cfg.MinWarm || p.total >= p.cfg.MaxInstances {
			p.mu.Unlock()
			return
		}
		p.total++
		p.mu.Unlock()
		in, err := p.instantiate(ctx)
		if err != nil {
			p.releaseSlot()
			return
		}
		p.put(in)
	}
}

// Stats returns a snapshot of the counters.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	idle, total := len(p.idle), p.total
	p.mu.Unlock()
	c := &p.stats
	return Stats{
		Leases:         c.leases.Load(),
		Instantiations: c.instantiations.Load(),
		Traps:          c.traps.Load(),
		Timeouts:       c.timeouts.Load(),
		Faults:         c.faults.Load(),
		Discarded:      c.discarded.Load(),
		Recycled:       c.recycled.Load(),
		Trimmed:        c.trimmed.Load(),
		Idle:           idle,
		InUse:          total - idle,
		Total:          total,
	}
}

// Close closes every instance, leased ones included, and the runtime.
// Blocked Acquires and later calls on leases fail with ErrPoolClosed.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed.Swap(true) {
		p.mu.Unlock()
		<-p.stopped
		return p.closeErr
	}
	waiters := p.waiters
	p.waiters = nil
	idle := p.idle
	p.idle = nil
	p.total -= len(idle)
	p.mu.Unlock()
	for _, w := range waiters {
		w.ch <- grant{err: ErrPoolClosed}
	}
	close(p.stop)
	<-p.stopped
	for _, in := range idle {
		in.close(ctx)
	}
	if p.watchdog != nil {
		p.watchdog.close()
	}
	if err := p.rt.Close(ctx); err != nil {
		p.closeErr = fmt.Errorf("host: close runtime: %w", err)
	}
	return p.closeErr
}

// Lease is one instance leased from a Pool; it implements codec.Instance.
// Like any codec.Codec it serves one goroutine at a time. After a fault it
// holds no instance until its next call, which instantiates a fresh one into
// the same slot, so a faulting room never waits behind other rooms.
type Lease struct {
	p        *Pool
	inst     *instance
	released bool
}

// instance returns the lease's instance, replacing a discarded one.
func (l *Lease) instance() (*instance, error) {
	if l.released {
		return nil, ErrReleased
	}
	if l.p.closed.Load() {
		return nil, ErrPoolClosed
	}
	if l.inst == nil {
		in, err := l.p.instantiate(context.Background())
		if err != nil {
			return nil, fmt.Errorf("host: replace discarded instance: %w: %w", err, codec.ErrCodecFault)
		}
		l.inst = in
	}
	return l.inst, nil
}

// Encode implements codec.Codec.
func (l *Lease) Encode(p codec.Packet) ([]byte, error) {
	in, err := l.instance()
	if err != nil {
		return nil, err
	}
	out, err, fault := in.encode(p)
	if fault {
		l.fault(in, err)
	}
	return out, err
}

// Decode implements codec.Codec.
func (l *Lease) Decode(data []byte, maxPayload int) (codec.Packet, error) {
	in, err := l.instance()
	if err != nil {
		return codec.Packet{}, err
	}
	pkt, err, fault := in.decode(data, maxPayload)
	if fault {
		l.fault(in, err)
	}
	return pkt, err
}

// ABIVersion makes the empty call, wc_abi_version, on the leased instance.
func (l *Lease) ABIVersion() (uint32, error) {
	in, err := l.instance()
	if err != nil {
		return 0, err
	}
	if in.bg != nil {
		return 0, badModule("a wasm-bindgen module has no wc_abi_version")
	}
	v, err := in.version()
	if err != nil {
		l.fault(in, err)
	}
	return v, err
}

// fault discards the instance after a faulted call.
func (l *Lease) fault(in *instance, err error) {
	if errors.Is(err, ErrPoolClosed) {
		return
	}
	l.p.discard(in, err)
	l.inst = nil
}

// InstanceID identifies the leased instance (0 when it holds none), so tests
// and logs can tell instances apart. IDs are never reused within a pool.
func (l *Lease) InstanceID() uint64 {
	if l.inst == nil {
		return 0
	}
	return l.inst.id
}

// MemoryBytes is the current size of the leased instance's linear memory.
func (l *Lease) MemoryBytes() uint32 {
	if l.inst == nil {
		return 0
	}
	return l.inst.mem.Size()
}

// Release hands the instance back to the pool (codec.Instance). The lease
// must not be used afterwards; a second Release does nothing.
func (l *Lease) Release() {
	if l.released {
		return
	}
	l.released = true
	in := l.inst
	l.inst = nil
	if in == nil {
		l.p.releaseSlot()
		return
	}
	l.p.put(in)
}
