package hub

// cluster.go: the hub's side of cluster mode (docs/CLUSTER.md). With a
// Cluster set, committed events are published with their room number and
// reach the sockets only through the Cluster's in-order delivery, typing
// goes to the other nodes, and the online count is the union over nodes.

import (
	"context"
	"fmt"

	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/cluster"
	"github.com/wasmchannel/wasmchannel/codec"
)

// Cluster is what the hub needs of a cluster.Broker.
type Cluster interface {
	Publish(ev cluster.Event) error
	Typing(room, user string, data []byte) error
	SetLocal(room string, users []string) (int, error)
	Online(room string) int
	Revoke(sessionKey string) error
}

// SetCluster joins the hub to a cluster. Call it once, before serving:
// rooms read it without a lock.
func (h *Hub) SetCluster(c Cluster) { h.cluster = c }

// ClusterHandler is the cluster.Handler that feeds other nodes' traffic
// (and this node's own events, in order) into the rooms.
func (h *Hub) ClusterHandler(valid func(ctx context.Context, key string) bool) cluster.Handler {
	return clusterHandler{h: h, valid: valid}
}

type clusterHandler struct {
	h     *Hub
	valid func(ctx context.Context, key string) bool
}

// awake returns the room if it is awake; the cluster only delivers to
// rooms this node has sockets in, and a room without sockets has no one to
// tell.
func (h *Hub) awake(name string) *room {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rooms[name]
}

// Deliver broadcasts a committed event in the room actor. Events without
// data (a message deleted since; its Delete follows) are skipped.
func (ch clusterHandler) Deliver(ev cluster.Event) {
	if len(ev.Data) == 0 {
		return
	}
	r := ch.h.awake(ev.Room)
	if r == nil {
		return
	}
	kind := codec.KindMessage
	if e, err := codec.ParseEnvelope(ev.Data); err == nil {
		kind = e.Kind
	}
	f := NewFrame(ev.Data)
	r.post(func() { r.broadcast(kind, f, "") })
}

// Typing broadcasts another node's typing packet to everyone but its user.
func (ch clusterHandler) Typing(room, user string, data []byte) {
	r := ch.h.awake(room)
	if r == nil {
		return
	}
	f := NewFrame(data)
	r.post(func() { r.broadcast(codec.KindTyping, f, user) })
}

// Online re-reads the room's count over all nodes in the room actor.
func (ch clusterHandler) Online(room string) {
	r := ch.h.awake(room)
	if r == nil {
		return
	}
	r.post(func() {
		if c := ch.h.cluster; c != nil {
			r.clusterOnline = c.Online(r.name)
		}
		r.onlineChanged()
	})
}

// Revoke closes this node's sockets of a session ended on another node.
func (ch clusterHandler) Revoke(key string) { ch.h.CloseSession(key) }

// Resync re-checks every session after a NATS reconnect: revocations sent
// meanwhile were lost.
func (ch clusterHandler) Resync() {
	if ch.valid != nil {
		go ch.h.SweepSessions(context.Background(), ch.valid)
	}
}

// CloseSession closes every local socket of the session with this key
// (the token hash) with DisconnectSessionEnded.
func (h *Hub) CloseSession(key string) {
	h.mu.Lock()
	conns := make([]*Conn, 0, len(h.sessions[key]))
	for c := range h.sessions[key] {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.Disconnect(DisconnectSessionEnded)
	}
}

// SessionEnded closes the session's sockets here and, in a cluster, on
// every other node.
func (h *Hub) SessionEnded(key string) {
	h.CloseSession(key)
	if c := h.cluster; c != nil {
		if err := c.Revoke(key); err != nil {
			h.log.Warn("cluster: revoke", "err", err)
		}
	}
}

// setLocalUsers tells the cluster this room's distinct local users after a
// user's first socket joined or last one left, and keeps the count over
// all nodes for the OnlineUsers packets.
func (r *room) setLocalUsers() {
	c := r.h.cluster
	if c == nil {
		return
	}
	users := make([]string, 0, len(r.users))
	for u := range r.users {
		users = append(users, u)
	}
	n, err := c.SetLocal(r.name, users)
	if err != nil {
		r.h.log.Warn("cluster: presence", "room", r.name, "err", err)
		n = len(r.users)
	}
	r.clusterOnline = n
}

// onlineCount is the room's distinct users: over all nodes in a cluster.
func (r *room) onlineCount() int {
	if r.h.cluster != nil && r.clusterOnline > 0 {
		return r.clusterOnline
	}
	return len(r.users)
}

// GapSource reads a room's committed events back from the store as the
// packets the live path broadcast, for the cluster's gap fills.
func (h *Hub) GapSource(log chat.EventLog) cluster.GapSource {
	return gapSource{h: h, log: log}
}

type gapSource struct {
	h   *Hub
	log chat.EventLog
}

func (g gapSource) LastSeq(ctx context.Context, room string) (int64, error) {
	return g.log.LastSeq(ctx, room)
}

func (g gapSource) After(ctx context.Context, room string, after int64, limit int) ([]cluster.Event, error) {
	if limit > chat.MaxEventsLimit {
		limit = chat.MaxEventsLimit
	}
	evs, err := g.log.EventsAfter(ctx, room, after, limit)
	if err != nil {
		return nil, fmt.Errorf("gap read: %w", err)
	}
	inst, err := g.h.fallback.Acquire(ctx) // the Go codec: same bytes, no pool lease
	if err != nil {
		return nil, fmt.Errorf("gap read: codec: %w", err)
	}
	defer inst.Release()
	out := make([]cluster.Event, 0, len(evs))
	for _, e := range evs {
		ref, uid := e.RefID, e.UserID
		var p codec.Packet
		switch e.Kind {
		case chat.EventMessage:
			if e.Deleted {
				out = append(out, cluster.Event{Room: room, Seq: e.Seq})
				continue
			}
			p = codec.Packet{Kind: codec.KindMessage, MessageID: &ref, UserID: &uid, Payload: e.Payload}
		case chat.EventReaction:
			rk := codec.Reaction(e.Reaction)
			p = codec.Packet{Kind: codec.KindReaction, MessageID: &ref, UserID: &uid, Reaction: &rk}
		case chat.EventDelete:
			p = codec.Packet{Kind: codec.KindDelete, MessageID: &ref, UserID: &uid}
		default:
			out = append(out, cluster.Event{Room: room, Seq: e.Seq})
			continue
		}
		data, err := inst.Encode(p)
		if err != nil {
			return nil, fmt.Errorf("gap read: encode %s: %w", p.Kind, err)
		}
		out = append(out, cluster.Event{Room: room, Seq: e.Seq, Data: data})
	}
	return out, nil
}
