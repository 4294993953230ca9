package corpus

import (
	"math/rand/v2"
	"strings"

	"github.com/wasmchannel/wasmchannel/codec"
)

// BenchData lists the payload kinds of BenchPacket.
var BenchData = []string{"random", "text"}

// BenchPacket is the packet every codec benchmark times (`wasmchannel bench
// codec` and the host's Go benchmarks), so their numbers compare: a chat
// message whose payload is size bytes of incompressible "random" data or
// English-like "text". The same size and kind always give the same bytes.
func BenchPacket(size int, data string) codec.Packet {
	rng := rand.New(rand.NewPCG(uint64(size), 0x5eed))
	payload := make([]byte, size)
	if data == "random" {
		for i := range payload {
			payload[i] = byte(rng.Uint32())
		}
	} else {
		fillText(payload, rng)
	}
	return codec.Packet{
		Kind:      codec.KindMessage,
		MessageID: codec.Str("m_0123456789"),
		UserID:    codec.Str("user-2f9c1b"),
		Payload:   payload,
	}
}

// benchWords is the vocabulary of the text payloads.
var benchWords = strings.Fields(`the a to and of is it you that in for on this with
was are be have not what but can just at so from like get all about one out my up
your will when there do if we they how would time more now only know think some
message room chat send read reply here today tomorrow meeting deploy server codec
packet hello thanks sure great maybe later please yes no ok good morning night`)

// fillText fills b with words, spaces and the odd sentence end.
func fillText(b []byte, rng *rand.Rand) {
	i := 0
	for i < len(b) {
		w := benchWords[rng.IntN(len(benchWords))]
		i += copy(b[i:], w)
		if i < len(b) {
			sep := byte(' ')
			if rng.IntN(12) == 0 {
				sep = '.'
			}
			b[i] = sep
			i++
		}
	}
}
