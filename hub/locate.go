package hub

import (
	"context"
	"errors"
	"fmt"

	"github.com/wasmchannel/wasmchannel/chat"
)

// Locate finds the message id names for React and Delete: a reference id
// in roomName, or else a server id in any room. An unknown id is an
// ErrNotFound refusal; a store failure is returned wrapped.
func (h *Hub) Locate(ctx context.Context, roomName, id string) (chat.Message, error) {
	if !ValidRoom(roomName) {
		return chat.Message{}, errRoomName
	}
	m, err := h.store.MessageByRef(ctx, roomName, id)
	if errors.Is(err, chat.ErrNotFound) {
		m, err = h.store.MessageByID(ctx, id)
	}
	switch {
	case errors.Is(err, chat.ErrNotFound):
		return chat.Message{}, errNotFound
	case err != nil:
		return chat.Message{}, fmt.Errorf("locate message: %w", err)
	}
	return m, nil
}
