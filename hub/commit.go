package hub

// commit.go: the commit pipeline. A Message waits in pending until the
// persister has made it durable; only then is it broadcast, so an echo is
// an acknowledgement. Retries of the same id join the wait.

import (
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/codec"
)

// pending is a Message waiting for its commit. Everyone who sent it (the
// first sender and any retries) is acknowledged once it is durable.
type pending struct {
	msg     chat.Message
	frame   *Frame
	senders []sender
}

// sender is where a reply goes: a socket (notices as packets) or an HTTP
// caller (a Go reply). Exactly one is set.
type sender struct {
	c     *Conn
	reply func(chat.Message, error)
}

// fail tells the sender why its request was refused: a notice on a socket,
// an *Error of kind to an HTTP caller.
func (s sender) fail(r *room, kind error, text string) {
	if s.c != nil {
		r.notice(s.c, text)
	}
	if s.reply != nil {
		s.reply(chat.Message{}, refuse(kind, text))
	}
}

// message stamps and submits a Message that passed the client rules (ref
// is its reference id; id its server id, or "" for a new one); it is
// broadcast to all, sender included, only once committed.
func (r *room) message(s sender, userID, ref, id string, p codec.Packet) {
	if c := r.cache.Load(); c != nil {
		if m, ok := c.byRef(ref); ok {
			r.reack(s, userID, m)
			return
		}
	}
	if pm := r.pending[ref]; pm != nil {
		if pm.msg.UserID != userID {
			s.fail(r, ErrIDTaken, errIDTaken.Message)
			return
		}
		pm.senders = append(pm.senders, s)
		return
	}
	p.UserID = &userID
	p.Reaction = nil
	f, err := r.encode(p)
	if err != nil {
		s.fail(r, ErrNotStored, "Server error: the message could not be encoded")
		return
	}
	// Milliseconds, as stored, so cache and database agree on time cursors.
	now := r.h.cfg.Now().UTC().Truncate(time.Millisecond)
	if id == "" {
		id = chat.NewMessageID()
	}
	pm := &pending{
		msg: chat.Message{
			ID: id, Room: r.name, RefID: ref, UserID: userID,
			Kind: int(codec.KindMessage), Payload: p.Payload, Reactions: []chat.Reaction{},
			CreatedAt: now, UpdatedAt: now,
		},
		frame:   f,
		senders: []sender{s},
	}
	r.pending[ref] = pm
	err = r.h.writer.SubmitMessage(pm.msg, func(stored chat.Message, fresh bool, err error) {
		r.post(func() { r.committed(pm, stored, fresh, err) })
	})
	if err != nil {
		delete(r.pending, ref)
		s.fail(r, ErrNotStored, "Message not stored: the server is shutting down; retry later")
	}
}

// committed runs in the room once the writer is done with pm. stored is
// what the store holds: pm's message with its numbers when fresh, else the
// original (erased if it was deleted since).
func (r *room) committed(pm *pending, stored chat.Message, fresh bool, err error) {
	delete(r.pending, pm.msg.RefID)
	defer r.maybeIdle()
	if err != nil {
		r.h.log.Error("room: store message", "room", r.name, "err", err)
		for _, s := range pm.senders {
			s.fail(r, ErrNotStored, "Message not stored: the server could not save it; retry later")
		}
		return
	}
	if !fresh {
		// Stored before (a retry after a restart): acknowledge what is stored.
		for _, s := range pm.senders {
			r.reack(s, pm.msg.UserID, stored)
		}
		return
	}
	pm.msg.Seq, pm.msg.EventSeq = stored.Seq, stored.EventSeq
	if c := r.cache.Load(); c != nil {
		c.add(pm.msg)
	}
	r.publish(codec.KindMessage, stored.EventSeq, pm.frame)
	for _, s := range pm.senders {
		if s.reply != nil {
			s.reply(pm.msg, nil)
		}
	}
}

// reack acknowledges a Message that is already stored, to its sender only.
// A deleted one is answered with its Delete (the id is known, the text is
// gone), never with text: the store erased it.
func (r *room) reack(s sender, userID string, m chat.Message) {
	if m.UserID != userID {
		s.fail(r, ErrIDTaken, errIDTaken.Message)
		return
	}
	if s.reply != nil {
		s.reply(m, nil) // erased, with deletedAt, when deleted
		return
	}
	p, kind := storedPacket(m), codec.KindMessage
	if m.Deleted() {
		ref, uid := m.RefID, m.UserID
		p, kind = codec.Packet{Kind: codec.KindDelete, MessageID: &ref, UserID: &uid}, codec.KindDelete
	}
	f, err := r.encode(p)
	if err != nil {
		return
	}
	if ok, _ := s.c.enqueue(f); ok {
		r.h.obs.PacketOut(kind, 1)
	}
}

func storedPacket(m chat.Message) codec.Packet {
	ref, uid := m.RefID, m.UserID
	return codec.Packet{Kind: codec.KindMessage, MessageID: &ref, UserID: &uid, Payload: m.Payload}
}
