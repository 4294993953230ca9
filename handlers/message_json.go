package handlers

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/wasmchannel/wasmchannel/chat"
)

// WireMessage is a chat.Message in upstream's JSON shape (protocol.md §
// History), the spelling of "refrenceId" included. It is a defined type
// over chat.Message, so converting either way costs nothing and the
// domain keeps no JSON of its own.
type WireMessage chat.Message

// WireMessages converts a page of messages for encoding; never nil, so the
// JSON says [] rather than null.
func WireMessages(ms []chat.Message) []WireMessage {
	out := make([]WireMessage, len(ms))
	for i, m := range ms {
		out[i] = WireMessage(m)
	}
	return out
}

// jsonTimeLayout is ISO-8601 in UTC with milliseconds, as JavaScript's
// Date.prototype.toISOString writes it, which upstream's clients parse.
const jsonTimeLayout = "2006-01-02T15:04:05.000Z"

// reactionJSON is one entry of a message's reactions list.
type reactionJSON struct {
	Kind  int      `json:"kind"`
	Count int      `json:"count"`
	Users []string `json:"users"`
}

// messageJSON is the encoded form of WireMessage.
type messageJSON struct {
	ID           string         `json:"id"`
	RefID        string         `json:"refrenceId"`
	Kind         int            `json:"kind"`
	ReactionKind *int           `json:"reactionKind"`
	Message      string         `json:"message"`
	Reactions    []reactionJSON `json:"reactions"`
	SentBy       string         `json:"sentBy"`
	CreatedAt    string         `json:"createdAt"`
	UpdatedAt    string         `json:"updatedAt"`
	DeletedAt    *string        `json:"deletedAt"`
}

// MarshalJSON writes upstream's shape: the payload as text (invalid UTF-8
// becomes U+FFFD), reactions as a list that is never null, times as
// ISO-8601 UTC with milliseconds, and null for absent optional fields. The
// room is not part of the shape.
func (m WireMessage) MarshalJSON() ([]byte, error) {
	rs := chat.NormReactions(m.Reactions)
	j := messageJSON{
		ID:           m.ID,
		RefID:        m.RefID,
		Kind:         m.Kind,
		ReactionKind: m.ReactionKind,
		Message:      string(m.Payload),
		Reactions:    make([]reactionJSON, len(rs)),
		SentBy:       m.UserID,
		CreatedAt:    FormatTime(m.CreatedAt),
		UpdatedAt:    FormatTime(m.UpdatedAt),
	}
	for i, r := range rs {
		j.Reactions[i] = reactionJSON(r)
	}
	if m.DeletedAt != nil {
		s := FormatTime(*m.DeletedAt)
		j.DeletedAt = &s
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the shape MarshalJSON writes, for clients and tests.
// Room is left empty and Payload holds the text's UTF-8 bytes.
func (m *WireMessage) UnmarshalJSON(b []byte) error {
	var j messageJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	out := WireMessage{
		ID: j.ID, RefID: j.RefID, UserID: j.SentBy, Kind: j.Kind, ReactionKind: j.ReactionKind,
		Payload: []byte(j.Message), Reactions: make([]chat.Reaction, len(j.Reactions)),
	}
	for i, r := range j.Reactions {
		out.Reactions[i] = chat.Reaction(r)
	}
	out.Reactions = chat.NormReactions(out.Reactions)
	var err error
	if out.CreatedAt, err = ParseTime(j.CreatedAt); err != nil {
		return fmt.Errorf("createdAt: %w", err)
	}
	if out.UpdatedAt, err = ParseTime(j.UpdatedAt); err != nil {
		return fmt.Errorf("updatedAt: %w", err)
	}
	if j.DeletedAt != nil {
		t, err := ParseTime(*j.DeletedAt)
		if err != nil {
			return fmt.Errorf("deletedAt: %w", err)
		}
		out.DeletedAt = &t
	}
	*m = out
	return nil
}

// FormatTime writes t as ISO-8601 UTC with milliseconds, the form of every
// time in the JSON API.
func FormatTime(t time.Time) string { return t.UTC().Format(jsonTimeLayout) }

// ParseTime reads an ISO-8601 / RFC 3339 time, with or without fractional
// seconds, such as a history cursor.
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}
