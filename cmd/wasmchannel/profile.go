package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
)

// startCPUProfile profiles the process into path until the returned func
// runs (safe to call twice); an empty path profiles nothing.
func startCPUProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			f.Close()
		})
	}, nil
}

// writeHeapProfileTo writes a heap profile to path and, beside it in
// path.memstats.txt, what the heap profile leaves out (goroutine stacks,
// memory the runtime holds but has not returned), which says where the
// rest of RSS is.
func writeHeapProfileTo(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	summary := fmt.Sprintf("goroutines %d\nheap_inuse %d\nheap_idle %d\nheap_released %d\nstack_inuse %d\nsys %d\nnum_gc %d\n",
		runtime.NumGoroutine(), m.HeapInuse, m.HeapIdle, m.HeapReleased, m.StackInuse, m.Sys, m.NumGC)
	if err := os.WriteFile(path+".memstats.txt", []byte(summary), 0o644); err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	return nil
}
