// Package codec owns the WasmChannel packet model, the Codec interface that
// the Go and WASM implementations share, and the pure-Go codec.
//
// The wire format is specified in protocol.md (shared spec) and the decoding
// order in wasm/ABI.md; every implementation must classify the same bytes
// the same way, which the cross-check tests and fuzz targets enforce.
package codec

import "context"

// Kind is the packet discriminant (protocol.md § Packet, field 1).
type Kind uint32

// Packet kinds, in wire order.
const (
	KindMessage     Kind = 0
	KindOnlineUsers Kind = 1
	KindDelete      Kind = 2
	KindReaction    Kind = 3
	KindJoined      Kind = 4
	KindTyping      Kind = 5
)

// MaxKind is the largest valid Kind.
const MaxKind = KindTyping

func (k Kind) String() string {
	switch k {
	case KindMessage:
		return "message"
	case KindOnlineUsers:
		return "online_users"
	case KindDelete:
		return "delete"
	case KindReaction:
		return "reaction"
	case KindJoined:
		return "joined"
	case KindTyping:
		return "typing"
	}
	return "unknown"
}

// Reaction is the ReactionKind discriminant (protocol.md § Packet, field 4).
type Reaction uint32

// Reaction kinds, in wire order.
const (
	ReactionNone    Reaction = 0
	ReactionLike    Reaction = 1
	ReactionDislike Reaction = 2
	ReactionHeart   Reaction = 3
	ReactionStar    Reaction = 4
)

// MaxReaction is the largest valid Reaction.
const MaxReaction = ReactionStar

// Packet is one decoded packet. Nil pointers are absent optional fields; an
// empty string is a present, empty id, as on the wire.
type Packet struct {
	Kind      Kind
	MessageID *string
	UserID    *string
	Reaction  *Reaction
	// Payload is the decompressed payload.
	Payload []byte
}

// Str returns a pointer to s, for filling optional ids.
func Str(s string) *string { return &s }

// ReactionPtr returns a pointer to r, for filling the optional reaction.
func ReactionPtr(r Reaction) *Reaction { return &r }

// Codec encodes and decodes packets. Implementations are not safe for
// concurrent use unless they say so; the WASM one serves one caller at a time.
type Codec interface {
	// Encode returns the wire bytes of p. The result is owned by the caller.
	Encode(p Packet) ([]byte, error)
	// Decode parses one whole packet, rejecting a payload that decompresses
	// to more than maxPayload bytes with ErrTooLarge. Errors wrap exactly one
	// of the class sentinels, or ErrCodecFault when the codec itself failed.
	Decode(data []byte, maxPayload int) (Packet, error)
}

// Instance is a Codec leased from a Source. Release hands it back; the
// instance must not be used afterwards.
type Instance interface {
	Codec
	Release()
}

// Source hands out codec instances, one per caller (a room holds one while
// it is awake). Acquire may block until an instance is free or ctx ends.
type Source interface {
	Acquire(ctx context.Context) (Instance, error)
	// Name identifies the codec in health output and metrics: "go", "wasm"
	// or the path of a swapped-in module.
	Name() string
}
