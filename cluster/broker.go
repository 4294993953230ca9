package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// publishedTTL is how long a room stays in this node's heartbeat Seqs after
// its last publish; a lost tail is older news than that.
const publishedTTL = time.Minute

// Broker is one node's link to the others. Create it with Open; all
// methods are safe for concurrent use.
type Broker struct {
	cfg   Config
	gaps  GapSource
	h     Handler
	log   *slog.Logger
	nc    *nats.Conn
	subj  subjects
	stats counters

	// down is set by Close, for the hot paths that do not take mu.
	down atomic.Bool

	mu        sync.Mutex
	closed    bool
	rooms     map[string]*roomSub
	pres      *presence
	published map[string]pubMark

	// pubMu orders presence publishes, so a full heartbeat read before a
	// change never lands after the change's own announcement; it guards
	// hbGen too.
	pubMu sync.Mutex
	hbGen uint64

	wg    sync.WaitGroup
	done  chan struct{}
	ready chan struct{} // closed once Open has set nc: callbacks wait for it
}

// roomSub is a room this node has sockets in.
type roomSub struct {
	seq *sequencer
	sub *nats.Subscription
}

// pubMark is the newest Seq this node published in a room, and when.
type pubMark struct {
	seq int64
	at  time.Time
}

// counters back Stats; atomics, as the sequencers bump them under their
// own locks.
type counters struct {
	published, publishDropped             atomic.Uint64
	received, delivered, duplicates       atomic.Uint64
	gapFills, gapEvents, fillErrors       atomic.Uint64
	skipped, malformed                    atomic.Uint64
	typingOut, typingIn, typingDropped    atomic.Uint64
	revokesOut, revokesIn, revokesDropped atomic.Uint64
	disconnects, reconnects, slow         atomic.Uint64
}

// Open connects to NATS and starts the presence heartbeat. An unreachable
// NATS is not an error: the Broker starts degraded and keeps retrying.
func Open(cfg Config, gaps GapSource, h Handler) (*Broker, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if gaps == nil || h == nil {
		return nil, fmt.Errorf("%w: nil gap source or handler", ErrConfig)
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	b := &Broker{
		cfg: cfg, gaps: gaps, h: h, log: log.With("node", cfg.NodeID),
		subj:      subjects{cfg.Prefix},
		rooms:     make(map[string]*roomSub),
		pres:      newPresence(),
		published: make(map[string]pubMark),
		done:      make(chan struct{}),
		ready:     make(chan struct{}),
	}
	nc, err := nats.Connect(cfg.URLs,
		nats.Name("wasmchannel "+cfg.NodeID),
		nats.NoEcho(), // this node delivers its own events itself, in order
		nats.MaxReconnects(-1),
		nats.ReconnectWait(cfg.ReconnectWait),
		nats.ReconnectJitter(cfg.ReconnectWait/4, cfg.ReconnectWait/4),
		nats.RetryOnFailedConnect(true),
		// No buffering while disconnected: a publish then is dropped and
		// counted, and peers read what they missed from the store.
		nats.ReconnectBufSize(-1),
		nats.Timeout(cfg.Timeout),
		// Notice a silent (not reset) server within a few seconds.
		nats.PingInterval(2*time.Second),
		nats.MaxPingsOutstanding(2),
		nats.ConnectHandler(func(*nats.Conn) { b.connected(false) }),
		nats.ReconnectHandler(func(*nats.Conn) { b.connected(true) }),
		nats.DisconnectErrHandler(b.disconnected),
		nats.ErrorHandler(b.asyncError),
		nats.NoCallbacksAfterClientClose(),
	)
	if err != nil {
		return nil, fmt.Errorf("cluster: connect %s: %w", cfg.URLs, err)
	}
	b.nc = nc
	if _, err := nc.Subscribe(b.subj.ctl(), b.onCtl); err != nil {
		close(b.done)
		nc.Close()
		return nil, fmt.Errorf("cluster: subscribe control: %w", err)
	}
	close(b.ready)
	b.wg.Add(1)
	go b.loop()
	return b, nil
}

// NodeID is this node's id.
func (b *Broker) NodeID() string { return b.cfg.NodeID }

// Connected reports whether NATS is reachable now.
func (b *Broker) Connected() bool { return b.nc.IsConnected() }

// Publish hands over an event this node just committed: it is delivered
// locally in its place in the room's order (if this node has sockets in
// the room) and published to the other nodes. While NATS is unreachable
// the publish is dropped and counted; peers fill it from the store.
func (b *Broker) Publish(ev Event) error {
	subject, err := b.subj.room(ev.Room)
	if err != nil {
		return err
	}
	if ev.Seq <= 0 {
		return fmt.Errorf("%w: event without a sequence number", ErrInvalid)
	}
	ev.Origin = b.cfg.NodeID
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	rs := b.rooms[ev.Room]
	if m := b.published[ev.Room]; ev.Seq > m.seq {
		b.published[ev.Room] = pubMark{ev.Seq, time.Now()}
	}
	b.mu.Unlock()
	if rs != nil {
		rs.seq.offer(ev)
	}
	if !b.nc.IsConnected() {
		b.stats.publishDropped.Add(1)
		return nil
	}
	if err := b.nc.Publish(subject, encodeEvent(ev)); err != nil {
		b.stats.publishDropped.Add(1)
		return nil
	}
	b.stats.published.Add(1)
	return nil
}

// Typing sends a typing packet of user in room to the other nodes; it is
// best effort and never stored.
func (b *Broker) Typing(room, user string, data []byte) error {
	subject, err := b.subj.room(room)
	if err != nil {
		return err
	}
	if !b.nc.IsConnected() || b.nc.Publish(subject, encodeTyping(b.cfg.NodeID, user, data)) != nil {
		b.stats.typingDropped.Add(1)
		return nil
	}
	b.stats.typingOut.Add(1)
	return nil
}

// Revoke tells every other node to close the sockets of this session key
// (closing this node's own is the caller's job). If NATS is down the
// revocation is counted as dropped; peers' session sweeps still close
// those sockets from the store, and Resync re-checks after reconnecting.
func (b *Broker) Revoke(sessionKey string) error {
	if sessionKey == "" {
		return fmt.Errorf("%w: empty session key", ErrInvalid)
	}
	if !b.nc.IsConnected() || b.publishCtl(ctlMsg{Type: ctlRevoke, Key: sessionKey}) != nil {
		b.stats.revokesDropped.Add(1)
		return nil
	}
	b.stats.revokesOut.Add(1)
	return nil
}

// SetLocal replaces this node's distinct users in room (the users of its
// local sockets) and returns the room's distinct-user count over all
// nodes. A first user subscribes the node to the room; none unsubscribes
// it. Peers hear of the change at once.
func (b *Broker) SetLocal(room string, users []string) (int, error) {
	subject, err := b.subj.room(room)
	if err != nil {
		return 0, err
	}
	users = normUsers(users)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return 0, ErrClosed
	}
	changed := b.pres.setLocal(room, users)
	rs := b.rooms[room]
	switch {
	case len(users) > 0 && rs == nil:
		if err := b.subscribeLocked(room, subject); err != nil {
			b.pres.setLocal(room, nil)
			b.mu.Unlock()
			return 0, err
		}
	case len(users) == 0 && rs != nil:
		delete(b.rooms, room)
		rs.seq.close()
		if err := rs.sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			b.log.Warn("cluster: unsubscribe", "room", room, "err", err)
		}
	}
	n := b.pres.count(room)
	b.mu.Unlock()
	if changed {
		b.announce(room)
	}
	return n, nil
}

// announce publishes this node's current users of one room.
func (b *Broker) announce(room string) {
	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	b.mu.Lock()
	users := b.pres.local[room]
	b.mu.Unlock()
	if users == nil {
		users = []string{}
	}
	if b.nc.IsConnected() {
		_ = b.publishCtl(ctlMsg{Type: ctlHeartbeat, Rooms: map[string][]string{room: users}})
	}
}

// subscribeLocked subscribes to room and fetches its baseline in the
// background: the subscription is registered with the server first, so
// every event committed after the baseline read arrives over NATS.
func (b *Broker) subscribeLocked(room, subject string) error {
	s := newSequencer(b, room)
	sub, err := b.nc.Subscribe(subject, func(m *nats.Msg) { b.onRoom(room, s, m) })
	if err != nil {
		return fmt.Errorf("cluster: subscribe %s: %w", room, err)
	}
	b.rooms[room] = &roomSub{seq: s, sub: sub}
	b.wg.Add(1)
	go b.baseline(s)
	return nil
}

func (b *Broker) baseline(s *sequencer) {
	defer b.wg.Done()
	if b.nc.IsConnected() {
		_ = b.nc.FlushTimeout(b.cfg.Timeout) // the SUB is at the server
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), b.cfg.Timeout)
		last, err := b.gaps.LastSeq(ctx, s.room)
		cancel()
		if err == nil {
			s.setBase(last)
			return
		}
		b.stats.fillErrors.Add(1)
		b.log.Warn("cluster: room baseline read failed; retrying", "room", s.room, "err", err)
		if !s.pause() {
			return
		}
	}
}

// Online is room's distinct-user count over all nodes.
func (b *Broker) Online(room string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pres.count(room)
}

func (b *Broker) onRoom(room string, s *sequencer, m *nats.Msg) {
	msg, err := decodeRoomMsg(m.Data)
	if err != nil {
		b.stats.malformed.Add(1)
		b.log.Warn("cluster: dropped malformed room message", "room", room, "err", err)
		return
	}
	if b.down.Load() {
		return
	}
	switch msg.kind {
	case wireEvent:
		b.stats.received.Add(1)
		s.offer(Event{Room: room, Seq: msg.seq, Origin: msg.origin, Data: msg.data})
	case wireTyping:
		b.stats.typingIn.Add(1)
		b.h.Typing(room, msg.user, msg.data)
	}
}

func (b *Broker) onCtl(m *nats.Msg) {
	c, err := decodeCtl(m.Data)
	if err != nil {
		b.stats.malformed.Add(1)
		b.log.Warn("cluster: dropped malformed control message", "err", err)
		return
	}
	if c.Node == b.cfg.NodeID {
		// NoEcho keeps our own messages from us: this is another process
		// with our id, and presence and echoes would be mixed up.
		b.log.Error("cluster: another node uses this node id; give each node its own --node-id")
		return
	}
	if b.down.Load() {
		return
	}
	switch c.Type {
	case ctlRevoke:
		b.stats.revokesIn.Add(1)
		b.h.Revoke(c.Key)
	case ctlHello:
		b.mu.Lock()
		b.pres.apply(c.Node, false, nil, time.Now())
		b.mu.Unlock()
		b.heartbeat()
	case ctlBye:
		b.mu.Lock()
		changes := b.pres.recount(b.pres.drop(c.Node))
		b.mu.Unlock()
		b.tellOnline(changes)
	case ctlHeartbeat:
		b.mu.Lock()
		var changed []string
		if c.Full && c.Parts > 1 {
			changed = b.pres.applyPart(c.Node, c.Gen, c.Parts, c.Rooms, time.Now())
		} else {
			changed = b.pres.apply(c.Node, c.Full, c.Rooms, time.Now())
		}
		changes := b.pres.recount(changed)
		var hints []func()
		for room, seq := range c.Seqs {
			if rs := b.rooms[room]; rs != nil {
				s, q := rs.seq, seq
				hints = append(hints, func() { s.hint(q) })
			}
		}
		b.mu.Unlock()
		b.tellOnline(changes)
		for _, f := range hints {
			f()
		}
	}
}

func (b *Broker) tellOnline(rooms []string) {
	for _, r := range rooms {
		b.h.Online(r)
	}
}

// heartbeat publishes this node's full presence and recent Seqs, in as
// many parts as NATS's payload limit needs.
func (b *Broker) heartbeat() {
	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	rooms := make(map[string][]string, len(b.pres.local))
	for r, us := range b.pres.local {
		rooms[r] = us
	}
	now := time.Now()
	seqs := make(map[string]int64)
	for r, m := range b.published {
		if now.Sub(m.at) > publishedTTL {
			delete(b.published, r)
			continue
		}
		seqs[r] = m.seq
	}
	b.mu.Unlock()
	if !b.nc.IsConnected() {
		return
	}
	limit := b.cfg.partBytes
	if limit <= 0 {
		// Half the server's limit leaves room for JSON escaping.
		limit = int(b.nc.MaxPayload() / 2)
	}
	b.hbGen++
	parts := splitPresence(rooms, seqs, limit)
	for i, p := range parts {
		c := ctlMsg{Type: ctlHeartbeat, Full: true, Rooms: p.rooms, Seqs: p.seqs}
		if len(parts) > 1 {
			c.Gen, c.Part, c.Parts = b.hbGen, i+1, len(parts)
		}
		if err := b.publishCtl(c); err != nil {
			b.log.Error("cluster: heartbeat not sent", "part", i+1, "parts", len(parts), "err", err)
			return
		}
	}
}

// presencePart is one message's share of a full presence.
type presencePart struct {
	rooms map[string][]string
	seqs  map[string]int64
}

// splitPresence packs rooms (a room's users may be split) and seqs into
// parts of about limit bytes of JSON each; always at least one part.
func splitPresence(rooms map[string][]string, seqs map[string]int64, limit int) []*presencePart {
	const overhead = 128 // the message's other fields
	limit = max(limit, 2*overhead)
	var parts []*presencePart
	size := 0
	// take returns the part that has room for need more bytes.
	take := func(need int) *presencePart {
		if len(parts) == 0 || size+need > limit && size > overhead {
			parts = append(parts, &presencePart{rooms: map[string][]string{}, seqs: map[string]int64{}})
			size = overhead
		}
		size += need
		return parts[len(parts)-1]
	}
	names := make([]string, 0, len(rooms))
	for r := range rooms {
		names = append(names, r)
	}
	slices.Sort(names)
	for _, r := range names {
		p := take(len(r) + 6)
		p.rooms[r] = []string{}
		for _, u := range rooms[r] {
			if q := take(len(u) + 3); q != p {
				p = q
				size += len(r) + 6 // the room's key again in the new part
			}
			p.rooms[r] = append(p.rooms[r], u)
		}
	}
	for r, q := range seqs {
		take(len(r) + 26).seqs[r] = q
	}
	if len(parts) == 0 {
		take(0)
	}
	return parts
}

func (b *Broker) publishCtl(c ctlMsg) error {
	c.Node = b.cfg.NodeID
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("cluster: encode control: %w", err)
	}
	if err := b.nc.Publish(b.subj.ctl(), data); err != nil {
		return fmt.Errorf("cluster: publish control: %w", err)
	}
	return nil
}

// loop heartbeats, expires silent peers and, while NATS is down, polls
// the store for every subscribed room.
func (b *Broker) loop() {
	defer b.wg.Done()
	hb := time.NewTicker(b.cfg.Heartbeat)
	defer hb.Stop()
	sweep := time.NewTicker(b.cfg.Heartbeat / 2)
	defer sweep.Stop()
	var poll <-chan time.Time
	if b.cfg.DegradedPoll > 0 {
		t := time.NewTicker(b.cfg.DegradedPoll)
		defer t.Stop()
		poll = t.C
	}
	for {
		select {
		case <-b.done:
			return
		case <-hb.C:
			b.heartbeat()
		case now := <-sweep.C:
			b.mu.Lock()
			nodes, rooms := b.pres.expire(now.Add(-b.cfg.PeerTTL))
			changes := b.pres.recount(rooms)
			b.mu.Unlock()
			for _, n := range nodes {
				b.log.Info("cluster: peer expired", "peer", n)
			}
			b.tellOnline(changes)
		case <-poll:
			if !b.nc.IsConnected() {
				b.resyncAll()
			}
		}
	}
}

func (b *Broker) resyncAll() {
	b.mu.Lock()
	seqs := make([]*sequencer, 0, len(b.rooms))
	for _, rs := range b.rooms {
		seqs = append(seqs, rs.seq)
	}
	b.mu.Unlock()
	for _, s := range seqs {
		s.resync()
	}
}

// connected runs on the first connection and on every reconnection.
func (b *Broker) connected(re bool) {
	select {
	case <-b.ready:
	case <-b.done:
		return
	}
	if re {
		b.stats.reconnects.Add(1)
		b.log.Info("cluster: NATS reconnected", "server", b.nc.ConnectedUrlRedacted())
	} else {
		b.log.Info("cluster: NATS connected", "server", b.nc.ConnectedUrlRedacted())
	}
	_ = b.publishCtl(ctlMsg{Type: ctlHello})
	b.heartbeat()
	if re {
		// The resent SUBs are at the server once a PING is answered; from
		// then on NATS carries what the store read below does not show.
		_ = b.nc.FlushTimeout(b.cfg.Timeout)
		b.resyncAll()
		b.h.Resync()
	}
}

func (b *Broker) disconnected(_ *nats.Conn, err error) {
	b.stats.disconnects.Add(1)
	b.log.Warn("cluster: NATS disconnected; degraded until it returns", "err", err)
}

// asyncError sees slow-consumer drops: messages NATS discarded for this
// node, which a store read recovers.
func (b *Broker) asyncError(_ *nats.Conn, _ *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrSlowConsumer) {
		b.stats.slow.Add(1)
		b.resyncAll()
		return
	}
	b.log.Warn("cluster: NATS error", "err", err)
}

// Close says goodbye to the peers (they drop this node's users at once),
// unsubscribes and disconnects. Deliveries stop before it returns.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.down.Store(true)
	rooms := b.rooms
	b.rooms = make(map[string]*roomSub)
	b.mu.Unlock()
	for _, rs := range rooms {
		rs.seq.close()
	}
	close(b.done)
	var err error
	if b.nc.IsConnected() {
		_ = b.publishCtl(ctlMsg{Type: ctlBye})
		err = b.nc.FlushTimeout(b.cfg.Timeout)
	}
	b.nc.Close()
	b.wg.Wait()
	if err != nil {
		return fmt.Errorf("cluster: close: %w", err)
	}
	return nil
}

// Stats is a snapshot of the node's cluster state for /health and
// /metrics. Counters only grow.
type Stats struct {
	NodeID    string
	Connected bool
	// Server is the NATS server in use, credentials redacted ("" when
	// disconnected).
	Server string
	// Rooms is how many rooms this node is subscribed to.
	Rooms int
	// Peers is how many other nodes are live now; PeersSeen how many were
	// ever heard from.
	Peers, PeersSeen int

	Published, PublishDropped uint64
	// Received counts events from NATS; Delivered events handed to the
	// hub from any source; Duplicates those dropped as already delivered
	// (or older than the room's subscription).
	Received, Delivered, Duplicates uint64
	// GapFills counts store reads, GapEvents the events they returned,
	// FillErrors failed reads; Skipped counts sequence numbers given up
	// on (a store anomaly: it should stay 0).
	GapFills, GapEvents, FillErrors, Skipped uint64
	Malformed                                uint64
	TypingOut, TypingIn, TypingDropped       uint64
	RevokesOut, RevokesIn, RevokesDropped    uint64
	// Disconnects and Reconnects count NATS connection losses and
	// recoveries; SlowConsumer counts NATS dropping messages for us.
	Disconnects, Reconnects, SlowConsumer uint64
}

// Stats returns the current counters.
func (b *Broker) Stats() Stats {
	b.mu.Lock()
	rooms, peers, ever := len(b.rooms), len(b.pres.peers), len(b.pres.ever)
	b.mu.Unlock()
	st := Stats{
		NodeID: b.cfg.NodeID, Connected: b.nc.IsConnected(),
		Rooms: rooms, Peers: peers, PeersSeen: ever,
		Published: b.stats.published.Load(), PublishDropped: b.stats.publishDropped.Load(),
		Received: b.stats.received.Load(), Delivered: b.stats.delivered.Load(), Duplicates: b.stats.duplicates.Load(),
		GapFills: b.stats.gapFills.Load(), GapEvents: b.stats.gapEvents.Load(), FillErrors: b.stats.fillErrors.Load(),
		Skipped: b.stats.skipped.Load(), Malformed: b.stats.malformed.Load(),
		TypingOut: b.stats.typingOut.Load(), TypingIn: b.stats.typingIn.Load(), TypingDropped: b.stats.typingDropped.Load(),
		RevokesOut: b.stats.revokesOut.Load(), RevokesIn: b.stats.revokesIn.Load(), RevokesDropped: b.stats.revokesDropped.Load(),
		Disconnects: b.stats.disconnects.Load(), Reconnects: b.stats.reconnects.Load(), SlowConsumer: b.stats.slow.Load(),
	}
	if st.Connected {
		st.Server = b.nc.ConnectedUrlRedacted()
	}
	return st
}
