package sqlite

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
)

// cpuTime is the process's user+system CPU time so far. Wall time of a
// synced commit is mostly waiting on the disk; issue 17 is about CPU.
func cpuTime(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchWriteOps stores b.N transactions of batch messages each, as the
// group-commit writer hands them to WriteOps: 200-byte payloads, random
// reference ids, rooms taken in turn from 20. It reports the CPU
// microseconds per stored message beside the wall time.
func benchWriteOps(b *testing.B, batch int, pragmas ...string) {
	d := MustOpenDB(b)
	for _, p := range pragmas {
		// The writer pool's one connection lives as long as d.
		if _, err := d.wr.Exec(`PRAGMA ` + p); err != nil {
			b.Fatal(err)
		}
	}
	payload := make([]byte, 200)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	ops := make([]chat.Op, batch)
	msgs := make([]chat.Message, batch)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	n := 0
	took := make([]time.Duration, 0, b.N)
	for range b.N {
		start := time.Now()
		for j := range msgs {
			msgs[j] = chat.Message{Room: fmt.Sprintf("room%02d", n%20), RefID: rand.Text(), UserID: "u", Payload: payload}
			ops[j] = chat.Op{Message: &msgs[j]}
			n++
		}
		res, err := d.WriteOps(ctx, ops)
		if err != nil {
			b.Fatal(err)
		}
		if !res[0].Fresh || res[0].Message.Seq == 0 {
			b.Fatalf("first message not stored fresh: %+v", res[0])
		}
		took = append(took, time.Since(start))
	}
	cpu := cpuTime(b) - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-us/msg")
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
	// The slowest commits are what a sender waits on at p99: a WAL
	// checkpoint runs inside the commit that crosses its threshold.
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, "max-ms")
}

// BenchmarkWriterOnePerCommit is the light load of issue 17 row 7: each
// message is a transaction of its own, synced, so the per-transaction
// costs (head lookups, BEGIN, COMMIT) dominate.
func BenchmarkWriterOnePerCommit(b *testing.B) { benchWriteOps(b, 1) }

// BenchmarkWriterBatch64 is the saturated load of issue 17 row 3: batches
// of 64 messages over 20 rooms, so the per-row insert cost dominates.
func BenchmarkWriterBatch64(b *testing.B) { benchWriteOps(b, 64) }

// BenchmarkWriterPragmas measures what WAL settings the store does not use
// would buy, one message per commit and batches of 64: synchronous=NORMAL
// (no fsync per commit; a power loss may lose the last commits) and larger
// auto-checkpoints (fewer checkpoints, each copying more).
func BenchmarkWriterPragmas(b *testing.B) {
	for _, batch := range []int{1, 64} {
		for _, p := range []string{"synchronous=FULL", "synchronous=NORMAL", "wal_autocheckpoint=4000", "wal_autocheckpoint=16000"} {
			b.Run(fmt.Sprintf("batch=%d/%s", batch, p), func(b *testing.B) { benchWriteOps(b, batch, p) })
		}
	}
}
