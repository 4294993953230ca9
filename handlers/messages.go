package handlers

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wasmchannel/wasmchannel/auth"
	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/hub"
)

// History page sizes (http-api.md § Messages).
const (
	defaultLimit = 50
	maxLimit     = 100
)

type historyPage struct {
	Messages []WireMessage `json:"messages"`
	Source   string        `json:"source"`
}

// identity authenticates the request. Only a missing or dead session is a
// 401; a store that cannot be asked is a 503, so a client with a valid
// session retries instead of signing in again.
func (s *server) identity(c echo.Context) (auth.Identity, error) {
	id, err := s.auth.Authenticate(c.Request())
	switch {
	case err == nil:
		return id, nil
	case errors.Is(err, auth.ErrUnauthenticated):
		return auth.Identity{}, errUnauthorized
	}
	return auth.Identity{}, unavailable("UNAVAILABLE", "the session could not be checked; retry later", err)
}

// parseCursor reads an ISO-8601 time or a message reference id.
func parseCursor(s string) (chat.Cursor, error) {
	if s == "" {
		return chat.Cursor{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return chat.Cursor{Before: t}, nil
	}
	if len(s) > 128 {
		return chat.Cursor{}, errInvalidCursor
	}
	return chat.Cursor{BeforeRef: s}, nil
}

var (
	errInvalidCursor = badRequest("INVALID_CURSOR", "cursor must be an ISO-8601 time or a message reference id")
	errUnknownCursor = badRequest("INVALID_CURSOR", "no message with that reference id in this room")
)

// page serves one history page for any of the history routes. With
// refAsID, each message's id is its reference id: upstream's client keys
// history by id and live packets by message_id, and must see one id per
// message (docs/PROTOCOL.md).
func (s *server) page(c echo.Context, room, cursor string, limit int, refAsID bool) error {
	if !hub.ValidRoom(room) {
		return errInvalidRoom
	}
	if limit < 1 || limit > maxLimit {
		return errInvalidLimit
	}
	cur, err := parseCursor(cursor)
	if err != nil {
		return err
	}
	msgs, source, err := s.hub.History(c.Request().Context(), room, cur, limit)
	if err != nil {
		return notFoundIs(err, errUnknownCursor, "HISTORY_UNAVAILABLE", "history could not be read; retry later")
	}
	if refAsID {
		for i := range msgs {
			msgs[i].ID = msgs[i].RefID
		}
	}
	return c.JSON(http.StatusOK, historyPage{Messages: WireMessages(msgs), Source: source})
}

// listMessages is GET /api/messages?room=&cursor=&limit=.
func (s *server) listMessages(c echo.Context) error {
	if _, err := s.identity(c); err != nil {
		return err
	}
	room := c.QueryParam("room")
	if room == "" {
		room = hub.DefaultRoom
	}
	limit := defaultLimit
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return errInvalidLimit
		}
		limit = n
	}
	return s.page(c, room, c.QueryParam("cursor"), limit, false)
}

// rpcMessages is upstream's oRPC call POST /rpc/messages/get on the
// default room. It accepts the plain body and oRPC's {"json": ...} wrapper.
func (s *server) rpcMessages(c echo.Context) error {
	if _, err := s.identity(c); err != nil {
		return err
	}
	var in struct {
		Cursor *string          `json:"cursor"`
		Limit  *json.Number     `json:"limit"`
		JSON   *json.RawMessage `json:"json"`
	}
	if err := bindJSON(c, &in, true); err != nil {
		return err
	}
	if in.JSON != nil {
		in.Cursor, in.Limit = nil, nil
		if err := json.Unmarshal(*in.JSON, &in); err != nil {
			return errBadBody
		}
	}
	limit := defaultLimit
	if in.Limit != nil {
		n, err := strconv.Atoi(in.Limit.String())
		if err != nil {
			return errInvalidLimit
		}
		limit = n
	}
	cursor := ""
	if in.Cursor != nil {
		cursor = *in.Cursor
	}
	return s.page(c, hub.DefaultRoom, cursor, limit, true)
}

// bindJSON decodes the body strictly enough to give clear 400s. An empty
// body is allowed when optional is set.
func bindJSON(c echo.Context, v any, optional bool) error {
	dec := json.NewDecoder(c.Request().Body)
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		if optional && errors.Is(err, io.EOF) {
			return nil
		}
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errTooLarge
		}
		return errBadBody
	}
	return nil
}

// postMessage is POST /api/messages: a message over HTTP, for bots.
func (s *server) postMessage(c echo.Context) error {
	id, err := s.identity(c)
	if err != nil {
		return err
	}
	var in struct {
		Room      string  `json:"room"`
		MessageID string  `json:"messageId"`
		Text      *string `json:"text"`
	}
	if err := bindJSON(c, &in, false); err != nil {
		return err
	}
	if in.Text == nil || *in.Text == "" {
		return badRequest("VALIDATION_ERROR", "[body.text] text is required")
	}
	if in.Room == "" {
		in.Room = hub.DefaultRoom
	}
	m, err := s.hub.Post(c.Request().Context(), in.Room, id.User.ID, in.MessageID, *in.Text)
	if err != nil {
		return storeFailure(err)
	}
	return c.JSON(http.StatusCreated, WireMessage(m))
}

// target resolves :id through the hub to a room and reference id: a
// reference id in ?room= (default room), or a server id anywhere.
func (s *server) target(c echo.Context) (room, ref string, err error) {
	room = c.QueryParam("room")
	if room == "" {
		room = hub.DefaultRoom
	}
	id := c.Param("id")
	// Echo routes by the raw path when the client's escaping differs from
	// Go's default (an id holding ';' or '/' sent as %3B or %2F), and then
	// leaves the parameter escaped.
	if c.Request().URL.RawPath != "" {
		if id, err = url.PathUnescape(id); err != nil {
			return "", "", badRequest("VALIDATION_ERROR", "the message id in the path is not validly escaped")
		}
	}
	m, err := s.hub.Locate(c.Request().Context(), room, id)
	if err != nil {
		return "", "", failure(err, http.StatusServiceUnavailable, "UNAVAILABLE", "the message could not be read; retry later")
	}
	return m.Room, m.RefID, nil
}

// react is PUT /api/messages/:id/react {"kind": 1..4}.
func (s *server) react(c echo.Context) error {
	id, err := s.identity(c)
	if err != nil {
		return err
	}
	var in struct {
		Kind *int `json:"kind"`
	}
	if err := bindJSON(c, &in, false); err != nil {
		return err
	}
	if in.Kind == nil || *in.Kind < 0 || *in.Kind > 4 {
		return badRequest("VALIDATION_ERROR", "[body.kind] kind must be an integer from 0 to 4")
	}
	if *in.Kind == 0 {
		return badRequest("VALIDATION_ERROR", "[body.kind] kind 0 (None) cannot be toggled; use 1 Like, 2 Dislike, 3 Heart or 4 Star")
	}
	room, ref, err := s.target(c)
	if err != nil {
		return err
	}
	m, err := s.hub.React(c.Request().Context(), room, id.User.ID, ref, *in.Kind)
	if err != nil {
		return storeFailure(err)
	}
	return c.JSON(http.StatusOK, WireMessage(m))
}

// deleteMessage is DELETE /api/messages/:id, for the author only.
func (s *server) deleteMessage(c echo.Context) error {
	id, err := s.identity(c)
	if err != nil {
		return err
	}
	room, ref, err := s.target(c)
	if err != nil {
		return err
	}
	m, err := s.hub.Delete(c.Request().Context(), room, id.User.ID, ref)
	if err != nil {
		return storeFailure(err)
	}
	return c.JSON(http.StatusOK, WireMessage(m))
}
