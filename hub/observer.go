package hub

import "github.com/wasmchannel/wasmchannel/codec"

// Observer receives the hub's events for metrics. Methods are called from
// room goroutines and must not block.
type Observer interface {
	PacketIn(kind codec.Kind)
	// PacketOut counts one packet of kind queued to n connections.
	PacketOut(kind codec.Kind, n int)
	// Rejected counts a refused client packet by error class (a codec class,
	// or "rule" for a client-rule violation, or "codec_fault").
	Rejected(class string)
	RateLimited()
	ConnectionsDelta(d int)
	RoomsActive(n int)
	SlowClientDropped()
}

type nopObserver struct{}

func (nopObserver) PacketIn(codec.Kind)       {}
func (nopObserver) PacketOut(codec.Kind, int) {}
func (nopObserver) Rejected(string)           {}
func (nopObserver) RateLimited()              {}
func (nopObserver) ConnectionsDelta(int)      {}
func (nopObserver) RoomsActive(int)           {}
func (nopObserver) SlowClientDropped()        {}
