package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wasmchannel/wasmchannel/auth"
	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/hub"
)

// TestRenderKinds: every refusal renders by its kind, not its text; a
// failure that is no refusal never leaks its text.
func TestRenderKinds(t *testing.T) {
	hubErr := func(kind error, msg string) error { return &hub.Error{Kind: kind, Message: msg} }
	storeDown := errors.New("database is locked (secret detail)")
	cases := []struct {
		name       string
		err        error
		status     int
		code, msg  string
		retryAfter string
	}{
		{"rate limited", hubErr(hub.ErrRateLimited, "Rate limit exceeded: 5 messages per second"), 429, "RATE_LIMITED", "Rate limit exceeded: 5 messages per second", "1"},
		{"too large is not merely invalid", hubErr(hub.ErrTooLarge, "Message rejected: too big"), 413, "PAYLOAD_TOO_LARGE", "Message rejected: too big", ""},
		{"invalid", hubErr(hub.ErrInvalid, "Message rejected: empty"), 400, "VALIDATION_ERROR", "Message rejected: empty", ""},
		{"room name", hubErr(hub.ErrRoomName, "anything"), 400, "INVALID_ROOM", errInvalidRoom.Message, ""},
		{"not found", hubErr(hub.ErrNotFound, "x"), 404, "MESSAGE_NOT_FOUND", "no such message", ""},
		{"forbidden", hubErr(hub.ErrForbidden, "x"), 403, "FORBIDDEN", "only the author may do that", ""},
		{"id taken", hubErr(hub.ErrIDTaken, "x"), 409, "MESSAGE_ID_TAKEN", "that messageId is used by another user", ""},
		{"too many rooms", hubErr(hub.ErrTooManyRooms, "Too many rooms: 32"), 429, "TOO_MANY_ROOMS", "Too many rooms: 32", ""},
		{"closed", hubErr(hub.ErrClosed, "x"), 503, "SHUTTING_DOWN", "the server is shutting down; retry later", "1"},
		{"not stored", hubErr(hub.ErrNotStored, "x"), 503, "NOT_STORED", "the server could not store that; retry later", "1"},
		{"wrapped refusal", fmt.Errorf("post: %w", hubErr(hub.ErrForbidden, "x")), 403, "FORBIDDEN", "only the author may do that", ""},
		{"store failure on a write", storeFailure(storeDown), 503, "NOT_STORED", "the server could not store that; retry later", "1"},
		{"refusal through storeFailure", storeFailure(hubErr(hub.ErrIDTaken, "x")), 409, "MESSAGE_ID_TAKEN", "that messageId is used by another user", ""},
		{"lookup not found", notFoundIs(fmt.Errorf("get: %w", chat.ErrNotFound), errNoSuchUser, "UNAVAILABLE", "down"), 404, "USER_NOT_FOUND", "no such user", ""},
		{"lookup failure", notFoundIs(storeDown, errNoSuchUser, "UNAVAILABLE", "the user could not be read; retry later"), 503, "UNAVAILABLE", "the user could not be read; retry later", "1"},
		{"auth refusal", auth.ErrInvalidCredentials, 401, "INVALID_EMAIL_OR_PASSWORD", "Invalid email or password", ""},
		{"auth rate limit", &auth.RateLimitError{RetryAfter: 90 * time.Second}, 429, "TOO_MANY_REQUESTS", "Too many requests. Please try again later.", "90"},
		{"hashing busy", fmt.Errorf("sign up: %w", &auth.BusyError{RetryAfter: 2 * time.Second}), 503, "SERVICE_BUSY", "The server is busy. Please try again shortly.", "2"},
		{"busy through authFailure", authFailure(&auth.BusyError{RetryAfter: time.Second}), 503, "SERVICE_BUSY", "The server is busy. Please try again shortly.", "1"},
		{"invalid password", auth.ErrInvalidPassword, 400, "INVALID_PASSWORD", "Invalid password", ""},
		{"auth failure", authFailure(storeDown), 503, "SERVICE_UNAVAILABLE", "The account store is unavailable. Please try again shortly.", "1"},
		{"unknown", storeDown, 500, "INTERNAL_SERVER_ERROR", "internal error", ""},
		{"echo 404", echo.ErrNotFound, 404, "NOT_FOUND", "no such route", ""},
		{"body too large", &http.MaxBytesError{Limit: 1}, 413, "PAYLOAD_TOO_LARGE", "request body too large", ""},
	}
	r := renderer{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	e := echo.New()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			c := e.NewContext(httptest.NewRequest("GET", "/api/messages", nil), rec)
			r.render(tc.err, c)
			var body apiError
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if rec.Code != tc.status || body.Code != tc.code || body.Message != tc.msg || rec.Header().Get("Retry-After") != tc.retryAfter {
				t.Fatalf("got %d %+v Retry-After %q; want %d %s %q %q", rec.Code, body, rec.Header().Get("Retry-After"), tc.status, tc.code, tc.msg, tc.retryAfter)
			}
		})
	}
}
