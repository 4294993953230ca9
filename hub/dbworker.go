package hub

// dbworker.go: reactions join the writer's group commit; deletes run on
// the room's serial database worker, off the room goroutine, in order.

import (
	"context"
	"errors"
	"strconv"
	"sync"

	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/codec"
)

// dbJob runs fn on the room's serial database worker and then done in the
// room goroutine, so reactions and deletes apply in the order received.
func (r *room) dbJob(fn func() (chat.Message, error), done func(chat.Message, error)) {
	r.jobs++
	r.db.do(func() {
		m, err := fn()
		r.post(func() {
			r.jobs--
			done(m, err)
			r.maybeIdle()
		})
	})
}

// react toggles a reaction through the writer, in the same group commits
// as messages (one synced transaction for many toggles), then broadcasts it
// to everyone. It counts as a pending job so the room stays awake for it.
func (r *room) react(c *Conn, userID, ref string, kind int, reply func(chat.Message, error)) {
	s := sender{c: c, reply: reply}
	if kind < int(codec.ReactionLike) || kind > int(codec.MaxReaction) {
		s.fail(r, ErrInvalid, "Invalid reaction: kind must be 1 to 4")
		return
	}
	r.jobs++
	err := r.h.writer.SubmitToggle(r.name, ref, userID, kind, func(m chat.Message, err error) {
		r.post(func() {
			r.jobs--
			r.toggled(s, userID, ref, kind, m, err)
			r.maybeIdle()
		})
	})
	if err != nil {
		r.jobs--
		if errors.Is(err, chat.ErrInvalid) {
			s.fail(r, ErrInvalid, "Invalid reaction: "+err.Error())
			return
		}
		s.fail(r, ErrNotStored, "Reaction not stored: the server is shutting down; retry later")
	}
}

// reactByEither is a socket's Reaction, whose id may be the message's
// reference id (as seen live) or its server id (as listed by history): a
// server-shaped id that is not a reference id in this room is looked up as
// a server id, and the toggle and its broadcast carry the reference id, so
// everyone sees it land on the same message.
func (r *room) reactByEither(c *Conn, ref string, kind int) {
	if !ServerShapedID(ref) {
		r.react(c, c.UserID, ref, kind, nil)
		return
	}
	if cc := r.cache.Load(); cc != nil {
		if _, ok := cc.byRef(ref); ok {
			r.react(c, c.UserID, ref, kind, nil)
			return
		}
	}
	r.dbJob(func() (chat.Message, error) {
		ctx := context.Background()
		m, err := r.h.store.MessageByRef(ctx, r.name, ref)
		if errors.Is(err, chat.ErrNotFound) {
			if m, err = r.h.store.MessageByID(ctx, ref); err == nil && m.Room != r.name {
				err = chat.ErrNotFound
			}
		}
		return m, err
	}, func(m chat.Message, err error) {
		switch {
		case errors.Is(err, chat.ErrNotFound):
			// react gives the usual answer for an unknown message.
			r.react(c, c.UserID, ref, kind, nil)
		case err != nil:
			r.h.log.Error("room: find reaction target", "room", r.name, "err", err)
			r.notice(c, "Reaction not stored: the server could not read the message; retry later")
		default:
			r.react(c, c.UserID, m.RefID, kind, nil)
		}
	})
}

// toggled completes a reaction in the room once its commit is done.
func (r *room) toggled(s sender, userID, ref string, kind int, m chat.Message, err error) {
	if err != nil {
		if errors.Is(err, chat.ErrNotFound) {
			s.fail(r, ErrNotFound, "Reaction rejected: unknown message "+strconv.Quote(ref))
			return
		}
		r.h.log.Error("room: toggle reaction", "room", r.name, "err", err)
		s.fail(r, ErrNotStored, "Reaction not stored: the server could not save it; retry later")
		return
	}
	if c := r.cache.Load(); c != nil {
		c.replace(m)
	}
	rk := codec.Reaction(kind)
	f, err := r.encode(codec.Packet{Kind: codec.KindReaction, MessageID: &ref, UserID: &userID, Reaction: &rk})
	if err == nil {
		r.publish(codec.KindReaction, m.EventSeq, f)
	}
	if s.reply != nil {
		s.reply(m, nil)
	}
}

// remove soft-deletes the author's message and broadcasts a Delete.
func (r *room) remove(userID, ref string, reply func(chat.Message, error)) {
	r.dbJob(func() (chat.Message, error) {
		return r.h.store.DeleteMessage(context.Background(), r.name, ref, userID)
	}, func(m chat.Message, err error) {
		switch {
		case errors.Is(err, chat.ErrNotFound):
			reply(chat.Message{}, errNotFound)
			return
		case errors.Is(err, chat.ErrForbidden):
			reply(chat.Message{}, errForbidden)
			return
		case err != nil:
			r.h.log.Error("room: delete message", "room", r.name, "err", err)
			reply(chat.Message{}, refuse(ErrNotStored, "the server could not store that; retry later"))
			return
		}
		if c := r.cache.Load(); c != nil {
			c.remove(ref)
		}
		uid := m.UserID
		f, err := r.encode(codec.Packet{Kind: codec.KindDelete, MessageID: &ref, UserID: &uid})
		if err == nil {
			r.publish(codec.KindDelete, m.EventSeq, f)
		}
		reply(m, nil)
	})
}

// serial runs functions one at a time, in order, on a goroutine that exists
// only while there is work.
type serial struct {
	mu      sync.Mutex
	q       []func()
	running bool
}

func (s *serial) do(fn func()) {
	s.mu.Lock()
	s.q = append(s.q, fn)
	if !s.running {
		s.running = true
		go s.loop()
	}
	s.mu.Unlock()
}

func (s *serial) loop() {
	for {
		s.mu.Lock()
		if len(s.q) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		fn := s.q[0]
		s.q = s.q[1:]
		s.mu.Unlock()
		fn()
	}
}
