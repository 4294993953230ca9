package storetest

import (
	"fmt"
	"strings"

	"github.com/wasmchannel/wasmchannel/chat"
)

// SizeMessages is the message set each store's BenchmarkBytesPerMessage
// stores, so that their bytes per message compare: one room, 26-character
// ids, 36-character reference ids, and text of 20 to 200 bytes (110 on
// average).
func SizeMessages(n int) []chat.Message {
	out := make([]chat.Message, n)
	for i := range out {
		text := strings.Repeat("chat text ", 20)[:20+i%181]
		out[i] = chat.Message{ID: chat.NewMessageID(), Room: "general", RefID: fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i),
			UserID: "USER0000000000000000000001", Payload: []byte(text)}
	}
	return out
}
