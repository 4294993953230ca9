package hub

import (
	"strconv"
	"time"

	"github.com/wasmchannel/wasmchannel/codec"
)

// onlineFold is the longest a change in a room's number of distinct users
// waits before the room tells its sockets (issue 17). A burst of joins or
// leaves inside it costs one OnlineUsers per socket, not one per change, so
// n sockets joining one room cost O(n) packets, not O(n²).
const onlineFold = 25 * time.Millisecond

// presence is what the room has told its sockets about who is online.
// Owned by the room goroutine.
type presence struct {
	frame  *Frame // OnlineUsers for frameN, built once per count
	frameN int
	last   time.Time   // the last broadcast that sent anything
	timer  *time.Timer // a broadcast waiting out the fold, or nil
}

// onlineFrame is the OnlineUsers packet for the current count.
func (r *room) onlineFrame() *Frame {
	n := r.onlineCount()
	if r.online.frame == nil || r.online.frameN != n {
		f, err := r.encode(codec.Packet{Kind: codec.KindOnlineUsers, Payload: []byte(strconv.Itoa(n))})
		if err != nil {
			return nil
		}
		r.online.frame, r.online.frameN = f, n
	}
	return r.online.frame
}

// greet tells a socket that just joined how many users are online, at
// once: a client learns the count, and that it is in the room, from it.
func (r *room) greet(c *Conn) {
	f := r.onlineFrame()
	if f == nil {
		return
	}
	if ok, _ := c.enqueue(f); ok {
		c.online = r.online.frameN
		r.h.obs.PacketOut(codec.KindOnlineUsers, 1)
	}
}

// onlineChanged schedules telling everyone the new count: now if the last
// broadcast was at least onlineFold ago, else when the fold ends, so that
// later changes in the same fold ride along.
func (r *room) onlineChanged() {
	if r.online.timer != nil {
		return
	}
	wait := onlineFold - time.Since(r.online.last)
	if wait <= 0 {
		r.flushOnline()
		return
	}
	r.online.timer = time.AfterFunc(wait, func() { r.post(r.flushOnline) })
}

// flushOnline sends the current count to every socket that has not seen it.
func (r *room) flushOnline() {
	r.online.timer = nil
	if len(r.conns) == 0 {
		return
	}
	f := r.onlineFrame()
	if f == nil {
		return
	}
	n := 0
	for c := range r.conns {
		if c.online == r.online.frameN {
			continue
		}
		ok, overflow := c.enqueue(f)
		switch {
		case ok:
			c.online = r.online.frameN
			n++
		case overflow:
			r.h.obs.SlowClientDropped()
		}
	}
	if n > 0 {
		r.online.last = time.Now()
		r.h.obs.PacketOut(codec.KindOnlineUsers, n)
	}
}

// stopOnline drops a broadcast still waiting; the room is going to sleep.
func (r *room) stopOnline() {
	if r.online.timer != nil {
		r.online.timer.Stop()
		r.online.timer = nil
	}
}
