package host

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/corpus"
)

// fuzzMaxPayload keeps fuzz iterations fast while still crossing the 64 KB
// block boundary, so too_large is reachable.
const fuzzMaxPayload = 1 << 16

// fuzzLease is one WASM instance per fuzz process; fuzz functions run one at
// a time within a process.
var fuzzLease = sync.OnceValues(func() (*Lease, error) {
	p, err := NewPool(context.Background(), embeddedModule(), Config{MinWarm: 1, MaxInstances: 1})
	if err != nil {
		return nil, err
	}
	return p.Lease(context.Background())
})

func fuzzCodecs(t *testing.T) (goc, wasmc codec.Codec) {
	l, err := fuzzLease()
	if err != nil {
		t.Fatal(err)
	}
	return codec.NewGo(), l
}

// FuzzDecodeAgree: on any bytes the Go and WASM decoders agree: both accept
// with the same fields, or both reject with the same class. An accepted
// packet re-encodes, with either codec, to bytes both decode to the same
// fields.
func FuzzDecodeAgree(f *testing.F) {
	for _, v := range golden(f) {
		f.Add(v.Packet)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		goc, wasmc := fuzzCodecs(t)
		gp, gerr := goc.Decode(data, fuzzMaxPayload)
		wp, werr := wasmc.Decode(data, fuzzMaxPayload)
		if gc, wc := codec.Class(gerr), codec.Class(werr); gc != wc {
			t.Fatalf("go: %v (%q), wasm: %v (%q)", gerr, gc, werr, wc)
		}
		if gerr != nil {
			if codec.Class(gerr) == "" {
				t.Fatalf("unclassified error %v", gerr)
			}
			return
		}
		if d := corpus.Diff(wp, gp); d != "" {
			t.Fatalf("wasm decoded %s", d)
		}
		roundTrip(t, gp, goc, wasmc)
	})
}

// FuzzRoundTrip: any fields encode with both codecs (or are refused by both
// with the same class), and each encoding decodes to the same fields with
// both.
func FuzzRoundTrip(f *testing.F) {
	for _, v := range golden(f) {
		if v.Valid() && len(v.Payload) <= fuzzMaxPayload {
			p := v.Fields()
			f.Add(uint32(p.Kind), deref(p.MessageID), p.MessageID != nil, deref(p.UserID), p.UserID != nil,
				int64(reactionOr(p.Reaction)), p.Payload)
		}
	}
	f.Fuzz(func(t *testing.T, kind uint32, mid string, hasMid bool, uid string, hasUID bool, reaction int64, payload []byte) {
		if len(payload) > fuzzMaxPayload {
			payload = payload[:fuzzMaxPayload]
		}
		p := codec.Packet{Kind: codec.Kind(kind % 8), Payload: payload}
		if hasMid {
			p.MessageID = &mid
		}
		if hasUID {
			p.UserID = &uid
		}
		if reaction >= 0 {
			p.Reaction = codec.ReactionPtr(codec.Reaction(reaction % 7))
		}
		goc, wasmc := fuzzCodecs(t)
		gb, gerr := goc.Encode(p)
		wb, werr := wasmc.Encode(p)
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("go encode: %v, wasm encode: %v", gerr, werr)
		}
		if gerr != nil {
			// The ABI fixes no order among encode checks, so the class must
			// agree only when the fields have a single defect.
			badEnum := p.Kind > codec.MaxKind || p.Reaction != nil && *p.Reaction > codec.MaxReaction
			badUTF8 := hasMid && !utf8.ValidString(mid) || hasUID && !utf8.ValidString(uid)
			if codec.Class(werr) == "codec_fault" || badEnum != badUTF8 && codec.Class(gerr) != codec.Class(werr) {
				t.Fatalf("go encode: %v, wasm encode: %v", gerr, werr)
			}
			return
		}
		for _, b := range [][]byte{gb, wb} {
			for _, c := range []codec.Codec{goc, wasmc} {
				got, err := c.Decode(b, fuzzMaxPayload)
				if err != nil {
					t.Fatalf("decode %x: %v", b, err)
				}
				if d := corpus.Diff(got, p); d != "" {
					t.Fatalf("decode %x: %s", b, d)
				}
			}
		}
		ge, _ := codec.ParseEnvelope(gb)
		we, _ := codec.ParseEnvelope(wb)
		if !bytes.Equal(gb[:ge.PrefixLen], wb[:we.PrefixLen]) {
			t.Fatalf("envelopes differ: go %x, wasm %x", gb[:ge.PrefixLen], wb[:we.PrefixLen])
		}
	})
}

// roundTrip encodes p with every codec and checks every codec decodes it back.
func roundTrip(t *testing.T, p codec.Packet, codecs ...codec.Codec) {
	t.Helper()
	for _, enc := range codecs {
		b, err := enc.Encode(p)
		if err != nil {
			t.Fatalf("encode of decoded packet: %v", err)
		}
		for _, dec := range codecs {
			got, err := dec.Decode(b, fuzzMaxPayload)
			if err != nil {
				t.Fatalf("decode of re-encoded packet: %v", err)
			}
			if d := corpus.Diff(got, p); d != "" {
				t.Fatalf("decode of re-encoded packet: %s", d)
			}
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func reactionOr(r *codec.Reaction) int {
	if r == nil {
		return -1
	}
	return int(*r)
}

// fuzzOriginal is one instance of the original build per fuzz process.
var fuzzOriginal = sync.OnceValues(func() (*Lease, error) {
	p, err := NewPool(context.Background(), upstreamBytes(), Config{MinWarm: 1, MaxInstances: 1})
	if err != nil {
		return nil, err
	}
	return p.Lease(context.Background())
})

// FuzzOriginalAgree: on any bytes the Go codec and the original build,
// inside the host's strict checks, agree: the same fields, or the same
// class. A fault of the original (a trap, a throw, a disagreement with the
// host's parse) is a failure.
func FuzzOriginalAgree(f *testing.F) {
	upstream(f)
	for _, v := range golden(f) {
		f.Add(v.Packet)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		orig, err := fuzzOriginal()
		if err != nil {
			t.Fatal(err)
		}
		gp, gerr := codec.NewGo().Decode(data, fuzzMaxPayload)
		op, oerr := orig.Decode(data, fuzzMaxPayload)
		if gc, oc := codec.Class(gerr), codec.Class(oerr); gc != oc {
			t.Fatalf("go: %v (%q), original: %v (%q)", gerr, gc, oerr, oc)
		}
		if gerr == nil {
			if d := corpus.Diff(op, gp); d != "" {
				t.Fatalf("original decoded %s", d)
			}
		}
	})
}
