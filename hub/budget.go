package hub

// budget.go: what one user may cost the server across rooms (issue 15):
// how many rooms it holds awake, and its packets and bytes per second.

import (
	"fmt"
	"sync"
	"time"
)

// hold is one user's claim on an awake room.
type hold struct {
	socks   int       // the user's sockets in the room
	touched time.Time // the user's last HTTP request to it
}

// overRoomCapLocked reports whether userID already holds MaxRoomsPerUser
// awake rooms, forgetting claims that lapsed. Called with h.mu held.
func (h *Hub) overRoomCapLocked(userID string) bool {
	if h.cfg.MaxRoomsPerUser <= 0 || userID == "" {
		return false
	}
	now := h.cfg.Now()
	n := 0
	for r, hd := range h.held[userID] {
		if hd.socks > 0 || now.Sub(hd.touched) < h.cfg.IdleGrace {
			n++
			continue
		}
		h.dropHoldLocked(userID, r)
	}
	return n >= h.cfg.MaxRoomsPerUser
}

// holdLocked records that userID uses r: one more socket when sock, else
// an HTTP request now. Called with h.mu held.
func (h *Hub) holdLocked(userID string, r *room, sock bool) {
	if h.cfg.MaxRoomsPerUser <= 0 || userID == "" {
		return
	}
	m := h.held[userID]
	if m == nil {
		m = make(map[*room]*hold)
		h.held[userID] = m
	}
	hd := m[r]
	if hd == nil {
		hd = &hold{}
		m[r] = hd
		r.holders[userID] = struct{}{}
	}
	if sock {
		hd.socks++
	} else {
		hd.touched = h.cfg.Now()
	}
}

// unholdSockLocked ends one socket's claim. Called with h.mu held.
func (h *Hub) unholdSockLocked(userID string, r *room) {
	if hd := h.held[userID][r]; hd != nil && hd.socks > 0 {
		hd.socks--
	}
}

// dropHoldLocked forgets userID's claim on r. Called with h.mu held.
func (h *Hub) dropHoldLocked(userID string, r *room) {
	delete(r.holders, userID)
	if m := h.held[userID]; m != nil {
		delete(m, r)
		if len(m) == 0 {
			delete(h.held, userID)
		}
	}
}

func (h *Hub) roomCapError() *Error {
	return refuse(ErrTooManyRooms, fmt.Sprintf("Too many rooms: one user may hold %d rooms awake; leave one or retry later", h.cfg.MaxRoomsPerUser))
}

// budget is one user's packets and bytes per second across rooms.
type budget struct {
	mu             sync.Mutex
	packets, bytes bucket
}

// budgets holds a budget per user who sent something recently.
type budgets struct {
	mu sync.Mutex
	m  map[string]*budget
	// pruneAt is the map size at which refilled budgets are forgotten.
	pruneAt int
}

// minPrune is the smallest budgets map worth pruning.
const minPrune = 1024

// spend charges one packet of size bytes to userID's budget across rooms.
// It returns the refusal text, or "" when the budget allows it.
func (h *Hub) spend(userID string, size int) string {
	pr, br := h.cfg.UserPacketRate, h.cfg.UserByteRate
	if pr <= 0 && br <= 0 {
		return ""
	}
	now := h.cfg.Now()
	bs := &h.budgets
	bs.mu.Lock()
	b := bs.m[userID]
	if b == nil {
		if len(bs.m) >= max(bs.pruneAt, minPrune) {
			bs.prune(now, pr, br)
		}
		b = &budget{}
		bs.m[userID] = b
	}
	bs.mu.Unlock()

	b.mu.Lock()
	defer b.mu.Unlock()
	if pr > 0 && !b.packets.allow(now, pr) {
		return fmt.Sprintf("Rate limit exceeded: %d messages per second across all rooms", pr)
	}
	if br > 0 && !b.bytes.take(now, br, size) {
		return fmt.Sprintf("Rate limit exceeded: %d bytes per second across all rooms", br)
	}
	return ""
}

// prune forgets budgets that have refilled. Called with bs.mu held.
func (bs *budgets) prune(now time.Time, pr, br int) {
	for u, b := range bs.m {
		b.mu.Lock()
		full := (pr <= 0 || b.packets.full(now, pr)) && (br <= 0 || b.bytes.full(now, br))
		b.mu.Unlock()
		if full {
			delete(bs.m, u)
		}
	}
	bs.pruneAt = 2 * len(bs.m)
}
