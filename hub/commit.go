package hub

// commit.go: the commit pipeline. A Message waits in pending until the
// persister has made it durable; only then is it broadcast, so an echo is
// an acknowledgement. Retries of the same id join the wait.

import (
	"context"
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
// is its id); it is broadcast to all, sender included, only once committed.
func (r *room) message(s sender, userID, ref string, p codec.Packet) {
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
	pm := &pending{
		msg: chat.Message{
			ID: chat.NewMessageID(), Room: r.name, RefID: ref, UserID: userID,
			Kind: int(codec.KindMessage), Payload: p.Payload, Reactions: []chat.Reaction{},
			CreatedAt: now, UpdatedAt: now,
		},
		frame:   f,
		senders: []sender{s},
	}
	r.pending[ref] = pm
	err = r.h.writer.Submit(pm.msg, func(fresh bool, err error) {
		r.post(func() { r.committed(pm, fresh, err) })
	})
	if err != nil {
		delete(r.pending, ref)
		s.fail(r, ErrNotStored, "Message not stored: the server is shutting down; retry later")
	}
}

func (r *room) committed(pm *pending, fresh bool, err error) {
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
		ref, userID, senders := pm.msg.RefID, pm.msg.UserID, pm.senders
		r.dbJob(func() (chat.Message, error) {
			return r.h.store.MessageByRef(context.Background(), r.name, ref)
		}, func(m chat.Message, err error) {
			if err != nil {
				for _, s := range senders {
					s.fail(r, ErrNotStored, "Message not stored: lookup failed; retry later")
				}
				return
			}
			for _, s := range senders {
				r.reack(s, userID, m)
			}
		})
		return
	}
	if c := r.cache.Load(); c != nil {
		c.add(pm.msg)
	}
	r.broadcast(codec.KindMessage, pm.frame, "")
	for _, s := range pm.senders {
		if s.reply != nil {
			s.reply(pm.msg, nil)
		}
	}
}

// reack acknowledges a Message that is already stored, to its sender only.
func (r *room) reack(s sender, userID string, m chat.Message) {
	if m.UserID != userID {
		s.fail(r, ErrIDTaken, errIDTaken.Message)
		return
	}
	if s.reply != nil {
		s.reply(m, nil)
		return
	}
	f, err := r.encode(storedPacket(m))
	if err != nil {
		return
	}
	if ok, _ := s.c.enqueue(f); ok {
		r.h.obs.PacketOut(codec.KindMessage, 1)
	}
}

func storedPacket(m chat.Message) codec.Packet {
	ref, uid := m.RefID, m.UserID
	return codec.Packet{Kind: codec.KindMessage, MessageID: &ref, UserID: &uid, Payload: m.Payload}
}
