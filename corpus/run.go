package corpus

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/wasmchannel/wasmchannel/codec"
)

// RunCheck checks every vector of the golden-format files against c, as
// `wasmchannel codec check` does. It prints one line per failing vector
// ("name: what failed"), then exactly "N passed, M failed". It returns an
// error, and checks nothing, when a file cannot be read or parsed; failing
// vectors are counted, not returned as an error.
func RunCheck(w io.Writer, c codec.Codec, files []string, maxPayload int) (passed, failed int, err error) {
	var all []Vector
	for _, f := range files {
		vs, err := LoadFile(f)
		if err != nil {
			return 0, 0, fmt.Errorf("load vectors: %w", err)
		}
		all = append(all, vs...)
	}
	for _, v := range all {
		if cerr := Check(c, v, maxPayload); cerr != nil {
			failed++
			if _, err := fmt.Fprintf(w, "%s: %v\n", v.Name, cerr); err != nil {
				return passed, failed, fmt.Errorf("write report: %w", err)
			}
			continue
		}
		passed++
	}
	if _, err := fmt.Fprintf(w, "%d passed, %d failed\n", passed, failed); err != nil {
		return passed, failed, fmt.Errorf("write report: %w", err)
	}
	return passed, failed, nil
}

// encodeInput is the part of an input line RunEncode reads.
type encodeInput struct {
	Kind         *uint32 `json:"kind"`
	MessageID    *string `json:"message_id"`
	UserID       *string `json:"user_id"`
	ReactionKind *uint32 `json:"reaction_kind"`
	PayloadHex   *string `json:"payload_hex"`
}

// RunEncode reads JSONL objects with kind, message_id, user_id,
// reaction_kind and payload_hex (missing ids and reaction mean absent, a
// missing payload_hex means empty) and writes each object back, one a line,
// with packet_hex set to c's encoding. Other fields are kept, in their
// order. Errors name the input line.
func RunEncode(r io.Reader, w io.Writer, c codec.Codec) error {
	return eachLine(r, func(n int, line []byte) error {
		out, err := encodeLine(c, line)
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		if _, err := w.Write(out); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return nil
	})
}

func encodeLine(c codec.Codec, line []byte) ([]byte, error) {
	fields, err := objectFields(line)
	if err != nil {
		return nil, fmt.Errorf("bad JSON: %w", err)
	}
	var in encodeInput
	for _, f := range fields {
		var dst any
		switch f.key {
		case "kind":
			dst = &in.Kind
		case "message_id":
			dst = &in.MessageID
		case "user_id":
			dst = &in.UserID
		case "reaction_kind":
			dst = &in.ReactionKind
		case "payload_hex":
			dst = &in.PayloadHex
		default:
			continue
		}
		if err := json.Unmarshal(f.value, dst); err != nil {
			return nil, fmt.Errorf("bad %s: %w", f.key, err)
		}
	}
	if in.Kind == nil {
		return nil, errors.New("missing kind")
	}
	p := codec.Packet{Kind: codec.Kind(*in.Kind), MessageID: in.MessageID, UserID: in.UserID}
	if in.ReactionKind != nil {
		p.Reaction = codec.ReactionPtr(codec.Reaction(*in.ReactionKind))
	}
	if in.PayloadHex != nil {
		if p.Payload, err = hex.DecodeString(*in.PayloadHex); err != nil {
			return nil, fmt.Errorf("bad payload_hex: %w", err)
		}
	}
	pkt, err := c.Encode(p)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	hexValue := make([]byte, 0, 2*len(pkt)+2)
	hexValue = append(hexValue, '"')
	hexValue = hex.AppendEncode(hexValue, pkt)
	hexValue = append(hexValue, '"')
	set := false
	for i := range fields {
		if fields[i].key == "packet_hex" {
			fields[i].value, set = hexValue, true
		}
	}
	if !set {
		fields = append(fields, field{"packet_hex", hexValue})
	}
	return marshalFields(fields)
}

// field is one member of a JSON object, its value kept as written.
type field struct {
	key   string
	value json.RawMessage
}

// objectFields splits a JSON object into its members in order, so RunEncode
// can write back fields it does not know without reordering them.
func objectFields(obj []byte) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	var fs []field
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		fs = append(fs, field{key, v})
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, errors.New("unterminated JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("text after the JSON object")
	}
	return fs, nil
}

func marshalFields(fs []field) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fs {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(f.key)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		if err := json.Compact(&b, f.value); err != nil {
			return nil, err
		}
	}
	b.WriteString("}\n")
	return b.Bytes(), nil
}
