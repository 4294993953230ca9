package cluster

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// Room-subject messages are binary: a type byte, then its fields. Events
// are the hot path (one per stored message per node), so they carry no
// JSON; the room name is the subject's.
const (
	wireEvent  byte = 'E' // uvarint seq, uvarint len + origin, data
	wireTyping byte = 'T' // uvarint len + origin, uvarint len + user, data
)

// maxField bounds a length-prefixed string in a message.
const maxField = 1024

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func readString(b []byte) (string, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > maxField || uint64(len(b)-k) < n {
		return "", nil, fmt.Errorf("%w: bad string field", ErrWire)
	}
	return string(b[k : k+int(n)]), b[k+int(n):], nil
}

func encodeEvent(ev Event) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+1+len(ev.Origin)+len(ev.Data))
	b = append(b, wireEvent)
	b = binary.AppendUvarint(b, uint64(ev.Seq))
	b = appendString(b, ev.Origin)
	return append(b, ev.Data...)
}

func encodeTyping(origin, user string, data []byte) []byte {
	b := make([]byte, 0, 3+len(origin)+len(user)+len(data))
	b = append(b, wireTyping)
	b = appendString(b, origin)
	b = appendString(b, user)
	return append(b, data...)
}

// roomMsg is a decoded room-subject message: an event, or typing.
type roomMsg struct {
	kind   byte
	seq    int64
	origin string
	user   string
	data   []byte
}

// decodeRoomMsg parses a room-subject message; data aliases b.
func decodeRoomMsg(b []byte) (roomMsg, error) {
	var m roomMsg
	if len(b) == 0 {
		return m, fmt.Errorf("%w: empty", ErrWire)
	}
	m.kind, b = b[0], b[1:]
	var err error
	switch m.kind {
	case wireEvent:
		seq, k := binary.Uvarint(b)
		if k <= 0 || seq == 0 || seq > 1<<62 {
			return m, fmt.Errorf("%w: bad sequence number", ErrWire)
		}
		m.seq = int64(seq)
		if m.origin, b, err = readString(b[k:]); err != nil {
			return m, err
		}
	case wireTyping:
		if m.origin, b, err = readString(b); err != nil {
			return m, err
		}
		if m.user, b, err = readString(b); err != nil {
			return m, err
		}
	default:
		return m, fmt.Errorf("%w: unknown type %#x", ErrWire, m.kind)
	}
	m.data = b
	return m, nil
}

// Control messages are JSON: they are few (heartbeats every few seconds,
// presence changes, revocations) and readable in `nats sub` output.
const (
	ctlHeartbeat = "hb"     // presence: full (Full) or changed rooms only
	ctlHello     = "hello"  // a node (re)connected: peers answer with a full heartbeat
	ctlBye       = "bye"    // a node is shutting down: drop its users now
	ctlRevoke    = "revoke" // close this session's sockets everywhere
)

// maxParts bounds a full heartbeat's parts (a peer's staging memory).
const maxParts = 1024

type ctlMsg struct {
	Type string `json:"t"`
	Node string `json:"n"`
	// Full replaces the sender's whole presence; otherwise Rooms holds
	// only the rooms that changed, an empty list meaning none left.
	Full  bool                `json:"f,omitempty"`
	Rooms map[string][]string `json:"r,omitempty"`
	// A full presence too large for one message goes in Parts parts of
	// one Gen; a room's users may span parts. It replaces the old one
	// only once every part has arrived.
	Gen   uint64 `json:"g,omitempty"`
	Part  int    `json:"p,omitempty"`
	Parts int    `json:"ps,omitempty"`
	// Seqs is the newest Seq the sender published per room, so a peer
	// notices a lost tail (no later event to reveal the gap).
	Seqs map[string]int64 `json:"s,omitempty"`
	// Key is a revoked session's key (its token hash, never the token).
	Key string `json:"k,omitempty"`
}

func decodeCtl(b []byte) (ctlMsg, error) {
	var m ctlMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%w: control: %v", ErrWire, err)
	}
	if m.Node == "" {
		return m, fmt.Errorf("%w: control without node", ErrWire)
	}
	if m.Parts < 0 || m.Parts > maxParts || m.Part < 0 || m.Part > m.Parts {
		return m, fmt.Errorf("%w: part %d of %d", ErrWire, m.Part, m.Parts)
	}
	switch m.Type {
	case ctlHeartbeat, ctlHello, ctlBye:
	case ctlRevoke:
		if m.Key == "" {
			return m, fmt.Errorf("%w: revoke without key", ErrWire)
		}
	default:
		return m, fmt.Errorf("%w: unknown control %q", ErrWire, m.Type)
	}
	return m, nil
}
