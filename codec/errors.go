package codec

import "errors"

// Sentinel errors, one per strict-decoding class of protocol.md. Decoders
// wrap exactly one of them; match with errors.Is and name with Class.
var (
	ErrTruncated     = errors.New("codec: truncated")
	ErrInvalidEnum   = errors.New("codec: invalid enum")
	ErrInvalidUTF8   = errors.New("codec: invalid utf-8")
	ErrChecksum      = errors.New("codec: checksum mismatch")
	ErrCompression   = errors.New("codec: invalid lz4 frame")
	ErrTooLarge      = errors.New("codec: payload too large")
	ErrTrailingBytes = errors.New("codec: trailing bytes")
	// ErrCodecFault is not a packet class: the codec itself failed (a WASM
	// trap, a timeout, exhausted memory, a malformed result).
	ErrCodecFault = errors.New("codec: codec fault")
)

// classes lists the sentinels by ABI error code (wasm/ABI.md § Error codes).
// reason says what is wrong with such a packet, in words a client's author
// can act on (the hub sends it in a notice).
var classes = []struct {
	code   uint32
	name   string
	err    error
	reason string
}{
	{1, "truncated", ErrTruncated, "the packet ends inside a field"},
	{2, "invalid_enum", ErrInvalidEnum, "a kind, reaction, option tag or bool is out of range"},
	{3, "invalid_utf8", ErrInvalidUTF8, "an id is not valid UTF-8"},
	{4, "checksum", ErrChecksum, "the crc does not match the payload"},
	{5, "compression", ErrCompression, "the payload is not a valid LZ4 frame"},
	{6, "too_large", ErrTooLarge, "payload too large"},
	{7, "trailing_bytes", ErrTrailingBytes, "bytes follow the packet"},
}

// ClassNames lists the protocol error classes in ABI code order.
func ClassNames() []string {
	out := make([]string, len(classes))
	for i, c := range classes {
		out[i] = c.name
	}
	return out
}

// Class returns the protocol class name of err ("truncated", ...),
// "codec_fault" for ErrCodecFault, or "" when err is nil or unclassified.
func Class(err error) string {
	if err == nil {
		return ""
	}
	for _, c := range classes {
		if errors.Is(err, c.err) {
			return c.name
		}
	}
	if errors.Is(err, ErrCodecFault) {
		return "codec_fault"
	}
	return ""
}

// ClassReason explains a protocol class to a client ("the packet ends
// inside a field"), or returns "" for a name that is not a class.
func ClassReason(name string) string {
	for _, c := range classes {
		if c.name == name {
			return c.reason
		}
	}
	return ""
}

// ErrorForClass returns the sentinel for a class name, or nil.
func ErrorForClass(name string) error {
	for _, c := range classes {
		if c.name == name {
			return c.err
		}
	}
	return nil
}

// ErrorForCode returns the sentinel for an ABI error code, or nil for a code
// that is not a packet class (which the host treats as a codec fault).
func ErrorForCode(code uint32) error {
	for _, c := range classes {
		if c.code == code {
			return c.err
		}
	}
	return nil
}
