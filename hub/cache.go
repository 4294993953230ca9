package hub

import (
	"sync"

	"github.com/wasmchannel/wasmchannel/chat"
)

// cache holds the newest committed, undeleted messages of one room, oldest
// first, as upstream kept the newest 100 in KV. The room goroutine writes
// it; history requests read it from their own goroutines.
type cache struct {
	mu   sync.RWMutex
	max  int
	msgs []chat.Message
	// complete is true while the cache holds every message of the room, so
	// a page that runs past its oldest entry needs no database read.
	complete bool
}

func newCache(max int, newestFirst []chat.Message) *cache {
	c := &cache{max: max, complete: len(newestFirst) < max}
	c.msgs = make([]chat.Message, 0, len(newestFirst))
	for i := len(newestFirst) - 1; i >= 0; i-- {
		c.msgs = append(c.msgs, newestFirst[i])
	}
	return c
}

func (c *cache) add(m chat.Message) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.msgs) >= c.max {
		copy(c.msgs, c.msgs[1:])
		c.msgs = c.msgs[:len(c.msgs)-1]
		c.complete = false
	}
	c.msgs = append(c.msgs, m)
}

func (c *cache) byRef(ref string) (chat.Message, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for i := len(c.msgs) - 1; i >= 0; i-- {
		if c.msgs[i].RefID == ref {
			return c.msgs[i], true
		}
	}
	return chat.Message{}, false
}

// replace swaps in a newer version of a cached message (a reaction toggled).
func (c *cache) replace(m chat.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.msgs) - 1; i >= 0; i-- {
		if c.msgs[i].RefID == m.RefID {
			c.msgs[i] = m
			return
		}
	}
}

func (c *cache) remove(ref string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.msgs) - 1; i >= 0; i-- {
		if c.msgs[i].RefID == ref {
			c.msgs = append(c.msgs[:i], c.msgs[i+1:]...)
			return
		}
	}
}

// page returns up to limit messages older than cur, newest first. done
// reports that no database read is needed to complete the page; ok is false
// when the cursor lies outside the cache altogether.
func (c *cache) page(cur chat.Cursor, limit int) (out []chat.Message, done, ok bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	end := len(c.msgs) // exclusive
	switch {
	case cur.BeforeRef != "":
		end = -1
		for i := len(c.msgs) - 1; i >= 0; i-- {
			if c.msgs[i].RefID == cur.BeforeRef {
				end = i
				break
			}
		}
		if end < 0 {
			return nil, false, false
		}
	case !cur.Before.IsZero():
		for end > 0 && !c.msgs[end-1].CreatedAt.Before(cur.Before) {
			end--
		}
		if end == 0 && !c.complete {
			return nil, false, false
		}
	}
	for i := end - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, c.msgs[i])
	}
	return out, len(out) == limit || c.complete, true
}
