package cluster

import (
	"slices"
	"time"
)

// presence is every node's distinct users per room, as last heard. A room
// counts a user once however many sockets and nodes they have. It is
// guarded by the Broker's mutex.
type presence struct {
	local map[string][]string // this node: room → sorted distinct users
	peers map[string]*peer
	// shown is the count last given to the hub per local room, so Online
	// fires only on a change.
	shown map[string]int
	// ever holds every peer id heard from since start.
	ever map[string]struct{}
}

type peer struct {
	seen  time.Time
	rooms map[string][]string
	// A multi-part full presence being gathered: its generation, parts
	// received, and rooms so far.
	gen    uint64
	got    int
	staged map[string][]string
}

func newPresence() *presence {
	return &presence{
		local: make(map[string][]string),
		peers: make(map[string]*peer),
		shown: make(map[string]int),
		ever:  make(map[string]struct{}),
	}
}

// count is the number of distinct users in room over all live nodes.
func (p *presence) count(room string) int {
	local := p.local[room]
	n := len(local)
	var extra map[string]struct{}
	for _, pr := range p.peers {
		for _, u := range pr.rooms[room] {
			if _, ok := slices.BinarySearch(local, u); ok {
				continue
			}
			if extra == nil {
				extra = make(map[string]struct{})
			}
			extra[u] = struct{}{}
		}
	}
	return n + len(extra)
}

// setLocal replaces this node's users of room; it reports whether the set
// changed.
func (p *presence) setLocal(room string, users []string) bool {
	old := p.local[room]
	if slices.Equal(old, users) {
		return false
	}
	if len(users) == 0 {
		delete(p.local, room)
		delete(p.shown, room)
	} else {
		p.local[room] = users
		p.shown[room] = p.count(room)
	}
	return true
}

// apply merges a peer's heartbeat (full or changed rooms) and returns the
// rooms whose users changed.
func (p *presence) apply(node string, full bool, rooms map[string][]string, now time.Time) []string {
	pr := p.peers[node]
	if pr == nil {
		pr = &peer{rooms: make(map[string][]string)}
		p.peers[node] = pr
		p.ever[node] = struct{}{}
	}
	pr.seen = now
	var changed []string
	if full {
		for r := range pr.rooms {
			if _, ok := rooms[r]; !ok {
				changed = append(changed, r)
				delete(pr.rooms, r)
			}
		}
	}
	for r, us := range rooms {
		us = normUsers(us)
		if slices.Equal(pr.rooms[r], us) {
			continue
		}
		changed = append(changed, r)
		if len(us) == 0 {
			delete(pr.rooms, r)
		} else {
			pr.rooms[r] = us
		}
	}
	return changed
}

// applyPart gathers one part of a full presence and applies the whole
// once its last part is in; it returns the rooms whose users changed.
// Parts of one publisher arrive in order, so a new generation simply
// replaces an unfinished one (as after a lost part, or a restart).
func (p *presence) applyPart(node string, gen uint64, parts int, rooms map[string][]string, now time.Time) []string {
	pr := p.peers[node]
	if pr == nil {
		p.apply(node, false, nil, now)
		pr = p.peers[node]
	}
	pr.seen = now
	if pr.staged == nil || pr.gen != gen {
		pr.gen, pr.got, pr.staged = gen, 0, make(map[string][]string)
	}
	for r, us := range rooms {
		pr.staged[r] = append(pr.staged[r], us...)
	}
	if pr.got++; pr.got < parts {
		return nil
	}
	full := pr.staged
	pr.staged = nil
	return p.apply(node, true, full, now)
}

// drop forgets a peer (goodbye or expiry) and returns its rooms.
func (p *presence) drop(node string) []string {
	pr := p.peers[node]
	if pr == nil {
		return nil
	}
	delete(p.peers, node)
	rooms := make([]string, 0, len(pr.rooms))
	for r := range pr.rooms {
		rooms = append(rooms, r)
	}
	return rooms
}

// expire drops peers silent since before cutoff and returns their rooms.
func (p *presence) expire(cutoff time.Time) (nodes, rooms []string) {
	for node, pr := range p.peers {
		if pr.seen.Before(cutoff) {
			nodes = append(nodes, node)
			rooms = append(rooms, p.drop(node)...)
		}
	}
	return nodes, rooms
}

// recount returns those rooms that have local users and whose count
// changed: the Online notices owed to the hub.
func (p *presence) recount(rooms []string) []string {
	var out []string
	for _, r := range rooms {
		if _, ok := p.local[r]; !ok {
			continue
		}
		if n := p.count(r); p.shown[r] != n {
			p.shown[r] = n
			out = append(out, r)
		}
	}
	return out
}

// normUsers returns users sorted, without duplicates or empty ids.
func normUsers(users []string) []string {
	out := make([]string, 0, len(users))
	for _, u := range users {
		if u != "" {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
