package app_test

import (
	"strings"
	"testing"

	"github.com/wasmchannel/wasmchannel/codec"
	"github.com/wasmchannel/wasmchannel/handlers"
	"github.com/wasmchannel/wasmchannel/hub"
)

// Issue 12 §4 (docs/PROTOCOL.md): every client knows a message by one id,
// seen live or from upstream's history route; a reaction by either id
// lands on the same message for everyone; a client cannot choose an id
// shaped like a server id, so no message can shadow another.
func TestOneIDPerMessage(t *testing.T) {
	s := start(t, noRateLimits)
	alice, bob := s.signUp("alice"), s.signUp("bob")
	a := joined(s.dial(alice, hub.DefaultRoom))
	b := joined(s.dial(bob, hub.DefaultRoom))

	a.send(text("live-1", "seen live"))
	a.next(withID("live-1"))
	b.next(withID("live-1"))
	var posted handlers.WireMessage // a bot's post without an id
	if st := s.do("POST", "/api/messages", alice.Token, map[string]any{"text": "from a bot"}, &posted); st != 201 {
		t.Fatalf("post: %d", st)
	}
	if posted.ID != posted.RefID || !hub.ServerShapedID(posted.ID) {
		t.Fatalf("a message posted without an id has id %q and reference id %q; want one server id", posted.ID, posted.RefID)
	}
	b.next(withID(posted.ID))

	// Upstream's route lists each message by the id its packets carry.
	var page history
	if st := s.do("POST", "/rpc/messages/get", bob.Token, map[string]any{"limit": 10}, &page); st != 200 || len(page.Messages) != 2 {
		t.Fatalf("rpc history: %d %+v", st, page.Messages)
	}
	ids := map[string]bool{}
	for _, m := range page.Messages {
		if m.ID != m.RefID {
			t.Fatalf("rpc history id %q is not the reference id %q", m.ID, m.RefID)
		}
		ids[m.ID] = true
	}
	if !ids["live-1"] || !ids[posted.ID] {
		t.Fatalf("rpc history ids %v", ids)
	}
	// GET /api/messages keeps both ids; a reaction by the server id lands
	// on the message and everyone sees it under the reference id.
	var api history
	s.do("GET", "/api/messages?limit=10", bob.Token, nil, &api)
	var serverID string
	for _, m := range api.Messages {
		if m.RefID == "live-1" {
			serverID = m.ID
		}
	}
	if !hub.ServerShapedID(serverID) {
		t.Fatalf("live-1 has server id %q", serverID)
	}
	like := codec.ReactionPtr(codec.ReactionLike)
	b.send(codec.Packet{Kind: codec.KindReaction, MessageID: &serverID, Reaction: like})
	for _, c := range []*client{a, b} {
		got := c.next(kind(codec.KindReaction))
		if *got.MessageID != "live-1" || *got.UserID != bob.ID {
			t.Fatalf("reaction by server id broadcast as %+v; want it on live-1", got)
		}
	}
	// And by the id from upstream's history route (the reference id).
	a.send(codec.Packet{Kind: codec.KindReaction, MessageID: codec.Str(posted.ID), Reaction: codec.ReactionPtr(codec.ReactionHeart)})
	for _, c := range []*client{a, b} {
		if got := c.next(kind(codec.KindReaction)); *got.MessageID != posted.ID {
			t.Fatalf("reaction on the bot's message broadcast as %+v", got)
		}
	}
	s.do("GET", "/api/messages?limit=10", bob.Token, nil, &api)
	for _, m := range api.Messages {
		if len(m.Reactions) != 1 || m.Reactions[0].Count != 1 {
			t.Fatalf("%s: reactions %+v; want one each", m.RefID, m.Reactions)
		}
	}

	// A client id equal to (or shaped like) a server id is refused, over
	// a socket and over HTTP, and stores nothing.
	b.send(text(serverID, "shadow"))
	if n := b.next(notice); !strings.Contains(string(n.Payload), "reserved for server ids") {
		t.Fatalf("notice %q", n.Payload)
	}
	var refusal map[string]any
	if st := s.do("POST", "/api/messages", bob.Token, map[string]any{"text": "shadow", "messageId": serverID}, &refusal); st != 400 {
		t.Fatalf("HTTP post with a server id as messageId: %d %v", st, refusal)
	}
	s.do("GET", "/api/messages?limit=10", bob.Token, nil, &api)
	if len(api.Messages) != 2 {
		t.Fatalf("history after the refused shadows: %+v", api.Messages)
	}
	// The author deletes by the server id, and by the id upstream's route
	// gave: both reach the right message.
	if st := s.do("DELETE", "/api/messages/"+serverID, alice.Token, nil, nil); st != 200 {
		t.Fatalf("delete by server id: %d", st)
	}
	if got := b.next(kind(codec.KindDelete)); *got.MessageID != "live-1" {
		t.Fatalf("delete broadcast %+v", got)
	}
	if st := s.do("DELETE", "/api/messages/"+posted.ID, alice.Token, nil, nil); st != 200 {
		t.Fatalf("delete by the rpc id: %d", st)
	}
	if got := b.next(kind(codec.KindDelete)); *got.MessageID != posted.ID {
		t.Fatalf("delete broadcast %+v", got)
	}
}
