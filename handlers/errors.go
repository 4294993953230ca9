// Package handlers holds the Echo routes: auth, messages, the WebSocket
// upgrade, health, metrics and the OpenAPI document.
package handlers

import (
	"github.com/labstack/echo/v4"
)

// apiError is the JSON error body every route answers with, in Better
// Auth's shape so one client-side handler covers all routes.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError sends {"code","message"} with status; it never fails the request
// a second time, since the body is tiny and already decided.
func writeError(c echo.Context, status int, code, message string) error {
	return c.JSON(status, apiError{Code: code, Message: message})
}
