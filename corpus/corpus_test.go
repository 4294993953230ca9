package corpus

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmchannel/wasmchannel/codec"
)

var goldenFiles = []string{
	filepath.Join("..", "testdata", "golden", "packets.jsonl"),
	filepath.Join("..", "testdata", "golden", "malformed.jsonl"),
}

const example = `{"name":"v000-random-0","kind":3,"message_id":null,"user_id":"user-xxxx","reaction_kind":1,"payload_hex":"","packet_hex":"03000109757365722d7878787801010b04224d186040820000000001fc367abd5f"}`

func TestParse(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		n       int
		wantErr string
	}{
		{"valid", example, 1, ""},
		{"blank lines", "\n" + example + "\n\n  \n" + example, 2, ""},
		{"no final newline", example, 1, ""},
		{"malformed", `{"name":"kind-0","error":"invalid_enum","packet_hex":"06","original_accepts":false}`, 1, ""},
		{"bad JSON on line 2", example + "\n{nope\n", 0, "line 2: bad JSON"},
		{"bad packet hex", `{"name":"x","kind":0,"payload_hex":"","packet_hex":"0g"}`, 0, "line 1: x: bad packet_hex"},
		{"bad payload hex", `{"name":"x","kind":0,"payload_hex":"abc","packet_hex":"00"}`, 0, "line 1: x: bad payload_hex"},
		{"missing name", `{"kind":0,"payload_hex":"","packet_hex":"00"}`, 0, "line 1: missing name"},
		{"missing packet", `{"name":"x","kind":0,"payload_hex":""}`, 0, "missing packet_hex"},
		{"missing kind", `{"name":"x","payload_hex":"","packet_hex":"00"}`, 0, "missing kind"},
		{"missing payload", `{"name":"x","kind":1,"packet_hex":"00"}`, 0, "missing payload_hex"},
		{"unknown class", `{"name":"x","error":"oops","packet_hex":"00"}`, 0, `unknown error class "oops"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vs, err := Parse(strings.NewReader(c.in))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(vs) != c.n {
				t.Fatalf("%d vectors, want %d", len(vs), c.n)
			}
		})
	}

	vs, err := Parse(strings.NewReader(example))
	if err != nil {
		t.Fatal(err)
	}
	v := vs[0]
	if !v.Valid() || v.Kind != codec.KindReaction || v.MessageID != nil || *v.UserID != "user-xxxx" ||
		*v.Reaction != codec.ReactionLike || len(v.Payload) != 0 || len(v.Packet) != 33 {
		t.Fatalf("parsed %+v", v)
	}
}

func TestLoadFile(t *testing.T) {
	vs, err := LoadFile(goldenFiles[1])
	if err != nil || len(vs) != 464 {
		t.Fatalf("%d vectors, %v", len(vs), err)
	}
	if _, err := LoadFile("no/such/file.jsonl"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	if err := os.WriteFile(bad, []byte(example+"\n"+example+"\n{\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadFile(bad)
	if err == nil || !strings.Contains(err.Error(), bad+": line 3:") {
		t.Fatalf("bad file: %v", err)
	}
}

// fake wraps the Go codec and lets a test corrupt what it returns.
type fake struct {
	g   *codec.Go
	enc func([]byte) []byte
	dec func(codec.Packet, error) (codec.Packet, error)
}

func (f fake) Encode(p codec.Packet) ([]byte, error) {
	b, err := f.g.Encode(p)
	if err == nil && f.enc != nil {
		b = f.enc(b)
	}
	return b, err
}

func (f fake) Decode(data []byte, max int) (codec.Packet, error) {
	p, err := f.g.Decode(data, max)
	if f.dec != nil {
		return f.dec(p, err)
	}
	return p, err
}

// reframe rebuilds a packet with a new payload frame and its crc.
func reframe(t *testing.T, b []byte, frame []byte) []byte {
	e, err := codec.ParseEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	p := codec.Packet{Kind: e.Kind, MessageID: e.MessageID, UserID: e.UserID, Reaction: e.Reaction}
	out, err := codec.AppendEnvelope(nil, p, frame, codec.FrameCRC(frame))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCheck(t *testing.T) {
	vs, err := Parse(strings.NewReader(example + "\n" +
		`{"name":"kind-0","error":"invalid_enum","packet_hex":"06"}` + "\n" +
		`{"name":"trunc","error":"truncated","packet_hex":"0300"}`))
	if err != nil {
		t.Fatal(err)
	}
	valid, badKind, trunc := vs[0], vs[1], vs[2]
	g := codec.NewGo()
	// A frame with a content checksum: valid LZ4, but not the required header.
	checksummed, _ := hex.DecodeString("04224d186440a7" + "00000000" + "055dcc02")

	cases := []struct {
		name string
		c    codec.Codec
		v    Vector
		want string // "" for a pass, else a substring of the error
	}{
		{"valid passes", g, valid, ""},
		{"malformed passes", g, badKind, ""},
		{"wrong kind decoded", fake{g: g, dec: func(p codec.Packet, err error) (codec.Packet, error) {
			p.Kind = codec.KindTyping
			return p, err
		}}, valid, "decode: kind 5, want 3"},
		{"payload lost", fake{g: g, dec: func(p codec.Packet, err error) (codec.Packet, error) {
			p.Payload = []byte("x")
			return p, err
		}}, valid, "decode: payload of 1 bytes, want 0"},
		{"decode error", fake{g: g, dec: func(p codec.Packet, err error) (codec.Packet, error) {
			return p, codec.ErrCodecFault
		}}, valid, "decode: codec: codec fault"},
		{"non-minimal envelope", fake{g: g, enc: func(b []byte) []byte {
			return append([]byte{0xfb, b[0], 0}, b[1:]...)
		}}, valid, "envelope before the payload is fb03"},
		{"serialized 0", fake{g: g, enc: func(b []byte) []byte {
			e, _ := codec.ParseEnvelope(b)
			b[e.PrefixLen+1+len(e.Frame)] = 0
			return b
		}}, valid, "serialized flag 0, upstream 1"},
		{"other frame header", fake{g: g, enc: func(b []byte) []byte { return reframe(t, b, checksummed) }}, valid, "frame header 04224d186440a7"},
		{"encode unreadable", fake{g: g, enc: func(b []byte) []byte { return b[:len(b)-1] }}, valid, "decode of own encoding: codec: truncated"},
		{"malformed accepted", fake{g: g, dec: func(p codec.Packet, err error) (codec.Packet, error) { return p, nil }}, badKind, "decode accepted it, want invalid_enum"},
		{"wrong class", g, Vector{Name: "x", Packet: trunc.Packet, Error: "checksum"}, `decode class "truncated", want "checksum"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Check(c.c, c.v, DefaultMaxPayload)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestRunCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.jsonl")
	wrong := strings.Replace(example, `"kind":3`, `"kind":4`, 1)
	wrong = strings.Replace(wrong, "v000-random-0", "tampered", 1)
	os.WriteFile(good, []byte(example+"\n"+wrong+"\n"+`{"name":"k","error":"invalid_enum","packet_hex":"06"}`+"\n"), 0o644)
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(example+"\nnot json\n"), 0o644)

	var out bytes.Buffer
	passed, failed, err := RunCheck(&out, codec.NewGo(), []string{good}, DefaultMaxPayload)
	if err != nil || passed != 2 || failed != 1 {
		t.Fatalf("%d passed, %d failed, %v", passed, failed, err)
	}
	if want := "tampered: decode: kind 3, want 4\n2 passed, 1 failed\n"; out.String() != want {
		t.Fatalf("report %q, want %q", out.String(), want)
	}

	out.Reset()
	_, _, err = RunCheck(&out, codec.NewGo(), []string{good, bad}, DefaultMaxPayload)
	if err == nil || !strings.Contains(err.Error(), bad+": line 2: bad JSON") {
		t.Fatalf("bad file: %v", err)
	}
	if _, _, err = RunCheck(&out, codec.NewGo(), []string{filepath.Join(dir, "missing")}, DefaultMaxPayload); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestRunEncode(t *testing.T) {
	in := strings.Join([]string{
		// Upstream's worked example, fields reordered, packet_hex wrong, an extra field.
		`{"note":{"a":[1, 2]},"packet_hex":"00","kind":3,"user_id":"user-xxxx","reaction_kind":1,"payload_hex":"","message_id":null}`,
		``,
		`{"kind":0,"message_id":"m1","payload_hex":"68656c6c6f"}`,
	}, "\n")
	var out bytes.Buffer
	if err := RunEncode(strings.NewReader(in), &out, codec.NewGo()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %q", len(lines), out.String())
	}
	want0 := `{"note":{"a":[1,2]},"packet_hex":"03000109757365722d7878787801010b04224d186040820000000001fc367abd5f","kind":3,"user_id":"user-xxxx","reaction_kind":1,"payload_hex":"","message_id":null}`
	if lines[0] != want0 {
		t.Fatalf("line 1:\n%s\nwant\n%s", lines[0], want0)
	}
	var second struct {
		PacketHex string `json:"packet_hex"`
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	b, _ := hex.DecodeString(second.PacketHex)
	p, err := codec.NewGo().Decode(b, 100)
	if err != nil || *p.MessageID != "m1" || p.UserID != nil || p.Reaction != nil || string(p.Payload) != "hello" {
		t.Fatalf("line 2 decodes to %+v, %v", p, err)
	}

	errCases := []struct{ in, want string }{
		{`{"kind":0}` + "\n" + `{"kind":9}`, "line 2: encode: codec: invalid enum"},
		{`{"payload_hex":""}`, "line 1: missing kind"},
		{`{"kind":0,"payload_hex":"xyz"}`, "line 1: bad payload_hex"},
		{`[1]`, "line 1: bad JSON"},
		{`{"kind":0} {}`, "line 1: bad JSON: text after the JSON object"},
		{`{"kind":"one"}`, "line 1: bad kind"},
	}
	for _, c := range errCases {
		if err := RunEncode(strings.NewReader(c.in), &bytes.Buffer{}, codec.NewGo()); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.in, err, c.want)
		}
	}
}

// TestRunEncodeGolden re-encodes the golden vectors through RunEncode and
// checks every line against Check's rules by reading it back.
func TestRunEncodeGolden(t *testing.T) {
	full, err := os.ReadFile(goldenFiles[0])
	if err != nil {
		t.Fatal(err)
	}
	// Lines under 140 KB: every vector but the random and text ones of
	// 64 KB and more, which are most of the file and slow under -race; the
	// repeat ones cover those sizes.
	var raw []byte
	for _, l := range bytes.SplitAfter(full, []byte("\n")) {
		if len(l) < 140_000 {
			raw = append(raw, l...)
		}
	}
	var out bytes.Buffer
	if err := RunEncode(bytes.NewReader(raw), &out, codec.NewGo()); err != nil {
		t.Fatal(err)
	}
	ours, err := Parse(&out)
	if err != nil {
		t.Fatal(err)
	}
	upstream, err := Parse(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(ours) != len(upstream) || len(ours) < 220 {
		t.Fatalf("%d lines, want %d", len(ours), len(upstream))
	}
	g := codec.NewGo()
	for i, v := range ours {
		if v.Name != upstream[i].Name {
			t.Fatalf("line %d is %s, want %s", i+1, v.Name, upstream[i].Name)
		}
		// Our packet_hex as the vector: it must pass the same check.
		if err := Check(g, v, DefaultMaxPayload); err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
	}
}

// TestConformanceSubset checks that the embedded subset keeps what it
// promises, and stays small.
func TestConformanceSubset(t *testing.T) {
	if len(conformanceJSONL) > 700<<10 {
		t.Fatalf("conformance.jsonl is %d bytes", len(conformanceJSONL))
	}
	vs := Conformance()
	sizes := map[int]bool{}
	kinds := map[codec.Kind]bool{}
	reactions := map[string]bool{}
	classes := map[string]int{}
	ids := map[string]bool{}
	names := map[string]bool{}
	idShape := func(s *string) string {
		switch {
		case s == nil:
			return "absent"
		case *s == "":
			return "empty"
		case len(*s) > 250:
			return "long"
		}
		return "short"
	}
	for _, v := range vs {
		names[v.Name] = true
		if !v.Valid() {
			classes[v.Error]++
			continue
		}
		sizes[len(v.Payload)] = true
		kinds[v.Kind] = true
		if v.Reaction == nil {
			reactions["absent"] = true
		} else {
			reactions[string('0'+rune(*v.Reaction))] = true
		}
		ids["message_id "+idShape(v.MessageID)] = true
		ids["user_id "+idShape(v.UserID)] = true
	}
	for _, n := range []int{0, 1, 2, 11, 14, 15, 16, 64, 250, 251, 252, 999, 1000, 2048, 10240, 65535, 65536, 65537} {
		if !sizes[n] {
			t.Errorf("no valid vector with a %d-byte payload", n)
		}
	}
	if len(kinds) != 6 {
		t.Errorf("kinds %v", kinds)
	}
	if len(reactions) != 6 {
		t.Errorf("reactions %v", reactions)
	}
	if len(ids) != 8 {
		t.Errorf("id shapes %v", ids)
	}
	for _, c := range codec.ClassNames() {
		want := 3
		if c == "too_large" {
			want = 1
		}
		if classes[c] < want {
			t.Errorf("%d %s vectors, want %d", classes[c], c, want)
		}
	}
	if !names["bomb-2MiB"] {
		t.Error("bomb-2MiB missing")
	}
	vs[0].Name = "changed"
	if Conformance()[0].Name == "changed" {
		t.Error("Conformance returned shared slice")
	}
}
