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
var classes = []struct {
	code uint32
	name string
	err  error
}{
	{1, "truncated", ErrTruncated},
	{2, "invalid_enum", ErrInvalidEnum},
	{3, "invalid_utf8", ErrInvalidUTF8},
	{4, "checksum", ErrChecksum},
	{5, "compression", ErrCompression},
	{6, "too_large", ErrTooLarge},
	{7, "trailing_bytes", ErrTrailingBytes},
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
