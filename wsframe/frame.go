package wsframe

import (
	"encoding/binary"
	"unicode/utf8"
)

// Frame header fields, RFC 6455 § 5.2.
const (
	finBit   = 0x80
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xA

	// maxControlPayload bounds ping, pong and close payloads (§ 5.5).
	maxControlPayload = 125
	// closeNoStatus is "no status code present" (§ 7.4.1): it is never
	// sent, so a close with it carries an empty payload.
	closeNoStatus = 1005
)

// Binary returns payload as one final, unmasked binary frame: header and
// payload in one slice. Server frames are never masked (§ 5.1), so these
// bytes are the same for every socket and a broadcast is framed once per
// room. They are the bytes gorilla's WritePreparedMessage sends for a
// server connection without compression.
func Binary(payload []byte) []byte {
	dst := make([]byte, 0, headerLen(len(payload))+len(payload))
	return appendFrame(dst, opBinary, payload)
}

// headerLen is the size of a server frame header for n payload bytes: the
// shortest length encoding, as § 5.2 requires.
func headerLen(n int) int {
	switch {
	case n <= 125:
		return 2
	case n <= 0xFFFF:
		return 4
	default:
		return 10
	}
}

func appendFrame(dst []byte, op byte, payload []byte) []byte {
	n := len(payload)
	switch {
	case n <= 125:
		dst = append(dst, finBit|op, byte(n))
	case n <= 0xFFFF:
		dst = append(dst, finBit|op, 126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, finBit|op, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, payload...)
}

// closeFrame builds a close frame for code and reason. The reason is cut
// on a rune boundary to fit the 125-byte control payload.
func closeFrame(code int, reason string) []byte {
	if code == closeNoStatus {
		return appendFrame(nil, opClose, nil)
	}
	max := maxControlPayload - 2
	if len(reason) > max {
		reason = reason[:max]
		for len(reason) > 0 && !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	p := make([]byte, 2, 2+len(reason))
	binary.BigEndian.PutUint16(p, uint16(code))
	p = append(p, reason...)
	return appendFrame(nil, opClose, p)
}
