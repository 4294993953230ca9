package codec_test

import (
	"bytes"
	"testing"

	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/corpus"
)

// viewCodec decodes through DecodeView and copies the view into a Packet,
// so the golden checks can run on it as on any codec.
type viewCodec struct {
	g *codec.Go
	v codec.View
}

func (c *viewCodec) Encode(p codec.Packet) ([]byte, error) { return c.g.Encode(p) }

func (c *viewCodec) Decode(data []byte, maxPayload int) (codec.Packet, error) {
	if err := c.g.DecodeView(data, maxPayload, &c.v); err != nil {
		return codec.Packet{}, err
	}
	return packetOf(&c.v), nil
}

// packetOf copies a view into a Packet that owns its memory.
func packetOf(v *codec.View) codec.Packet {
	p := codec.Packet{Kind: v.Kind, Payload: bytes.Clone(v.Payload)}
	if p.Payload == nil {
		p.Payload = []byte{}
	}
	if v.HasMessageID {
		p.MessageID = codec.Str(string(v.MessageID))
	}
	if v.HasUserID {
		p.UserID = codec.Str(string(v.UserID))
	}
	if v.HasReaction {
		p.Reaction = codec.ReactionPtr(v.Reaction)
	}
	return p
}

// TestDecodeViewGolden runs every golden vector, valid and malformed,
// through one Go codec's DecodeView, so its payload buffer is reused across
// packets of every size: it must classify and decode each as Decode does.
func TestDecodeViewGolden(t *testing.T) {
	var out bytes.Buffer
	passed, failed, err := corpus.RunCheck(&out, &viewCodec{g: codec.NewGo()}, goldenFiles, corpus.DefaultMaxPayload)
	if err != nil {
		t.Fatal(err)
	}
	if failed != 0 || passed != 704 {
		t.Fatalf("%d passed, %d failed, want 704 and 0:\n%s", passed, failed, out.String())
	}
}

// TestDecodeViewSameErrors checks that DecodeView reports the very error
// Decode reports, and leaves the view alone on error.
func TestDecodeViewSameErrors(t *testing.T) {
	vs, err := golden()
	if err != nil {
		t.Fatal(err)
	}
	g, ref := codec.NewGo(), codec.NewGo()
	for name, v := range vs {
		want, wantErr := ref.Decode(v.Packet, corpus.DefaultMaxPayload)
		view := codec.View{Kind: 99}
		err := g.DecodeView(v.Packet, corpus.DefaultMaxPayload, &view)
		switch {
		case (err == nil) != (wantErr == nil):
			t.Errorf("%s: DecodeView %v, Decode %v", name, err, wantErr)
		case err != nil && err.Error() != wantErr.Error():
			t.Errorf("%s: DecodeView %q, Decode %q", name, err, wantErr)
		case err != nil && view.Kind != 99:
			t.Errorf("%s: a failed DecodeView changed the view", name)
		case err == nil:
			if d := corpus.Diff(packetOf(&view), want); d != "" {
				t.Errorf("%s: %s", name, d)
			}
		}
	}
}

// TestDecodeViewAbsentAndEmptyIDs tells an absent id from an empty one.
func TestDecodeViewAbsentAndEmptyIDs(t *testing.T) {
	g := codec.NewGo()
	data, err := g.Encode(codec.Packet{Kind: codec.KindMessage, UserID: codec.Str(""), Payload: []byte("hi")})
	if err != nil {
		t.Fatal(err)
	}
	var v codec.View
	if err := g.DecodeView(data, 1<<10, &v); err != nil {
		t.Fatal(err)
	}
	if v.HasMessageID || v.MessageID != nil || !v.HasUserID || len(v.UserID) != 0 || v.HasReaction || string(v.Payload) != "hi" {
		t.Fatalf("view %+v", v)
	}
}

// TestDecodeViewAllocatesNothing: once the buffer has grown, a packet
// costs no allocation.
func TestDecodeViewAllocatesNothing(t *testing.T) {
	g := codec.NewGo()
	data, err := g.Encode(corpus.BenchPacket(200, "text"))
	if err != nil {
		t.Fatal(err)
	}
	var v codec.View
	if err := g.DecodeView(data, 1<<20, &v); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := g.DecodeView(data, 1<<20, &v); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per DecodeView", n)
	}
}

// FuzzDecodeView decodes arbitrary bytes both ways with one codec each:
// DecodeView must agree with Decode on the error and on every field.
func FuzzDecodeView(f *testing.F) {
	addGoldenSeeds(f)
	g, ref := codec.NewGo(), codec.NewGo()
	var view codec.View
	f.Fuzz(func(t *testing.T, data []byte) {
		want, wantErr := ref.Decode(data, 1<<20)
		err := g.DecodeView(data, 1<<20, &view)
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("DecodeView %v, Decode %v", err, wantErr)
		}
		if err == nil {
			if d := corpus.Diff(packetOf(&view), want); d != "" {
				t.Fatal(d)
			}
		}
	})
}
