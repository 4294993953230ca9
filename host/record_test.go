package host

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/corpus"
)

// record builds a decode result record (wasm/ABI.md § Decode result).
func record(kind uint32, reaction, mid, uid int32, pay, serialized uint32, tail string) []byte {
	b := make([]byte, recordHeader, recordHeader+len(tail))
	le := binary.LittleEndian
	le.PutUint32(b[0:], kind)
	le.PutUint32(b[4:], uint32(reaction))
	le.PutUint32(b[8:], uint32(mid))
	le.PutUint32(b[12:], uint32(uid))
	le.PutUint32(b[16:], pay)
	le.PutUint32(b[20:], serialized)
	return append(b, tail...)
}

func TestParseRecord(t *testing.T) {
	tests := []struct {
		name string
		rec  []byte
		max  uint32
		want string // error substring, "" for success
	}{
		{"all fields", record(3, 2, 2, 3, 4, 1, "m1u22pay!"), 100, ""},
		{"absent ids and reaction", record(0, -1, -1, -1, 0, 0, ""), 0, ""},
		{"empty ids", record(5, 4, 0, 0, 1, 1, "x"), 1, ""},
		{"short", record(0, -1, -1, -1, 0, 1, "")[:23], 10, "shorter than"},
		{"kind 6", record(6, -1, -1, -1, 0, 1, ""), 10, "kind 6"},
		{"reaction 5", record(0, 5, -1, -1, 0, 1, ""), 10, "reaction 5"},
		{"reaction -2", record(0, -2, -1, -1, 0, 1, ""), 10, "reaction -2"},
		{"mid -2", record(0, -1, -2, -1, 0, 1, ""), 10, "message_id length -2"},
		{"uid -5", record(0, -1, -1, -5, 0, 1, ""), 10, "user_id length -5"},
		{"serialized 2", record(0, -1, -1, -1, 0, 2, ""), 10, "serialized flag 2"},
		{"payload over max", record(0, -1, -1, -1, 11, 1, "01234567890"), 10, "exceeds max_payload"},
		{"lengths too long", record(0, -1, 3, -1, 1, 1, "abc"), 10, "add up to 28"},
		{"lengths too short", record(0, -1, 1, -1, 1, 1, "abc"), 10, "add up to 26"},
		{"huge id length", record(0, -1, 0x7fffffff, -1, 0, 1, "abc"), 10, "add up to"},
		{"mid not utf-8", record(0, -1, 1, -1, 0, 1, "\xff"), 10, "message_id is not UTF-8"},
		{"uid not utf-8", record(0, -1, -1, 2, 0, 1, "\xc3("), 10, "user_id is not UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parseRecord(tc.rec, tc.max)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "all fields" {
				want := codec.Packet{Kind: 3, Reaction: codec.ReactionPtr(2), MessageID: codec.Str("m1"), UserID: codec.Str("u22"), Payload: []byte("pay!")}
				if d := corpus.Diff(p, want); d != "" {
					t.Error(d)
				}
			}
		})
	}
}

// resultModule is a minimal ABI module whose wc_decode returns result, with
// data placed at 8192.
func resultModule(result int64, data []byte) []byte {
	return wmodule{funcs: abiFuncs(i64c(result)), data: data, dataAt: 8192}.bytes()
}

func TestLeaseRejectsBadResults(t *testing.T) {
	const at = int64(8192) << 32
	good := record(1, 0, 1, -1, 2, 1, "mhi")
	tests := []struct {
		name  string
		mod   []byte
		class error // a packet class, or nil for a fault
		fault error // ErrBadResult, ErrOutOfMemory, or nil
	}{
		{"valid record", resultModule(at|int64(len(good)), good), nil, nil},
		{"class code", resultModule(4, nil), codec.ErrChecksum, nil},
		{"unknown code", resultModule(9, nil), nil, ErrBadResult},
		{"zero code", resultModule(0, nil), nil, ErrBadResult},
		{"out of memory", resultModule(100, nil), nil, ErrOutOfMemory},
		{"bad record", resultModule(at|int64(len(good)), record(9, 0, 1, -1, 2, 1, "mhi")), nil, ErrBadResult},
		{"length past record", resultModule(at|int64(len(good)-1), good), nil, ErrBadResult},
		{"pointer outside memory", resultModule(int64(0x7FFF0000)<<32|64, nil), nil, ErrBadResult},
		{"length outside memory", resultModule(at|0xFFFFFF, nil), nil, ErrBadResult},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPool(context.Background(), tc.mod, Config{MinWarm: 1, MaxInstances: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(context.Background())
			l := lease(t, p)
			id := l.InstanceID()
			pkt, err := l.Decode([]byte("anything"), 100)
			switch {
			case tc.class == nil && tc.fault == nil:
				if err != nil {
					t.Fatal(err)
				}
				want := codec.Packet{Kind: 1, Reaction: codec.ReactionPtr(0), MessageID: codec.Str("m"), Payload: []byte("hi")}
				if d := corpus.Diff(pkt, want); d != "" {
					t.Errorf("decoded %+v: %s differs", pkt, d)
				}
			case tc.class != nil:
				if !errors.Is(err, tc.class) || errors.Is(err, codec.ErrCodecFault) {
					t.Fatalf("error %v, want %v", err, tc.class)
				}
			default:
				if !errors.Is(err, tc.fault) || !errors.Is(err, codec.ErrCodecFault) {
					t.Fatalf("error %v, want %v and codec.ErrCodecFault", err, tc.fault)
				}
				if codec.Class(err) != "codec_fault" {
					t.Errorf("class %q", codec.Class(err))
				}
			}
			s := p.Stats()
			faulted := tc.fault != nil
			if got := s.Faults; got != map[bool]uint64{true: 1}[faulted] {
				t.Errorf("Faults %d", got)
			}
			// A fault discards the instance; the next call gets a fresh one.
			_, _ = l.Decode([]byte("again"), 100)
			if changed := l.InstanceID() != id; changed != faulted {
				t.Errorf("instance %d -> %d after fault=%v", id, l.InstanceID(), faulted)
			}
		})
	}
}

func TestEncodeRejectsUnexpectedCode(t *testing.T) {
	// The minimal module's wc_encode returns 2 (invalid_enum), a class encode
	// may report; 1 (truncated) is not one it may.
	for _, tc := range []struct {
		code  int64
		class error
	}{{2, codec.ErrInvalidEnum}, {1, ErrBadResult}, {7, ErrBadResult}} {
		fs := abiFuncs(i64c(1))
		fs[3].body = i64c(tc.code)
		p, err := NewPool(context.Background(), wmodule{funcs: fs}.bytes(), Config{MinWarm: 1})
		if err != nil {
			t.Fatal(err)
		}
		l := lease(t, p)
		_, err = l.Encode(codec.Packet{Payload: []byte("x")})
		if !errors.Is(err, tc.class) {
			t.Errorf("code %d: error %v, want %v", tc.code, err, tc.class)
		}
		p.Close(context.Background())
	}
}
