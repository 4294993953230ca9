package loadgen

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/wasmchannel/wasmchannel/codec"
)

// TestCodecWire decodes each kind of packet the server sends, and refuses
// a packet with any byte changed: the generator checks what it counts.
func TestCodecWire(t *testing.T) {
	w := Wasmchannel{}.NewWire("r")
	g := codec.NewGo()
	enc := func(p codec.Packet) []byte {
		t.Helper()
		b, err := g.Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	msg := enc(codec.Packet{Kind: codec.KindMessage, MessageID: codec.Str("ab.0.1.2"), UserID: codec.Str("u"), Payload: []byte("t=1 q=2 hello")})
	cases := []struct {
		name string
		data []byte
		want Event
	}{
		{"message", msg, Event{Kind: EventMessage, ID: []byte("ab.0.1.2"), Payload: []byte("t=1 q=2 hello")}},
		{"notice", enc(codec.Packet{Kind: codec.KindMessage, Payload: []byte("rate limit")}), Event{Kind: EventNotice, Payload: []byte("rate limit")}},
		{"presence", enc(codec.Packet{Kind: codec.KindOnlineUsers, Payload: []byte("3")}), Event{Kind: EventPresence}},
		{"typing", enc(codec.Packet{Kind: codec.KindTyping, UserID: codec.Str("u")}), Event{Kind: EventOther}},
	}
	var evs []Event
	for _, c := range cases {
		var err error
		evs, err = w.Decode(c.data, evs[:0])
		if err != nil || len(evs) != 1 {
			t.Fatalf("%s: %d events, %v", c.name, len(evs), err)
		}
		got := evs[0]
		if got.Kind != c.want.Kind || !bytes.Equal(got.ID, c.want.ID) || (c.want.Payload != nil && !bytes.Equal(got.Payload, c.want.Payload)) {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
	// The crc covers the payload frame, not the ids (protocol.md): a
	// changed id is caught by ParseMessageID and the payload's own copy of
	// the sequence number, a changed payload here.
	env, err := codec.ParseEnvelope(msg)
	if err != nil {
		t.Fatal(err)
	}
	for i := env.PrefixLen; i < len(msg); i++ {
		bad := bytes.Clone(msg)
		bad[i] ^= 0x20
		if evs, err := w.Decode(bad, nil); err == nil {
			t.Errorf("byte %d changed: decoded %+v", i, evs)
		}
	}
	for _, bad := range [][]byte{nil, {0}, msg[:len(msg)-1], append(bytes.Clone(msg), 0)} {
		if _, err := w.Decode(bad, nil); err == nil {
			t.Errorf("%x decoded", bad)
		}
	}
}

// TestCentrifugoWireMalformed: a broken line is an error after the events
// of the lines before it; escapes and unknown shapes go through the JSON
// decoder and still come out right.
func TestCentrifugoWireMalformed(t *testing.T) {
	w := Centrifugo{}.NewWire("room-1")
	good := `{"push":{"channel":"room-1","pub":{"data":{"id":"run.0.1.2","text":"t=1 q=2 x"}}}}`
	evs, err := w.Decode([]byte(good+"\n"+`{"push":{"channel":"room-1","pub":{"data":{"id":"run.0.1.3","text":"t=1 q=3`+"\n"+good), nil)
	if err == nil || len(evs) != 1 || string(evs[0].ID) != "run.0.1.2" {
		t.Errorf("frame with a cut line: %+v, %v; want the first event and an error", evs, err)
	}
	escaped := `{"push":{"channel":"room-1","pub":{"data":{"id":"run.0.1.2","text":"t=1 q=2 \"hi\"\\n"}}}}`
	evs, err = w.Decode([]byte(escaped), nil)
	if err != nil || len(evs) != 1 || string(evs[0].ID) != "run.0.1.2" || string(evs[0].Payload) != "t=1 q=2 \"hi\"\\n" {
		t.Errorf("escaped text: %+v, %v", evs, err)
	}
	reordered := `{"push":{"pub":{"data":{"text":"t=1 q=2 x","id":"run.0.1.2"}},"channel":"room-1"}}`
	evs, err = w.Decode([]byte(reordered), nil)
	if err != nil || len(evs) != 1 || evs[0].Kind != EventMessage || string(evs[0].ID) != "run.0.1.2" {
		t.Errorf("reordered push: %+v, %v", evs, err)
	}
	for _, bad := range []string{`{`, `[1,2]x`, `{"push":{"channel":1}}`, "\x00"} {
		if _, err := w.Decode([]byte(bad), nil); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
	evs, err = w.Decode([]byte("\n \n"+good+"\r\n\n"), nil)
	if err != nil || len(evs) != 1 {
		t.Errorf("blank lines around a push: %+v, %v", evs, err)
	}
}

// TestReceiveAllocatesNothing: once buffers have grown, decoding and
// accounting a receipt allocates nothing on either wire.
func TestReceiveAllocatesNothing(t *testing.T) {
	const run = "ab12cd34"
	payload := AppendPayload(nil, time.Now().UnixNano(), 5, Filler(200, 1), 200)
	cf := Centrifugo{}.NewWire("room-1")
	cfFrame, err := cf.Encode(MessageID(run, 0, 1, 5), payload)
	if err != nil {
		t.Fatal(err)
	}
	// What Centrifugo pushes for that publish, twelve to a frame.
	push := strings.Replace(string(cfFrame), `{"id":1,"publish":{"channel":"room-1","data":`, `{"push":{"channel":"room-1","pub":{"data":`, 1)
	push = strings.TrimSuffix(push, "}") + `,"info":{"user":"u","client":"c"}}}`
	cfFrame = []byte(strings.Repeat(push+"\n", 11) + push)
	cw := Wasmchannel{}.NewWire("room-1")
	cwFrame, err := cw.Encode(MessageID(run, 0, 1, 5), payload)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		w     Wire
		frame []byte
		n     int
	}{{"wasmchannel", cw, cwFrame, 1}, {"centrifugo", cf, cfFrame, 12}} {
		evs, err := c.w.Decode(c.frame, nil)
		if err != nil || len(evs) != c.n {
			t.Fatalf("%s: %d events, %v", c.name, len(evs), err)
		}
		allocs := testing.AllocsPerRun(100, func() {
			evs, _ = c.w.Decode(c.frame, evs[:0])
			for i := range evs {
				if _, _, _, _, err := ParseMessageID(run, evs[i].ID); err != nil {
					t.Fatal(err)
				}
				if _, seq, err := ParsePayload(evs[i].Payload); err != nil || seq != 5 {
					t.Fatal(seq, err)
				}
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per frame", c.name, allocs)
		}
	}
}

// TestHistogramMerge: per-client histograms merged give the figures of
// one histogram that saw every sample.
func TestHistogramMerge(t *testing.T) {
	var all, merged Histogram
	parts := make([]Histogram, 3)
	for i := range 3000 {
		d := time.Duration(i*i%100_003) * time.Microsecond
		all.Record(d)
		parts[i%3].Record(d)
	}
	for i := range parts {
		merged.Merge(&parts[i])
	}
	merged.Merge(new(Histogram))
	if merged.Count() != all.Count() || merged.Min() != all.Min() || merged.Max() != all.Max() || merged.Mean() != all.Mean() {
		t.Fatalf("merged count %d min %v max %v mean %v; want %d %v %v %v",
			merged.Count(), merged.Min(), merged.Max(), merged.Mean(), all.Count(), all.Min(), all.Max(), all.Mean())
	}
	for _, q := range []float64{0.5, 0.99, 0.999} {
		if merged.Quantile(q) != all.Quantile(q) {
			t.Errorf("Quantile(%v) = %v, want %v", q, merged.Quantile(q), all.Quantile(q))
		}
	}
}

// BenchmarkReceive is the generator's decode and check of one delivery on
// each wire, as row 1 of issue 17 sends it (200 B text): the Go codec's
// view decode of one packet per frame, against Centrifugo's twelve
// publications a frame. ns/delivery is the figure to compare.
func BenchmarkReceive(b *testing.B) {
	const run = "ab12cd34"
	payload := AppendPayload(nil, time.Now().UnixNano(), 5, Filler(200, 1), 200)
	id := MessageID(run, 0, 13, 5)
	pkt, err := codec.NewGo().Encode(codec.Packet{Kind: codec.KindMessage, MessageID: &id, UserID: codec.Str("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), Payload: payload})
	if err != nil {
		b.Fatal(err)
	}
	push := `{"push":{"channel":"room-1","pub":{"data":{"id":"` + id + `","text":"` + string(payload) + `"},"info":{"user":"bench-ab12cd34-13","client":"0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"}}}}`
	for _, c := range []struct {
		name  string
		w     Wire
		frame []byte
		n     int
	}{
		{"wasmchannel", Wasmchannel{}.NewWire("room-1"), pkt, 1},
		{"centrifugo", Centrifugo{}.NewWire("room-1"), []byte(strings.Repeat(push+"\n", 11) + push), 12},
	} {
		b.Run(c.name, func(b *testing.B) {
			var evs []Event
			b.ReportAllocs()
			for b.Loop() {
				evs, _ = c.w.Decode(c.frame, evs[:0])
				for i := range evs {
					if _, _, _, _, err := ParseMessageID(run, evs[i].ID); err != nil {
						b.Fatal(err)
					}
					if _, _, err := ParsePayload(evs[i].Payload); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*c.n), "ns/delivery")
		})
	}
}
