package codec

// View is a decoded packet that owns no memory: its ids alias the packet
// bytes and its payload a buffer of the Go codec that decoded it. It is for
// readers that look at every packet and keep none, such as the load
// generator, where Decode's allocations per packet would be most of the
// cost. A View is valid until the packet bytes change or the codec decodes
// again.
type View struct {
	Kind Kind
	// MessageID and UserID are the ids' bytes, checked UTF-8; HasMessageID
	// and HasUserID tell an absent id from an empty one.
	MessageID, UserID       []byte
	HasMessageID, HasUserID bool
	// Reaction is set when HasReaction is.
	Reaction    Reaction
	HasReaction bool
	// Payload is the decompressed payload.
	Payload []byte
}

// DecodeView is Decode without allocating once its payload buffer has
// grown to the packets' size: the same checks in the same order (envelope,
// trailing bytes, crc, then the whole LZ4 frame before any output), the
// same errors, and the same maxPayload bound on the buffer. On error v is
// left as it was.
func (g *Go) DecodeView(data []byte, maxPayload int, v *View) error {
	f, err := parseFields(data)
	if err != nil {
		return err
	}
	payload, err := f.inflate(g.view, maxPayload)
	if err != nil {
		return err
	}
	if cap(payload) > cap(g.view) {
		g.view = payload[:0]
	}
	*v = View{
		Kind:         f.kind,
		MessageID:    f.mid.of(data),
		UserID:       f.uid.of(data),
		HasMessageID: f.mid.ok,
		HasUserID:    f.uid.ok,
		Reaction:     f.reaction,
		HasReaction:  f.hasReaction,
		Payload:      payload,
	}
	return nil
}

// of returns the span's bytes of data, nil when the id is absent.
func (s span) of(data []byte) []byte {
	if !s.ok {
		return nil
	}
	return data[s.start:s.end:s.end]
}
