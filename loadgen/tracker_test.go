package loadgen

import (
	"testing"
)

// receipt is one (client, sender, seq) delivery in a scripted scenario.
type receipt struct {
	client, sender int
	seq            int64
}

func TestTrackerTally(t *testing.T) {
	const clients, senders = 3, 2
	// all is every receipt of 4 messages per sender by every client.
	all := func() []receipt {
		var out []receipt
		for c := range clients {
			for s := range senders {
				for q := range int64(4) {
					out = append(out, receipt{c, s, q})
				}
			}
		}
		return out
	}
	without := func(rs []receipt, drop receipt) []receipt {
		var out []receipt
		for _, r := range rs {
			if r != drop {
				out = append(out, r)
			}
		}
		return out
	}
	tests := []struct {
		name     string
		sent     [senders]int64
		rejected [senders]int
		receipts []receipt
		want     Tally
		inFlight int64
	}{
		{
			name: "every message everywhere once",
			sent: [senders]int64{4, 4}, receipts: all(),
			want: Tally{Sent: 8, Complete: 8},
		},
		{
			name: "one client misses one message",
			sent: [senders]int64{4, 4}, receipts: without(all(), receipt{2, 1, 3}),
			want:     Tally{Sent: 8, Complete: 7, Lost: 1, MissingDeliveries: 1},
			inFlight: 1,
		},
		{
			name: "a message nobody got",
			sent: [senders]int64{4, 4},
			receipts: without(without(without(all(),
				receipt{0, 0, 2}), receipt{1, 0, 2}), receipt{2, 0, 2}),
			want:     Tally{Sent: 8, Complete: 7, Lost: 1, MissingDeliveries: clients},
			inFlight: 1,
		},
		{
			name: "a message nobody got, rejected by the server",
			sent: [senders]int64{4, 4}, rejected: [senders]int{1, 0},
			receipts: without(without(without(all(),
				receipt{0, 0, 2}), receipt{1, 0, 2}), receipt{2, 0, 2}),
			want: Tally{Sent: 8, Complete: 7, Rejected: 1},
		},
		{
			name: "a rejection does not excuse a partial delivery",
			sent: [senders]int64{4, 4}, rejected: [senders]int{1, 0},
			receipts: without(all(), receipt{1, 0, 0}),
			want:     Tally{Sent: 8, Complete: 7, Lost: 1, MissingDeliveries: 1, Rejected: 1},
		},
		{
			name:     "duplicates are counted, not double-delivered",
			sent:     [senders]int64{4, 4},
			receipts: append(all(), receipt{0, 1, 1}, receipt{0, 1, 1}, receipt{2, 0, 0}),
			want:     Tally{Sent: 8, Complete: 8, Duplicated: 3},
		},
		{
			name:     "a duplicate does not hide a missing receipt",
			sent:     [senders]int64{4, 4},
			receipts: append(without(all(), receipt{1, 0, 3}), receipt{0, 0, 3}),
			want:     Tally{Sent: 8, Complete: 7, Lost: 1, MissingDeliveries: 1, Duplicated: 1},
			inFlight: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(1, clients, senders, 0)
			rcv := make([]*Receiver, clients)
			for i := range rcv {
				rcv[i] = tr.NewReceiver(0)
			}
			for s, n := range tt.sent {
				for q := range n {
					tr.Sent(0, s, q)
				}
			}
			for s, n := range tt.rejected {
				for range n {
					tr.Reject(0, s)
				}
			}
			for _, r := range tt.receipts {
				tr.Receive(rcv[r.client], 0, r.sender, r.seq)
			}
			if got := tr.Tally(); got != tt.want {
				t.Errorf("Tally = %+v, want %+v", got, tt.want)
			}
			if got := tr.InFlight(); got != tt.inFlight {
				t.Errorf("InFlight = %d, want %d", got, tt.inFlight)
			}
		})
	}
}

func TestTrackerReceiveOutcomes(t *testing.T) {
	tr := NewTracker(2, 2, 1, 0)
	a := tr.NewReceiver(0)
	tests := []struct {
		name         string
		room, sender int
		seq          int64
		want         Receipt
	}{
		{"first receipt", 0, 0, 5, Fresh},
		{"again", 0, 0, 5, Duplicate},
		{"next", 0, 0, 6, Fresh},
		{"seq far ahead grows the bitset", 0, 0, 100000, Fresh},
		{"other room", 1, 0, 1, Foreign},
		{"unknown sender", 0, 3, 1, Foreign},
		{"negative seq", 0, 0, -1, Foreign},
		{"seq beyond MaxSeq", 0, 0, MaxSeq, Foreign},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tr.Receive(a, tt.room, tt.sender, tt.seq); got != tt.want {
				t.Errorf("Receive = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTrackerWindow(t *testing.T) {
	tr := NewTracker(1, 2, 1, 2)
	w := tr.Window(0, 0)
	take := func() bool {
		select {
		case <-w:
			return true
		default:
			return false
		}
	}
	got := 0
	for range 3 {
		if take() {
			got++
		}
	}
	if got != 2 {
		t.Fatalf("a window of 2 handed out %d tokens, want exactly 2", got)
	}
	tr.Sent(0, 0, 0)
	tr.Sent(0, 0, 1)
	a, b := tr.NewReceiver(0), tr.NewReceiver(0)
	tr.Receive(a, 0, 0, 0)
	if take() {
		t.Fatal("a token came back before every client had the message")
	}
	tr.Receive(a, 0, 0, 0) // a duplicate must not complete it either
	if take() {
		t.Fatal("a duplicate returned a token")
	}
	tr.Receive(b, 0, 0, 0)
	if !take() {
		t.Fatal("no token back once every client had the message")
	}
	tr.Reject(0, 0)
	if !take() {
		t.Fatal("no token back after a rejection")
	}
	if unbounded := NewTracker(1, 1, 1, 0); unbounded.Window(0, 0) != nil {
		t.Fatal("window 0 should be unbounded (nil)")
	}
}
