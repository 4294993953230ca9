package chat

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestNewMessageID(t *testing.T) {
	const n = 10000
	seen := make(map[string]bool, n)
	for range n {
		id := NewMessageID()
		if len(id) != 26 || strings.Trim(id, "0123456789ABCDEFGHJKMNPQRSTVWXYZ") != "" {
			t.Fatalf("id %q: want 26 Crockford base32 characters", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
	a := NewMessageID()
	time.Sleep(2 * time.Millisecond)
	if b := NewMessageID(); a >= b {
		t.Fatalf("ids not ordered by time: %q then %q", a, b)
	}
}

func TestNormalize(t *testing.T) {
	now := time.Date(2024, 10, 27, 12, 0, 0, 123_456_789, time.FixedZone("CET", 3600))
	m := Message{Room: "r", RefID: "a", UserID: "u"}
	if err := m.Normalize(now); err != nil {
		t.Fatal(err)
	}
	want := time.Date(2024, 10, 27, 11, 0, 0, 123_000_000, time.UTC)
	if len(m.ID) != 26 || !m.CreatedAt.Equal(want) || m.CreatedAt.Location() != time.UTC ||
		!m.UpdatedAt.Equal(want) || m.Payload == nil || m.Reactions == nil {
		t.Fatalf("normalized = %+v", m)
	}
	for _, bad := range []Message{
		{RefID: "a", UserID: "u"}, {Room: "r", UserID: "u"}, {Room: "r", RefID: "a"},
		{Room: "r", RefID: "a", UserID: "u", Kind: -1},
	} {
		if err := bad.Normalize(now); !errors.Is(err, ErrInvalid) {
			t.Errorf("Normalize(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestToggleReaction(t *testing.T) {
	var rs []Reaction
	steps := []struct {
		user string
		kind int
		want []Reaction
	}{
		{"u1", 1, []Reaction{{1, 1, []string{"u1"}}}},
		{"u2", 1, []Reaction{{1, 2, []string{"u1", "u2"}}}},
		{"u1", 3, []Reaction{{1, 2, []string{"u1", "u2"}}, {3, 1, []string{"u1"}}}},
		{"u1", 1, []Reaction{{1, 1, []string{"u2"}}, {3, 1, []string{"u1"}}}},
		{"u2", 1, []Reaction{{3, 1, []string{"u1"}}}},
		{"u1", 3, []Reaction{}},
	}
	for i, s := range steps {
		before := fmt.Sprint(rs)
		next := ToggleReaction(rs, s.user, s.kind)
		if fmt.Sprint(rs) != before {
			t.Fatalf("step %d changed its input", i)
		}
		if !reflect.DeepEqual(next, s.want) {
			t.Fatalf("step %d: %v, want %v", i, next, s.want)
		}
		rs = next
	}
}
