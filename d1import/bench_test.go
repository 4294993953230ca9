package d1import_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/d1import"
	"github.com/wasmchannel/wasmchannel/d1import/d1fixture"
	"github.com/wasmchannel/wasmchannel/db"
)

// BenchmarkImport reads, maps and writes the 10,000-message dump into a
// fresh SQLite file each round; b.SetBytes is the dump's size. The read
// half alone is BenchmarkLoadMap.
func BenchmarkImport(b *testing.B) {
	f := d1fixture.Gen(b, "final", 10000)
	b.SetBytes(fileSize(b, f.Dump))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		st, err := db.Open(context.Background(), filepath.Join(b.TempDir(), "t.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		d, err := d1import.Load(context.Background(), f.Dump, nil)
		if err != nil {
			b.Fatal(err)
		}
		p, err := d.Map(context.Background(), d1import.MapOptions{Sessions: true, Now: time.Now()})
		if err != nil {
			b.Fatal(err)
		}
		if err := d1import.Write(context.Background(), p, st, d1import.Options{Secret: d1fixture.Secret}); err != nil {
			b.Fatal(err)
		}
		d.Close()
		b.StopTimer()
		st.Close()
		b.StartTimer()
	}
}

func BenchmarkLoadMap(b *testing.B) {
	f := d1fixture.Gen(b, "final", 10000)
	b.SetBytes(fileSize(b, f.Dump))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, err := d1import.Load(context.Background(), f.Dump, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := d.Map(context.Background(), d1import.MapOptions{Now: time.Now()}); err != nil {
			b.Fatal(err)
		}
		d.Close()
	}
}

func fileSize(tb testing.TB, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size()
}
