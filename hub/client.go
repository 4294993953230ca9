package hub

import (
	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/codec"
)

// packet handles one frame from a socket: rate limit, decode, client rules,
// then the request itself.
func (r *room) packet(c *Conn, data []byte) {
	if _, ok := r.conns[c]; !ok || c.Closed() {
		return
	}
	if refusal := r.admit(c.UserID, len(data)); refusal != "" {
		r.notice(c, refusal)
		r.violated(c)
		return
	}
	if r.inst == nil {
		r.h.obs.Rejected(classCodecFault)
		r.notice(c, "Server error: no codec available; packet dropped")
		return
	}
	p, err := r.inst.Decode(data, r.h.cfg.MaxPayload)
	if err != nil {
		class := codec.Class(err)
		if class == "" {
			class = classCodecFault
		}
		r.h.obs.Rejected(class)
		r.notice(c, rejectText(class, r.h.cfg.MaxPayload))
		if class != classCodecFault {
			r.violated(c)
		}
		return
	}
	r.h.obs.PacketIn(p.Kind)
	ref, refusal := checkClient(p, r.h.cfg.MaxMessageID)
	if refusal != "" {
		r.h.obs.Rejected(classRule)
		r.notice(c, refusal)
		r.violated(c)
		return
	}
	switch p.Kind {
	case codec.KindMessage:
		r.message(sender{c: c}, c.UserID, ref, "", p)
	case codec.KindReaction:
		r.reactByEither(c, ref, int(*p.Reaction))
	case codec.KindTyping:
		uid := c.UserID
		p.UserID = &uid
		f, err := r.encode(p)
		if err != nil {
			return
		}
		r.broadcast(codec.KindTyping, f, uid)
		if c := r.h.cluster; c != nil {
			_ = c.Typing(r.name, uid, f.Data) // best effort; dropped ones are counted
		}
	}
}

// httpMessage is Hub.Post inside the room: the same path as a socket Message.
// A message the caller gave no id gets one server id, which is also its
// reference id (generated is then true and skips the client rule that
// reserves that shape).
func (r *room) httpMessage(userID, ref string, generated bool, text []byte, reply func(chat.Message, error)) {
	if refusal := r.admit(userID, len(text)); refusal != "" {
		reply(chat.Message{}, refuse(ErrRateLimited, refusal))
		return
	}
	if len(text) > r.h.cfg.MaxPayload {
		reply(chat.Message{}, refuse(ErrTooLarge, tooLargeText(r.h.cfg.MaxPayload)))
		return
	}
	p := codec.Packet{Kind: codec.KindMessage, MessageID: &ref, Payload: text}
	id := ""
	if generated {
		id = ref
	}
	if _, refusal := checkClient(p, r.h.cfg.MaxMessageID); refusal != "" && (!generated || refusal != errServerShapedText) {
		r.h.obs.Rejected(classRule)
		reply(chat.Message{}, refuse(ErrInvalid, refusal))
		return
	}
	r.message(sender{reply: reply}, userID, ref, id, p)
}

// violated counts a refused frame against c. MaxViolations of them within
// one ViolationWindow close the socket: a client that only sends what is
// refused costs a notice each, and would otherwise be served forever.
func (r *room) violated(c *Conn) {
	limit := r.h.cfg.MaxViolations
	if limit <= 0 {
		return
	}
	now := r.h.cfg.Now()
	if now.Sub(c.violStart) >= r.h.cfg.ViolationWindow {
		c.violStart, c.violations = now, 0
	}
	if c.violations++; c.violations >= limit {
		r.h.stats.violations.Add(1)
		c.Disconnect(DisconnectViolations)
	}
}
