package loadgen

import (
	"sync/atomic"
)

// MaxSeq bounds the messages one sender sends in a run, so the generator is
// bounded in count as well as in time, and the receipt table stays small.
const MaxSeq = 1 << 22

const (
	chunkBits = 12
	chunkSize = 1 << chunkBits
)

// seqCounts counts distinct receivers per sequence number. Chunks are
// allocated on first touch, so a paced run of a few hundred messages costs a
// few kilobytes while a saturation run can still reach MaxSeq.
type seqCounts struct {
	chunks [MaxSeq / chunkSize]atomic.Pointer[[chunkSize]atomic.Int32]
}

func (s *seqCounts) slot(seq int64) *atomic.Int32 {
	ci := seq >> chunkBits
	p := s.chunks[ci].Load()
	if p == nil {
		fresh := new([chunkSize]atomic.Int32)
		if s.chunks[ci].CompareAndSwap(nil, fresh) {
			p = fresh
		} else {
			p = s.chunks[ci].Load()
		}
	}
	return &p[seq&(chunkSize-1)]
}

func (s *seqCounts) get(seq int64) int32 {
	p := s.chunks[seq>>chunkBits].Load()
	if p == nil {
		return 0
	}
	return p[seq&(chunkSize-1)].Load()
}

// senderTrack is what the tracker knows about one sender.
type senderTrack struct {
	sent     atomic.Int64 // sequence numbers 0..sent-1 were written to the socket
	rejected atomic.Int64 // notices (rate limit, rule) the server sent back to it
	complete atomic.Int64 // messages every client of the room has received
	counts   seqCounts
	// window holds one token per message that may still be in flight; a
	// token comes back when every client has the message or the server
	// rejected one. Nil means unbounded.
	window chan struct{}
}

// roomTrack is one room: how many clients must receive each message, and
// its senders.
type roomTrack struct {
	clients int32
	senders []*senderTrack
}

// Tracker does the loss and duplicate accounting of a run. Every client
// in a room is connected before the first message and stays to the end, so
// each message sent into a room must reach each of its clients exactly once.
type Tracker struct {
	rooms      []*roomTrack
	duplicates atomic.Int64
}

// NewTracker makes a tracker for rooms rooms of clients clients, senders of
// them sending, with a window of in-flight messages per sender (0 =
// unbounded).
func NewTracker(rooms, clients, senders, window int) *Tracker {
	t := &Tracker{rooms: make([]*roomTrack, rooms)}
	for r := range t.rooms {
		rt := &roomTrack{clients: int32(clients), senders: make([]*senderTrack, senders)}
		for s := range rt.senders {
			st := &senderTrack{}
			if window > 0 {
				st.window = make(chan struct{}, window)
				for range window {
					st.window <- struct{}{}
				}
			}
			rt.senders[s] = st
		}
		t.rooms[r] = rt
	}
	return t
}

// Receiver is one client's view: which messages it has seen, per sender.
// It belongs to the client's reader goroutine.
type Receiver struct {
	room int
	seen [][]uint64 // per sender, a bitset over seq
}

// NewReceiver returns the receipt state of a client in room.
func (t *Tracker) NewReceiver(room int) *Receiver {
	return &Receiver{room: room, seen: make([][]uint64, len(t.rooms[room].senders))}
}

// Receipt is the outcome of one received message.
type Receipt int

// Receipt outcomes.
const (
	// Fresh is a first receipt by this client.
	Fresh Receipt = iota
	// Duplicate is a message this client had already received.
	Duplicate
	// Foreign is a message that this run never sent into this room.
	Foreign
)

// Receive records that rcv got message seq of sender (in rcv's room).
func (t *Tracker) Receive(rcv *Receiver, room, sender int, seq int64) Receipt {
	if room != rcv.room || sender < 0 || sender >= len(rcv.seen) || seq < 0 || seq >= MaxSeq {
		return Foreign
	}
	st := t.rooms[room].senders[sender]
	word, bit := seq/64, uint64(1)<<(seq%64)
	bs := rcv.seen[sender]
	if int(word) >= len(bs) {
		bs = append(bs, make([]uint64, int(word)-len(bs)+1)...)
		rcv.seen[sender] = bs
	}
	if bs[word]&bit != 0 {
		t.duplicates.Add(1)
		return Duplicate
	}
	bs[word] |= bit
	if st.counts.slot(seq).Add(1) == t.rooms[room].clients {
		st.complete.Add(1)
		if st.window != nil {
			select {
			case st.window <- struct{}{}:
			default:
			}
		}
	}
	return Fresh
}

// Reject records a notice from the server to a sender: one message of its
// was refused (rate limit, rule) and will never be delivered.
func (t *Tracker) Reject(room, sender int) {
	st := t.rooms[room].senders[sender]
	st.rejected.Add(1)
	if st.window != nil {
		select {
		case st.window <- struct{}{}:
		default:
		}
	}
}

// Sent records that sender wrote message seq to its socket.
func (t *Tracker) Sent(room, sender int, seq int64) {
	t.rooms[room].senders[sender].sent.Store(seq + 1)
}

// Window returns the sender's in-flight window, nil when unbounded.
func (t *Tracker) Window(room, sender int) chan struct{} {
	return t.rooms[room].senders[sender].window
}

// Tally is the accounting at the end of a run.
type Tally struct {
	Sent int64
	// Complete messages reached every client of their room.
	Complete int64
	// Lost messages are those some client never received: partially
	// delivered ones, plus undelivered ones beyond the server's rejections.
	Lost int64
	// MissingDeliveries counts the (message, client) receipts that never
	// happened, over the lost messages.
	MissingDeliveries int64
	// Rejected is how many notices senders got back (rate limit, rule).
	Rejected int64
	// Duplicated counts receipts of a message a client already had.
	Duplicated int64
}

// InFlight counts messages sent but neither delivered to every client of
// their room nor rejected: the drain waits for it to reach zero.
func (t *Tracker) InFlight() int64 {
	var n int64
	for _, rt := range t.rooms {
		for _, st := range rt.senders {
			n += max(0, st.sent.Load()-st.complete.Load()-st.rejected.Load())
		}
	}
	return n
}

// Tally counts sent, complete, lost and duplicated messages.
func (t *Tracker) Tally() Tally {
	var out Tally
	for _, rt := range t.rooms {
		for _, st := range rt.senders {
			sent := st.sent.Load()
			out.Sent += sent
			var none int64
			for seq := range sent {
				switch c := st.counts.get(seq); {
				case c >= rt.clients:
					out.Complete++
				case c == 0:
					none++
				default:
					out.Lost++
					out.MissingDeliveries += int64(rt.clients - c)
				}
			}
			rej := st.rejected.Load()
			out.Rejected += rej
			if extra := none - rej; extra > 0 {
				out.Lost += extra
				out.MissingDeliveries += extra * int64(rt.clients)
			}
		}
	}
	out.Duplicated = t.duplicates.Load()
	return out
}
