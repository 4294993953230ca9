package hub

import (
	"encoding/json"
	"fmt"

	"github.com/wasmchannel/wasmchannel/codec"
)

// classRule labels a refused packet that decoded but breaks a client rule
// (Observer.Rejected), beside codec's class names.
const classRule = "rule"

// classCodecFault labels a packet refused because the codec itself failed,
// or the room had none; codec names it.
var classCodecFault = codec.Class(codec.ErrCodecFault)

// checkClient applies the client rules of protocol.md to a decoded packet:
// clients send only Message, Reaction and Typing, with the ids each needs.
// It returns the id of the message the packet is or acts on (Message and
// Reaction), or the notice text of a refusal. It is pure, so the rules
// live in one table-tested place; the room enforces what it returns.
func checkClient(p codec.Packet, maxMessageID int) (ref, refusal string) {
	switch p.Kind {
	case codec.KindMessage:
		if p.MessageID == nil || *p.MessageID == "" || len(*p.MessageID) > maxMessageID {
			return "", fmt.Sprintf("Invalid packet (rule): a Message needs a message_id of 1 to %d bytes", maxMessageID)
		}
		if len(p.Payload) == 0 {
			return "", "Invalid packet (rule): a Message needs a non-empty payload"
		}
		if ServerShapedID(*p.MessageID) {
			return "", errServerShapedText
		}
		return *p.MessageID, ""
	case codec.KindReaction:
		if p.MessageID != nil {
			ref = *p.MessageID
		} else {
			ref = string(p.Payload) // older clients put the id in the payload
		}
		if p.Reaction == nil || *p.Reaction == codec.ReactionNone || ref == "" || len(ref) > maxMessageID {
			return "", fmt.Sprintf("Invalid packet (rule): a Reaction needs a message_id of 1 to %d bytes and a reaction_kind from 1 to 4", maxMessageID)
		}
		return ref, ""
	case codec.KindTyping:
		if p.MessageID != nil || !json.Valid(p.Payload) {
			return "", "Invalid packet (rule): a Typing packet has no message_id and a JSON payload"
		}
		return "", ""
	default:
		return "", fmt.Sprintf("Invalid packet (rule): clients may send only Message, Reaction and Typing, not %s", p.Kind)
	}
}

// rejectText explains a decoding failure of class to the client that sent
// it, in codec's words for that class.
func rejectText(class string, maxPayload int) string {
	why := codec.ClassReason(class)
	switch {
	case why == "":
		why = "the codec failed on it; it was dropped"
	case class == codec.Class(codec.ErrTooLarge):
		why = tooLargeText(maxPayload)
	}
	return fmt.Sprintf("Invalid packet (%s): %s", class, why)
}

// tooLargeText is the refusal of a payload over maxPayload, on a socket
// (in a notice) and over HTTP alike.
func tooLargeText(maxPayload int) string {
	return fmt.Sprintf("%s (max %d bytes)", codec.ClassReason(codec.Class(codec.ErrTooLarge)), maxPayload)
}

// errServerShapedText refuses a client-chosen id that could be a server id.
const errServerShapedText = "Invalid packet (rule): a message_id of 26 characters from 0-9 and A-Z without I, L, O and U is reserved for server ids; choose another"

// ServerShapedID reports whether id has the shape of a server message id
// (chat.NewMessageID: 26 characters of Crockford's base32, upper case).
// Clients may not choose such ids (docs/PROTOCOL.md, one id per message),
// so a server id never names another message than its own.
func ServerShapedID(id string) bool {
	if len(id) != 26 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= '0' && c <= '9':
		case c >= 'A' && c <= 'Z' && c != 'I' && c != 'L' && c != 'O' && c != 'U':
		default:
			return false
		}
	}
	return true
}
