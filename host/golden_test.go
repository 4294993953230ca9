package host

import (
	"bytes"
	"testing"

	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/corpus"
)

// namedCodec is one side of a cross-check.
type namedCodec struct {
	name string
	c    codec.Codec
}

// bothCodecs returns the Go codec and a leased instance of the embedded
// WASM codec.
func bothCodecs(t *testing.T) []namedCodec {
	t.Helper()
	p := newPool(t, Config{MinWarm: 1, MaxInstances: 1})
	return []namedCodec{{"go", codec.NewGo()}, {"wasm", lease(t, p)}}
}

// TestGoldenBothCodecs: each codec passes every golden vector on its own
// (corpus.Check: decodes valid packets to exactly their fields, round-trips
// its own encoding, keeps upstream's envelope bytes, rejects every malformed
// packet with its class).
func TestGoldenBothCodecs(t *testing.T) {
	vectors := golden(t)
	for _, nc := range bothCodecs(t) {
		t.Run(nc.name, func(t *testing.T) {
			failed := 0
			for _, v := range vectors {
				if err := corpus.Check(nc.c, v, corpus.DefaultMaxPayload); err != nil {
					t.Errorf("%s: %v", v.Name, err)
					if failed++; failed > 20 {
						t.Fatal("too many failures")
					}
				}
			}
		})
	}
}

// TestGoldenCrossCodec: each codec's encoding of every valid vector decodes
// to the same fields with both codecs; both encodings carry the same
// envelope as upstream's packet, apart from the payload and the crc; every
// malformed vector gets the same class from both.
func TestGoldenCrossCodec(t *testing.T) {
	codecs := bothCodecs(t)
	for _, v := range golden(t) {
		if !v.Valid() {
			for _, nc := range codecs {
				_, err := nc.c.Decode(v.Packet, corpus.DefaultMaxPayload)
				if got := codec.Class(err); got != v.Error {
					t.Errorf("%s: %s decoder class %q, want %q", v.Name, nc.name, got, v.Error)
				}
			}
			continue
		}
		want := v.Fields()
		up, err := codec.ParseEnvelope(v.Packet)
		if err != nil {
			t.Fatalf("%s: upstream envelope: %v", v.Name, err)
		}
		for _, enc := range codecs {
			pkt, err := enc.c.Encode(want)
			if err != nil {
				t.Errorf("%s: %s encode: %v", v.Name, enc.name, err)
				continue
			}
			e, err := codec.ParseEnvelope(pkt)
			if err != nil {
				t.Errorf("%s: %s encoding: %v", v.Name, enc.name, err)
				continue
			}
			if !bytes.Equal(pkt[:e.PrefixLen], v.Packet[:up.PrefixLen]) || e.Serialized != up.Serialized {
				t.Errorf("%s: %s envelope %x serialized %d, upstream %x serialized %d", v.Name, enc.name,
					pkt[:e.PrefixLen], e.Serialized, v.Packet[:up.PrefixLen], up.Serialized)
			}
			for _, dec := range codecs {
				got, err := dec.c.Decode(pkt, corpus.DefaultMaxPayload)
				if err != nil {
					t.Errorf("%s: %s decoding %s's encoding: %v", v.Name, dec.name, enc.name, err)
					continue
				}
				if d := corpus.Diff(got, want); d != "" {
					t.Errorf("%s: %s decoding %s's encoding: %s", v.Name, dec.name, enc.name, d)
				}
			}
		}
	}
}
