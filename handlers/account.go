package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/wasmchannel/wasmchannel/auth"
	"github.com/wasmchannel/wasmchannel/chat"
)

// Better Auth's session and account routes (issue 12 § 5), in the shapes
// auth/account.go writes down: list and revoke sessions, change the
// password, update the profile. Each needs a session; the POSTs pass the
// global Origin check like every cookie-carrying POST.

// errAuthUnauthorized is Better Auth's 401 on its own routes.
var errAuthUnauthorized = &Error{Status: http.StatusUnauthorized, Code: "UNAUTHORIZED", Message: "Unauthorized"}

// statusJSON is Better Auth's {"status":true}.
type statusJSON struct {
	Status bool `json:"status"`
}

type changePasswordJSON struct {
	Token *string  `json:"token"`
	User  userJSON `json:"user"`
}

// session authenticates an account route, dropping the cookies of a dead
// session as Better Auth does.
func (h *authRoutes) session(c echo.Context) (auth.Identity, error) {
	id, err := h.svc.Authenticate(c.Request())
	switch {
	case errors.Is(err, auth.ErrSessionGone):
		h.svc.ClearSessionCookies(c.Response())
		return id, errAuthUnauthorized
	case errors.Is(err, auth.ErrUnauthenticated):
		return id, errAuthUnauthorized
	case err != nil:
		return id, authFailure(err)
	}
	if id.Refreshed {
		h.svc.SetSessionCookie(c.Response(), id.Token, !id.DontRemember)
	}
	return id, nil
}

// listSessions is GET /api/auth/list-sessions.
func (h *authRoutes) listSessions(c echo.Context) error {
	id, err := h.session(c)
	if err != nil {
		return err
	}
	ss, err := h.svc.ListSessions(c.Request().Context(), id)
	if err != nil {
		return authFailure(err)
	}
	out := make([]sessionJSON, len(ss))
	for i, s := range ss {
		out[i] = toSessionJSON(s.Session, s.Token)
	}
	return c.JSON(http.StatusOK, out)
}

// revokeSession is POST /api/auth/revoke-session {token}.
func (h *authRoutes) revokeSession(c echo.Context) error {
	id, err := h.session(c)
	if err != nil {
		return err
	}
	b, err := readAuthBody(c, accountBody)
	if err != nil {
		return bodyError(err)
	}
	token := b.str("token", true)
	if b.invalid() {
		return badRequest("VALIDATION_ERROR", b.message())
	}
	self, err := h.svc.RevokeSession(c.Request().Context(), id, token.v)
	if err != nil {
		return authFailure(err)
	}
	if self {
		h.svc.ClearSessionCookies(c.Response())
	}
	return c.JSON(http.StatusOK, statusJSON{Status: true})
}

// revokeSessions is POST /api/auth/revoke-sessions: every session, this
// one included.
func (h *authRoutes) revokeSessions(c echo.Context) error {
	id, err := h.session(c)
	if err != nil {
		return err
	}
	if err := h.svc.RevokeSessions(c.Request().Context(), id); err != nil {
		return authFailure(err)
	}
	h.svc.ClearSessionCookies(c.Response())
	return c.JSON(http.StatusOK, statusJSON{Status: true})
}

// revokeOtherSessions is POST /api/auth/revoke-other-sessions.
func (h *authRoutes) revokeOtherSessions(c echo.Context) error {
	id, err := h.session(c)
	if err != nil {
		return err
	}
	if err := h.svc.RevokeOtherSessions(c.Request().Context(), id); err != nil {
		return authFailure(err)
	}
	return c.JSON(http.StatusOK, statusJSON{Status: true})
}

// changePassword is POST /api/auth/change-password {currentPassword,
// newPassword, revokeOtherSessions?}.
func (h *authRoutes) changePassword(c echo.Context) error {
	id, err := h.session(c)
	if err != nil {
		return err
	}
	b, err := readAuthBody(c, accountBody)
	if err != nil {
		return bodyError(err)
	}
	current := b.str("currentPassword", true)
	next := b.str("newPassword", true)
	revoke := b.boolean("revokeOtherSessions")
	if b.invalid() {
		return badRequest("VALIDATION_ERROR", b.message())
	}
	u, iss, err := h.svc.ChangePassword(c.Request(), id, auth.ChangePasswordInput{
		CurrentPassword: current.v, NewPassword: next.v, RevokeOtherSessions: revoke.ok && revoke.v,
	})
	if err != nil {
		return authFailure(err)
	}
	out := changePasswordJSON{User: toUserJSON(u)}
	if iss != nil {
		h.svc.SetSessionCookie(c.Response(), iss.Token, iss.Remember)
		out.Token = &iss.Token
	}
	return c.JSON(http.StatusOK, out)
}

// updateUser is POST /api/auth/update-user {name?, image?}; image null
// clears the avatar, and the email cannot change here.
func (h *authRoutes) updateUser(c echo.Context) error {
	id, err := h.session(c)
	if err != nil {
		return err
	}
	b, err := readAuthBody(c, accountBody)
	if err != nil {
		return bodyError(err)
	}
	if b.notObject() {
		return badRequest("VALIDATION_ERROR", b.message())
	}
	if _, ok := b.fields["email"]; ok {
		return badRequest("EMAIL_CAN_NOT_BE_UPDATED", "Email can not be updated")
	}
	var ch chat.UserChange
	if _, ok := b.fields["name"]; ok {
		if name := b.str("name", true); name.ok {
			ch.Name = &name.v
		}
	}
	if raw, ok := b.fields["image"]; ok {
		if strings.TrimSpace(string(raw)) == "null" {
			ch.SetImage = true
		} else if img := b.str("image", true); img.ok {
			ch.Image, ch.SetImage = &img.v, true
		}
	}
	if b.invalid() {
		return badRequest("VALIDATION_ERROR", b.message())
	}
	if _, err := h.svc.UpdateUser(c.Request().Context(), id, ch); err != nil {
		return authFailure(err)
	}
	h.svc.SetSessionCookie(c.Response(), id.Token, !id.DontRemember)
	return c.JSON(http.StatusOK, statusJSON{Status: true})
}

// accountBody: the account routes take JSON only.
var accountBody = bodyRules{}
