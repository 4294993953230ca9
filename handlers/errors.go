// Package handlers holds the Echo routes: auth, messages, the WebSocket
// upgrade, health, metrics and the OpenAPI document.
package handlers

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wasmchannel/wasmchannel/auth"
	"github.com/wasmchannel/wasmchannel/chat"
	"github.com/wasmchannel/wasmchannel/hub"
)

// This file is how an error becomes an HTTP answer. Handlers return errors;
// Echo hands each to render (the server's HTTPErrorHandler), which answers
// {"code","message"} with a status:
//   - an *Error the handler built says all three itself;
//   - a refusal from the hub or auth, or a chat domain error, is looked up
//     by kind in the kinds table (errors.Is, first match wins);
//   - Echo's own errors (404, 405, 413) get their JSON form;
//   - anything else is a bug or an outage: logged, and a 500 without details.

// Error is an answer a handler decided on: the status, a code clients
// switch on and a message they may show. Cause, when set, is logged (for
// 5xx) and never sent.
type Error struct {
	Status  int
	Code    string
	Message string
	// RetryAfter, when positive, is sent as Retry-After (seconds).
	RetryAfter int
	Cause      error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Cause)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Cause }

// apiError is the JSON error body every route answers with, in Better
// Auth's shape so one client-side handler covers all routes.
type apiError struct {
	Code    string `json:"code,omitempty"` // Better Auth leaves it out of a few answers
	Message string `json:"message"`
}

func badRequest(code, message string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: code, Message: message}
}

// unavailable is a 503 for a store or codec that failed; cause is logged,
// and render adds Retry-After.
func unavailable(code, message string, cause error) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: code, Message: message, Cause: cause}
}

// Answers used by several routes.
var (
	errUnauthorized = &Error{Status: http.StatusUnauthorized, Code: "UNAUTHORIZED", Message: "sign in first: no valid session"}
	errInvalidRoom  = badRequest("INVALID_ROOM", "room names are 1-64 characters from [A-Za-z0-9_.-]")
	errInvalidLimit = badRequest("INVALID_LIMIT", "limit must be an integer from 1 to 100")
	errBadBody      = badRequest("BAD_REQUEST", "invalid JSON body")
	errTooLarge     = &Error{Status: http.StatusRequestEntityTooLarge, Code: "PAYLOAD_TOO_LARGE", Message: "request body too large"}
)

// kind is one row of the kinds table. message, when set, replaces the
// error's own text; otherwise the refusal's client-facing text is sent.
type kind struct {
	err        error
	status     int
	code       string
	message    string
	retryAfter int
}

// kinds maps refusals to answers. hub.ErrTooLarge is also a hub.ErrInvalid,
// so it comes first.
var kinds = []kind{
	{err: hub.ErrRateLimited, status: http.StatusTooManyRequests, code: "RATE_LIMITED", retryAfter: 1},
	{err: hub.ErrTooLarge, status: http.StatusRequestEntityTooLarge, code: "PAYLOAD_TOO_LARGE"},
	{err: hub.ErrInvalid, status: http.StatusBadRequest, code: "VALIDATION_ERROR"},
	{err: hub.ErrRoomName, status: http.StatusBadRequest, code: "INVALID_ROOM", message: errInvalidRoom.Message},
	{err: hub.ErrNotFound, status: http.StatusNotFound, code: "MESSAGE_NOT_FOUND", message: "no such message"},
	{err: hub.ErrForbidden, status: http.StatusForbidden, code: "FORBIDDEN", message: "only the author may do that"},
	{err: hub.ErrIDTaken, status: http.StatusConflict, code: "MESSAGE_ID_TAKEN", message: "that messageId is used by another user"},
	{err: hub.ErrTooManyRooms, status: http.StatusTooManyRequests, code: "TOO_MANY_ROOMS"},
	{err: hub.ErrClosed, status: http.StatusServiceUnavailable, code: "SHUTTING_DOWN", message: "the server is shutting down; retry later"},
	{err: hub.ErrNotStored, status: http.StatusServiceUnavailable, code: "NOT_STORED", message: "the server could not store that; retry later"},

	// Better Auth's answers (http-api.md § Auth).
	{err: auth.ErrUserExists, status: http.StatusUnprocessableEntity, code: "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", message: "User already exists. Use another email."},
	{err: auth.ErrInvalidCredentials, status: http.StatusUnauthorized, code: "INVALID_EMAIL_OR_PASSWORD", message: "Invalid email or password"},
	{err: auth.ErrInvalidEmail, status: http.StatusBadRequest, code: "INVALID_EMAIL", message: "Invalid email"},
	{err: auth.ErrPasswordTooShort, status: http.StatusBadRequest, code: "PASSWORD_TOO_SHORT", message: "Password too short"},
	{err: auth.ErrPasswordTooLong, status: http.StatusBadRequest, code: "PASSWORD_TOO_LONG", message: "Password too long"},
	{err: auth.ErrInvalidPassword, status: http.StatusBadRequest, code: "INVALID_PASSWORD", message: "Invalid password"},
	{err: auth.ErrNothingToUpdate, status: http.StatusBadRequest, message: "No fields to update"},
}

// renderer writes errors as answers, logging the causes of 5xx to log.
type renderer struct {
	log *slog.Logger
}

// render writes err as the JSON error answer; it is the server's
// HTTPErrorHandler, so every route's returned error ends here.
func (r renderer) render(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	e := answer(err, c)
	if e.Status >= 500 && e.Cause != nil {
		r.log.Error("http: request failed", "path", c.Path(), "code", e.Code, "err", e.Cause)
	}
	retry := e.RetryAfter
	if retry <= 0 && e.Status == http.StatusServiceUnavailable {
		retry = 1 // every 503 says when to come back (RFC 9110 § 10.2.3)
	}
	if retry > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(retry))
	}
	if strings.HasPrefix(c.Request().URL.Path, "/rpc/") {
		_ = c.JSON(e.Status, orpcError(e))
		return
	}
	_ = c.JSON(e.Status, apiError{Code: e.Code, Message: e.Message})
}

// orpcErrorJSON is oRPC's error body, so that upstream's client (oRPC's
// OpenAPILink) raises the ORPCError it raised against upstream: code is
// oRPC's name for the status, and data keeps our own code.
type orpcErrorJSON struct {
	Defined bool              `json:"defined"`
	Code    string            `json:"code"`
	Status  int               `json:"status"`
	Message string            `json:"message"`
	Data    map[string]string `json:"data"`
}

// orpcCodes are oRPC's common error codes by status.
var orpcCodes = map[int]string{
	http.StatusBadRequest:            "BAD_REQUEST",
	http.StatusUnauthorized:          "UNAUTHORIZED",
	http.StatusForbidden:             "FORBIDDEN",
	http.StatusNotFound:              "NOT_FOUND",
	http.StatusMethodNotAllowed:      "METHOD_NOT_SUPPORTED",
	http.StatusConflict:              "CONFLICT",
	http.StatusRequestEntityTooLarge: "PAYLOAD_TOO_LARGE",
	http.StatusUnsupportedMediaType:  "UNSUPPORTED_MEDIA_TYPE",
	http.StatusUnprocessableEntity:   "UNPROCESSABLE_CONTENT",
	http.StatusTooManyRequests:       "TOO_MANY_REQUESTS",
	http.StatusInternalServerError:   "INTERNAL_SERVER_ERROR",
	http.StatusServiceUnavailable:    "SERVICE_UNAVAILABLE",
}

func orpcError(e *Error) orpcErrorJSON {
	code, ok := orpcCodes[e.Status]
	if !ok {
		code = "INTERNAL_SERVER_ERROR"
	}
	return orpcErrorJSON{Code: code, Status: e.Status, Message: e.Message, Data: map[string]string{"code": e.Code}}
}

// middleware renders the errors of the routes it wraps itself, for route
// groups mounted on an Echo whose error handler is not render (RegisterAuth).
func (r renderer) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := next(c); err != nil {
			r.render(err, c)
		}
		return nil
	}
}

// answer decides status, code and message for err.
func answer(err error, c echo.Context) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var rl *auth.RateLimitError
	if errors.As(err, &rl) {
		secs := seconds(rl.RetryAfter)
		c.Response().Header().Set("X-Retry-After", strconv.Itoa(secs))
		return &Error{Status: http.StatusTooManyRequests, Code: "TOO_MANY_REQUESTS", Message: "Too many requests. Please try again later.", RetryAfter: secs}
	}
	// Password hashing is saturated: nothing was stored, come back soon.
	var busy *auth.BusyError
	if errors.As(err, &busy) {
		return &Error{Status: http.StatusServiceUnavailable, Code: "SERVICE_BUSY", Message: "The server is busy. Please try again shortly.", RetryAfter: seconds(busy.RetryAfter)}
	}
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			msg := k.message
			if msg == "" {
				msg = clientText(err)
			}
			return &Error{Status: k.status, Code: k.code, Message: msg, RetryAfter: k.retryAfter}
		}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errTooLarge
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return echoError(he)
	}
	return &Error{Status: http.StatusInternalServerError, Code: "INTERNAL_SERVER_ERROR", Message: "internal error", Cause: err}
}

// seconds is a Retry-After value: whole seconds, at least 1.
func seconds(d time.Duration) int {
	return max(1, int(d.Round(time.Second)/time.Second))
}

// clientText is a refusal's client-facing text: a *hub.Error's Message.
func clientText(err error) string {
	var he *hub.Error
	if errors.As(err, &he) {
		return he.Message
	}
	return "the request was refused"
}

// echoError gives Echo's own errors (no route, wrong method) their JSON form.
func echoError(he *echo.HTTPError) *Error {
	switch he.Code {
	case http.StatusNotFound:
		return &Error{Status: he.Code, Code: "NOT_FOUND", Message: "no such route"}
	case http.StatusMethodNotAllowed:
		return &Error{Status: he.Code, Code: "METHOD_NOT_ALLOWED", Message: "method not allowed on this route"}
	case http.StatusRequestEntityTooLarge:
		return errTooLarge
	}
	return &Error{Status: he.Code, Code: http.StatusText(he.Code), Message: http.StatusText(he.Code)}
}

// known reports whether render has an answer for err's kind.
func known(err error) bool {
	var e *Error
	var rl *auth.RateLimitError
	var busy *auth.BusyError
	if errors.As(err, &e) || errors.As(err, &rl) || errors.As(err, &busy) {
		return true
	}
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return true
		}
	}
	return false
}

// failure passes a refusal render knows through, and makes any other error
// (a store or codec that failed) the given answer, with err as its cause.
func failure(err error, status int, code, message string) error {
	if known(err) {
		return err
	}
	return &Error{Status: status, Code: code, Message: message, Cause: err}
}

// storeFailure is failure for the routes that change messages.
func storeFailure(err error) error {
	return failure(err, http.StatusServiceUnavailable, "NOT_STORED", "the server could not store that; retry later")
}

// notFoundIs maps chat.ErrNotFound to notFound and any other error (the
// store failed) to a 503 with code and message.
func notFoundIs(err error, notFound *Error, code, message string) error {
	if errors.Is(err, chat.ErrNotFound) {
		return notFound
	}
	return unavailable(code, message, err)
}
