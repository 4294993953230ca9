package host

import (
	"context"
	"errors"
	"testing"

	"github.com/wasmchannel/wasmchannel/codec"
)

// megPackets are packets whose payloads are exactly 1 MiB, the default
// max_payload of `codec check`: incompressible and highly compressible.
func megPackets(t *testing.T) map[string][]byte {
	t.Helper()
	random := benchPacket(1<<20, "random")
	text := benchPacket(1<<20, "text")
	out := map[string][]byte{}
	for name, p := range map[string]codec.Packet{"random": random, "text": text} {
		b, err := codec.NewGo().Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = b
	}
	return out
}

// TestMemoryLimitDecodes1MiB: the default memory limit decodes and encodes
// a 1 MiB payload; it also logs the smallest limit that does, the number
// DefaultMemoryLimitPages was chosen from.
func TestMemoryLimitDecodes1MiB(t *testing.T) {
	pkts := megPackets(t)
	try := func(pages uint32) error {
		p, err := NewPool(context.Background(), embedded(t), Config{MinWarm: 1, MaxInstances: 1, MemoryLimitPages: pages})
		if err != nil {
			return err
		}
		defer p.Close(context.Background())
		l := lease(t, p)
		for name, pkt := range pkts {
			got, err := l.Decode(pkt, 1<<20)
			if err != nil {
				return err
			}
			if len(got.Payload) != 1<<20 {
				t.Fatalf("%s: decoded %d bytes", name, len(got.Payload))
			}
			if _, err := l.Encode(got); err != nil {
				return err
			}
		}
		return nil
	}
	if err := try(DefaultMemoryLimitPages); err != nil {
		t.Fatalf("default limit %d pages: %v", DefaultMemoryLimitPages, err)
	}
	smallest := uint32(0)
	for pages := uint32(8); pages < DefaultMemoryLimitPages; pages += 8 {
		if err := try(pages); err == nil {
			smallest = pages
			break
		} else if !errors.Is(err, ErrOutOfMemory) && !errors.Is(err, ErrBadModule) {
			t.Fatalf("%d pages: %v, want out of memory", pages, err)
		}
	}
	t.Logf("smallest limit that decodes and re-encodes 1 MiB: %d pages (%d KiB); default %d pages",
		smallest, smallest*64, DefaultMemoryLimitPages)
	if smallest == 0 || smallest*2 > DefaultMemoryLimitPages {
		t.Errorf("default %d pages leaves less than 2x headroom over the %d needed", DefaultMemoryLimitPages, smallest)
	}
}
