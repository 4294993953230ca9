package handlers

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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

// identity authenticates the request or answers 401 itself.
func (s *server) identity(c echo.Context) (auth.Identity, bool) {
	id, err := s.auth.Authenticate(c.Request())
	if err != nil {
		_ = writeError(c, http.StatusUnauthorized, "UNAUTHORIZED", "sign in first: no valid session")
		return auth.Identity{}, false
	}
	return id, true
}

// parseCursor reads an ISO-8601 time or a message reference id.
func parseCursor(s string) (chat.Cursor, bool) {
	if s == "" {
		return chat.Cursor{}, true
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return chat.Cursor{Before: t}, true
	}
	if len(s) > 128 {
		return chat.Cursor{}, false
	}
	return chat.Cursor{BeforeRef: s}, true
}

// page serves one history page for any of the history routes.
func (s *server) page(c echo.Context, room, cursor string, limit int) error {
	if !hub.ValidRoom(room) {
		return writeError(c, http.StatusBadRequest, "INVALID_ROOM", "room names are 1-64 characters from [A-Za-z0-9_.-]")
	}
	if limit < 1 || limit > maxLimit {
		return writeError(c, http.StatusBadRequest, "INVALID_LIMIT", "limit must be an integer from 1 to 100")
	}
	cur, ok := parseCursor(cursor)
	if !ok {
		return writeError(c, http.StatusBadRequest, "INVALID_CURSOR", "cursor must be an ISO-8601 time or a message reference id")
	}
	msgs, source, err := s.hub.History(c.Request().Context(), room, cur, limit)
	if errors.Is(err, chat.ErrNotFound) {
		return writeError(c, http.StatusBadRequest, "INVALID_CURSOR", "no message with that reference id in this room")
	}
	if err != nil {
		s.log.Error("history", "room", room, "err", err)
		return writeError(c, http.StatusServiceUnavailable, "HISTORY_UNAVAILABLE", "history could not be read; retry later")
	}
	return c.JSON(http.StatusOK, historyPage{Messages: WireMessages(msgs), Source: source})
}

// listMessages is GET /api/messages?room=&cursor=&limit=.
func (s *server) listMessages(c echo.Context) error {
	if _, ok := s.identity(c); !ok {
		return nil
	}
	room := c.QueryParam("room")
	if room == "" {
		room = hub.DefaultRoom
	}
	limit := defaultLimit
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return writeError(c, http.StatusBadRequest, "INVALID_LIMIT", "limit must be an integer from 1 to 100")
		}
		limit = n
	}
	return s.page(c, room, c.QueryParam("cursor"), limit)
}

// rpcMessages is upstream's oRPC call POST /rpc/messages/get on the
// default room. It accepts the plain body and oRPC's {"json": ...} wrapper.
func (s *server) rpcMessages(c echo.Context) error {
	if _, ok := s.identity(c); !ok {
		return nil
	}
	var in struct {
		Cursor *string          `json:"cursor"`
		Limit  *json.Number     `json:"limit"`
		JSON   *json.RawMessage `json:"json"`
	}
	if !bindJSON(c, &in, true) {
		return nil
	}
	if in.JSON != nil {
		in.Cursor, in.Limit = nil, nil
		if err := json.Unmarshal(*in.JSON, &in); err != nil {
			return writeError(c, http.StatusBadRequest, "BAD_REQUEST", "invalid JSON body")
		}
	}
	limit := defaultLimit
	if in.Limit != nil {
		n, err := strconv.Atoi(in.Limit.String())
		if err != nil {
			return writeError(c, http.StatusBadRequest, "INVALID_LIMIT", "limit must be an integer from 1 to 100")
		}
		limit = n
	}
	cursor := ""
	if in.Cursor != nil {
		cursor = *in.Cursor
	}
	return s.page(c, hub.DefaultRoom, cursor, limit)
}

// bindJSON decodes the body strictly enough to give clear 400s. An empty
// body is allowed when optional is set.
func bindJSON(c echo.Context, v any, optional bool) bool {
	dec := json.NewDecoder(c.Request().Body)
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		if optional && errors.Is(err, io.EOF) {
			return true
		}
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			_ = writeError(c, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", "request body too large")
			return false
		}
		_ = writeError(c, http.StatusBadRequest, "BAD_REQUEST", "invalid JSON body")
		return false
	}
	return true
}

// postMessage is POST /api/messages: a message over HTTP, for bots.
func (s *server) postMessage(c echo.Context) error {
	id, ok := s.identity(c)
	if !ok {
		return nil
	}
	var in struct {
		Room      string  `json:"room"`
		MessageID string  `json:"messageId"`
		Text      *string `json:"text"`
	}
	if !bindJSON(c, &in, false) {
		return nil
	}
	if in.Text == nil || *in.Text == "" {
		return writeError(c, http.StatusBadRequest, "VALIDATION_ERROR", "[body.text] text is required")
	}
	if in.Room == "" {
		in.Room = hub.DefaultRoom
	}
	m, err := s.hub.Post(c.Request().Context(), in.Room, id.User.ID, in.MessageID, *in.Text)
	if err != nil {
		return s.hubError(c, err)
	}
	return c.JSON(http.StatusCreated, WireMessage(m))
}

// target resolves :id to a room and reference id: a reference id in ?room=
// (default room), or a server id anywhere.
func (s *server) target(c echo.Context) (room, ref string, ok bool) {
	room = c.QueryParam("room")
	if room == "" {
		room = hub.DefaultRoom
	}
	ref = c.Param("id")
	// Echo routes by the raw path when the client's escaping differs from
	// Go's default (an id holding ';' or '/' sent as %3B or %2F), and then
	// leaves the parameter escaped.
	if c.Request().URL.RawPath != "" {
		var err error
		if ref, err = url.PathUnescape(ref); err != nil {
			_ = writeError(c, http.StatusBadRequest, "VALIDATION_ERROR", "the message id in the path is not validly escaped")
			return "", "", false
		}
	}
	if !hub.ValidRoom(room) {
		_ = writeError(c, http.StatusBadRequest, "INVALID_ROOM", "room names are 1-64 characters from [A-Za-z0-9_.-]")
		return "", "", false
	}
	if _, err := s.db.MessageByRef(c.Request().Context(), room, ref); err == nil {
		return room, ref, true
	}
	if m, err := s.db.MessageByID(c.Request().Context(), ref); err == nil {
		return m.Room, m.RefID, true
	}
	_ = writeError(c, http.StatusNotFound, "MESSAGE_NOT_FOUND", "no such message")
	return "", "", false
}

// react is PUT /api/messages/:id/react {"kind": 1..4}.
func (s *server) react(c echo.Context) error {
	id, ok := s.identity(c)
	if !ok {
		return nil
	}
	var in struct {
		Kind *int `json:"kind"`
	}
	if !bindJSON(c, &in, false) {
		return nil
	}
	if in.Kind == nil || *in.Kind < 0 || *in.Kind > 4 {
		return writeError(c, http.StatusBadRequest, "VALIDATION_ERROR", "[body.kind] kind must be an integer from 0 to 4")
	}
	if *in.Kind == 0 {
		return writeError(c, http.StatusBadRequest, "VALIDATION_ERROR", "[body.kind] kind 0 (None) cannot be toggled; use 1 Like, 2 Dislike, 3 Heart or 4 Star")
	}
	room, ref, ok := s.target(c)
	if !ok {
		return nil
	}
	m, err := s.hub.React(c.Request().Context(), room, id.User.ID, ref, *in.Kind)
	if err != nil {
		return s.hubError(c, err)
	}
	return c.JSON(http.StatusOK, WireMessage(m))
}

// deleteMessage is DELETE /api/messages/:id, for the author only.
func (s *server) deleteMessage(c echo.Context) error {
	id, ok := s.identity(c)
	if !ok {
		return nil
	}
	room, ref, ok := s.target(c)
	if !ok {
		return nil
	}
	m, err := s.hub.Delete(c.Request().Context(), room, id.User.ID, ref)
	if err != nil {
		return s.hubError(c, err)
	}
	return c.JSON(http.StatusOK, WireMessage(m))
}

// hubError maps the hub's errors to statuses and codes.
func (s *server) hubError(c echo.Context, err error) error {
	msg := err.Error()
	if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "hub: ") {
		msg = msg[i+2:]
	}
	switch {
	case errors.Is(err, hub.ErrRateLimited):
		c.Response().Header().Set("Retry-After", "1")
		return writeError(c, http.StatusTooManyRequests, "RATE_LIMITED", msg)
	case errors.Is(err, hub.ErrInvalid):
		if strings.Contains(msg, "too large") {
			return writeError(c, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", msg)
		}
		return writeError(c, http.StatusBadRequest, "VALIDATION_ERROR", msg)
	case errors.Is(err, hub.ErrRoomName):
		return writeError(c, http.StatusBadRequest, "INVALID_ROOM", "room names are 1-64 characters from [A-Za-z0-9_.-]")
	case errors.Is(err, hub.ErrNotFound):
		return writeError(c, http.StatusNotFound, "MESSAGE_NOT_FOUND", "no such message")
	case errors.Is(err, hub.ErrForbidden):
		return writeError(c, http.StatusForbidden, "FORBIDDEN", "only the author may do that")
	case errors.Is(err, hub.ErrIDTaken):
		return writeError(c, http.StatusConflict, "MESSAGE_ID_TAKEN", "that messageId is used by another user")
	case errors.Is(err, hub.ErrClosed):
		return writeError(c, http.StatusServiceUnavailable, "SHUTTING_DOWN", "the server is shutting down; retry later")
	default:
		s.log.Error("hub request failed", "err", err)
		return writeError(c, http.StatusServiceUnavailable, "NOT_STORED", "the server could not store that; retry later")
	}
}
