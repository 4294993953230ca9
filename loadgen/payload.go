package loadgen

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
)

// A message id is "<run>.<room>.<sender>.<seq>": the run id keeps runs
// against the same database apart (the server deduplicates retried ids), and
// the rest names the message without a lookup table. A room's barrier
// probes are "<run>.<room>.p<k>".
//
// The payload is chat text that starts with "t=<unix ns> q=<seq> ": the send
// time for the latency of every receipt, and the sequence number again so a
// payload can be checked against its id. The rest is filler words up to the
// requested size.

// MessageID names message seq of sender in room.
func MessageID(run string, room, sender int, seq int64) string {
	b := make([]byte, 0, len(run)+24)
	b = append(b, run...)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(room), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(sender), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, seq, 10)
	return string(b)
}

// ProbeID names room's k-th barrier probe.
func ProbeID(run string, room, k int) string {
	return run + "." + strconv.Itoa(room) + ".p" + strconv.Itoa(k)
}

// errForeign marks an id or payload this run did not produce.
var errForeign = errors.New("not a message of this run")

// ParseMessageID is MessageID's inverse; probe is true for a ProbeID. It
// reads the id's bytes in place, without allocating, as every receipt of a
// run goes through it, and accepts only what MessageID and ProbeID write:
// decimal numbers without signs or leading zeros.
func ParseMessageID(run string, id []byte) (room, sender int, seq int64, probe bool, err error) {
	rest, ok := cutPrefix(id, run)
	if !ok {
		return 0, 0, 0, false, errForeign
	}
	if rest, ok = cutPrefix(rest, "."); !ok {
		return 0, 0, 0, false, errForeign
	}
	r, rest, ok := cutCanonical(rest, maxRoomDigits)
	if !ok {
		return 0, 0, 0, false, errForeign
	}
	if rest, ok = cutPrefix(rest, "."); !ok {
		return 0, 0, 0, false, errForeign
	}
	if k, ok := cutPrefix(rest, "p"); ok {
		if _, tail, ok := cutCanonical(k, maxSeqDigits); !ok || len(tail) > 0 {
			return 0, 0, 0, false, errForeign
		}
		return int(r), 0, 0, true, nil
	}
	s, rest, ok := cutCanonical(rest, maxRoomDigits)
	if !ok {
		return 0, 0, 0, false, errForeign
	}
	if rest, ok = cutPrefix(rest, "."); !ok {
		return 0, 0, 0, false, errForeign
	}
	q, rest, ok := cutCanonical(rest, maxSeqDigits)
	if !ok || len(rest) > 0 {
		return 0, 0, 0, false, errForeign
	}
	return int(r), int(s), q, false, nil
}

// Digit bounds of the numbers in an id, well inside int and int64.
const (
	maxRoomDigits = 9
	maxSeqDigits  = 18
)

// cutCanonical parses a leading decimal number of 1 to maxDigits digits
// with no leading zero (but "0" itself).
func cutCanonical(b []byte, maxDigits int) (int64, []byte, bool) {
	var v int64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if i == maxDigits || (i == 1 && b[0] == '0') {
			return 0, b, false
		}
		v = v*10 + int64(b[i]-'0')
	}
	return v, b[i:], i > 0
}

// HeaderLen is the most bytes the payload header takes; smaller --payload
// sizes are raised to it.
const HeaderLen = len("t=") + 19 + len(" q=") + 19 + 1

// AppendPayload appends a payload of max(size, header) bytes: the header
// for sentNs and seq, then filler from the same offset on.
func AppendPayload(dst []byte, sentNs, seq int64, filler []byte, size int) []byte {
	start := len(dst)
	dst = append(dst, "t="...)
	dst = strconv.AppendInt(dst, sentNs, 10)
	dst = append(dst, " q="...)
	dst = strconv.AppendInt(dst, seq, 10)
	dst = append(dst, ' ')
	if n := len(dst) - start; n < size {
		dst = append(dst, filler[n:size]...)
	}
	return dst
}

// ParsePayload reads the send time and sequence number from a payload.
func ParsePayload(p []byte) (sentNs, seq int64, err error) {
	rest, ok := cutPrefix(p, "t=")
	if !ok {
		return 0, 0, errForeign
	}
	sentNs, rest, ok = cutInt(rest)
	if !ok {
		return 0, 0, errForeign
	}
	if rest, ok = cutPrefix(rest, " q="); !ok {
		return 0, 0, errForeign
	}
	seq, rest, ok = cutInt(rest)
	if !ok || len(rest) == 0 || rest[0] != ' ' {
		return 0, 0, errForeign
	}
	return sentNs, seq, nil
}

func cutPrefix(b []byte, prefix string) ([]byte, bool) {
	if len(b) < len(prefix) || string(b[:len(prefix)]) != prefix {
		return b, false
	}
	return b[len(prefix):], true
}

// cutInt parses leading decimal digits without allocating.
func cutInt(b []byte) (int64, []byte, bool) {
	var v int64
	i := 0
	for ; i < len(b) && i < 19 && b[i] >= '0' && b[i] <= '9'; i++ {
		v = v*10 + int64(b[i]-'0')
	}
	return v, b[i:], i > 0
}

// fillerWords is the vocabulary of payload filler, so payloads look like
// chat text to the LZ4 compressor rather than random bytes.
var fillerWords = strings.Fields(`the a to and of is it you that in for on this with
was are be have not what but can just at so from like get all about one out my up
your will when there do if we they how would time more now only know think some
message room chat send read reply here today tomorrow meeting deploy server codec
packet hello thanks sure great maybe later please yes no ok good morning night`)

// Filler returns size bytes of word text, the same for the same seed.
func Filler(size int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 0xf111e7))
	b := make([]byte, 0, size+16)
	for len(b) < size {
		b = append(b, fillerWords[rng.IntN(len(fillerWords))]...)
		b = append(b, ' ')
	}
	return b[:size]
}
