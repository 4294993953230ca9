package cluster

import (
	"fmt"
	"strings"
)

// maxRoom bounds a room name carried between nodes; the hub's own rule is
// 1 to 64 bytes of [A-Za-z0-9_.-] (http-api.md § WebSocket).
const maxRoom = 255

const hexDigits = "0123456789ABCDEF"

// plain reports the bytes a subject token carries as themselves. Everything
// else, '.' (the NATS token separator) and '%' (our escape) included,
// becomes %XX, so the mapping is one-to-one and no name can reach a
// wildcard ('*', '>') or another room's subject.
func plain(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// roomToken escapes a room name into one NATS subject token.
func roomToken(room string) (string, error) {
	if room == "" || len(room) > maxRoom {
		return "", fmt.Errorf("%w: %d bytes (want 1 to %d)", ErrRoom, len(room), maxRoom)
	}
	n := 0
	for i := 0; i < len(room); i++ {
		if !plain(room[i]) {
			n++
		}
	}
	if n == 0 {
		return room, nil
	}
	var b strings.Builder
	b.Grow(len(room) + 2*n)
	for i := 0; i < len(room); i++ {
		c := room[i]
		if plain(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String(), nil
}

// validToken reports whether s can be one subject token as it is.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !plain(s[i]) {
			return false
		}
	}
	return true
}

// subjects names the installation's subjects under one prefix.
type subjects struct{ prefix string }

// room is the subject of a room's events and typing.
func (s subjects) room(room string) (string, error) {
	tok, err := roomToken(room)
	if err != nil {
		return "", err
	}
	return s.prefix + ".room." + tok, nil
}

// ctl carries presence, hellos, goodbyes and revocations.
func (s subjects) ctl() string { return s.prefix + ".ctl" }
