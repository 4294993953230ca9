package auth

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkSignInFlood signs in from many goroutines at once at Better
// Auth's cost, with GOMAXPROCS=16 as in issue 15's finding, and reports the
// peak heap: with the default budget it stays near DefaultHashMemory; with
// the budget lifted (what a per-core bound amounts to on a big machine) it
// grows with the number of concurrent hashes. Run with -benchtime=Nx.
func BenchmarkSignInFlood(b *testing.B) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(16))
	def := DefaultConfig()
	for _, bc := range []struct {
		name   string
		memory int64
	}{
		{"budget=default", def.HashMemory},
		{"budget=lifted", 64 * def.Scrypt.Memory()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := newFixture(b, nil, func(c *Config) {
				c.Scrypt = def.Scrypt
				c.HashMemory = bc.memory
				c.HashQueue = 1 << 20
				c.HashWait = time.Hour
				c.Limits = Limits{Disabled: true}
			})
			f.signUp(b, "ann@example.com", "password123")
			runtime.GC()
			var peak atomic.Uint64
			stop := make(chan struct{})
			var sampler sync.WaitGroup
			sampler.Add(1)
			go func() {
				defer sampler.Done()
				var ms runtime.MemStats
				for {
					runtime.ReadMemStats(&ms)
					if ms.HeapInuse > peak.Load() {
						peak.Store(ms.HeapInuse)
					}
					select {
					case <-stop:
						return
					case <-time.After(2 * time.Millisecond):
					}
				}
			}()
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			var failed atomic.Int64
			for i := 0; i < b.N; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := f.signInFrom(fmt.Sprintf("10.3.%d.%d", i/250, i%250), "ann@example.com", "password123"); err != nil {
						failed.Add(1)
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			close(stop)
			sampler.Wait()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d sign-ins failed", n)
			}
			_, hpeak, _ := f.svc.hashes.stats()
			b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(hpeak)/(1<<20), "peak-budget-MiB")
		})
	}
}
