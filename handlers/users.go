package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/wasmchannel/wasmchannel/chat"
)

// profile is what one signed-in user may see of another: the display name
// and avatar that chat shows beside messages, never the email.
type profile struct {
	ID    string  `json:"id"`
	Name  string  `json:"name"`
	Image *string `json:"image"`
}

// user is GET /api/users/:id, so clients can show names for the user ids
// that packets and history carry.
func (s *server) user(c echo.Context) error {
	if _, ok := s.identity(c); !ok {
		return nil
	}
	u, err := s.db.UserByID(c.Request().Context(), c.Param("id"))
	if errors.Is(err, chat.ErrNotFound) {
		return writeError(c, http.StatusNotFound, "USER_NOT_FOUND", "no such user")
	}
	if err != nil {
		s.log.Error("user lookup", "err", err)
		return writeError(c, http.StatusServiceUnavailable, "UNAVAILABLE", "the user could not be read; retry later")
	}
	return c.JSON(http.StatusOK, profile{ID: u.ID, Name: u.Name, Image: u.Image})
}
