package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

var errNoSuchUser = &Error{Status: http.StatusNotFound, Code: "USER_NOT_FOUND", Message: "no such user"}

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
	if _, err := s.identity(c); err != nil {
		return err
	}
	u, err := s.db.UserByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return notFoundIs(err, errNoSuchUser, "UNAVAILABLE", "the user could not be read; retry later")
	}
	return c.JSON(http.StatusOK, profile{ID: u.ID, Name: u.Name, Image: u.Image})
}
